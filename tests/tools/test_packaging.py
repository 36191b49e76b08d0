"""The plugin as a user installs it: a wheel of the working tree in a directory
of its own, then MMSeg's own packaged ``tools/train.py`` with a plain MMSeg
config that only adds ``custom_imports`` and an AutoSegLoss."""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import zipfile

import mmseg
import pytest

from conftest import REPO, subprocess_env

pytestmark = pytest.mark.slow


def _version() -> str:
    ns = {}
    with open(osp.join(REPO, 'mmseg_autoloss', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


def _copy_tree(dst: str) -> None:
    """The files git would check out (tracked and new, not ignored): a clean
    clone of the working tree, without .venv, build/ or egg-info."""
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split('\n')
    for rel in filter(None, files):
        src = osp.join(REPO, rel)
        if osp.isfile(src):
            os.makedirs(osp.dirname(osp.join(dst, rel)), exist_ok=True)
            shutil.copy2(src, osp.join(dst, rel))


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """``pip wheel`` of a clean copy, installed with ``pip install --no-deps --target``."""
    tmp = tmp_path_factory.mktemp('pkg')
    src, dist, site = str(tmp / 'src'), str(tmp / 'dist'), str(tmp / 'site')
    _copy_tree(src)
    env = subprocess_env()
    env.pop('PYTHONPATH')
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '--no-input']
    proc = subprocess.run(pip + ['wheel', '--no-deps', '--no-build-isolation', '-w', dist, src],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    wheels = [f for f in os.listdir(dist) if f.endswith('.whl')]
    assert len(wheels) == 1, wheels
    wheel = osp.join(dist, wheels[0])
    proc = subprocess.run(pip + ['install', '--no-deps', '--no-index', '--target', site, wheel],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return dict(wheel=wheel, site=site, tmp=tmp)


def test_wheel_metadata(installed):
    with zipfile.ZipFile(installed['wheel']) as z:
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith('.dist-info/METADATA'))
        meta = z.read(meta_name).decode()
    assert re.search(rf'^Version: {re.escape(_version())}$', meta, re.M)
    requires = re.findall(r'^Requires-Dist: (.*)$', meta, re.M)
    plain = {re.split(r'[<>=!; ]', r, 1)[0] for r in requires if 'extra ==' not in r}
    assert {'mmsegmentation', 'mmengine', 'scipy', 'matplotlib', 'numpy'} <= plain
    assert 'mmcv' not in plain and 'torch' not in plain  # the user's, as in OpenMMLab
    mmseg_req = next(r for r in requires if r.startswith('mmsegmentation'))
    assert '>=1.0' in mmseg_req and '<1.3' in mmseg_req
    assert {'optuna', 'tests'} <= set(re.findall(r'^Provides-Extra: (.*)$', meta, re.M))
    assert any('extra == "optuna"' in r and r.startswith('optuna') for r in requires)
    assert re.search(r'^Requires-Python: >=3\.\d+$', meta, re.M)
    assert any(n.endswith('.dist-info/LICENSE') for n in names)
    assert 'mmseg_autoloss/losses/auto_seg_loss.py' in names
    assert any(n.startswith('mmseg_autoloss/.mim/configs/_base_/') for n in names)
    assert 'mmseg_autoloss/.mim/tools/train.py' in names
    assert not any(n.startswith(('tests/', 'benchmarks/')) for n in names)


def test_this_mmseg_environment_meets_every_requirement(installed, tmp_path):
    """``pip install <wheel>`` with its dependencies needs nothing but the plugin here
    (offline: a missing or out-of-range requirement fails to resolve)."""
    env = subprocess_env()
    env.pop('PYTHONPATH')
    proc = subprocess.run([sys.executable, '-m', 'pip', '--disable-pip-version-check',
                           'install', '--dry-run', '--no-index', installed['wheel']],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    would = [line for line in proc.stdout.splitlines() if line.startswith('Would install')]
    assert would == [f'Would install mmseg_autoloss-{_version()}'], proc.stdout[-2000:]


def test_mmseg_own_train_script_trains_autoseg_loss_from_the_wheel(installed, synthetic_root):
    site, tmp = installed['site'], installed['tmp']
    env = subprocess_env()
    env['PYTHONPATH'] = site  # the installed copy, not the checkout
    run_dir = str(tmp / 'run')
    os.makedirs(run_dir)
    where = subprocess.run([sys.executable, '-c', 'import mmseg_autoloss as m, sys; '
                            'print(m.__file__, m.__version__)'],
                           cwd=run_dir, env=env, capture_output=True, text=True, timeout=300)
    assert where.returncode == 0, where.stderr[-3000:]
    path, version = where.stdout.split()
    assert path.startswith(site + os.sep) and version == _version(), where.stdout

    classes = tuple(f'c{i}' for i in range(6))
    cfg = osp.join(run_dir, 'deeplabv3plus_autoseg_plain.py')
    with open(cfg, 'w') as f:
        f.write(f"""_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py',
          'mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmseg_autoloss'], allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None, data_preprocessor=dict(size=(64, 64)),
    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=128, channels=32, c1_in_channels=16, c1_channels=8,
                     num_classes=6, norm_cfg=norm_cfg,
                     loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                      preset='voc_miou')),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes=6, norm_cfg=norm_cfg))
data = dict(type='BaseSegDataset', data_root={synthetic_root!r}, img_suffix='.png',
            seg_map_suffix='.png', metainfo=dict(classes={classes!r}))
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler'),
    dataset=dict(data, data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
                 pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler'),
    dataset=dict(data, data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
                 pipeline=train_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(type='LoggerHook', interval=2),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4))
""")
    mmseg_train = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(mmseg_train), 'the mmsegmentation wheel ships tools/train.py in .mim'
    proc = subprocess.run([sys.executable, mmseg_train, cfg, '--work-dir',
                           osp.join(run_dir, 'wd')], cwd=run_dir, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(r'Iter\(train\) \[4/4\].*decode\.loss_autoseg: \d', out), out[-3000:]
    assert re.search(r'Iter\(val\).*mIoU: \d+\.\d+', out), out[-2000:]
