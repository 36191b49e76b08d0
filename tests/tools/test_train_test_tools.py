"""tools/train.py, tools/test.py and MMSeg's own train script, run for real."""
import json
import os.path as osp
import re
import subprocess
import sys

import mmseg
import pytest

from conftest import TORCHRUN, CONFIGS, REPO, subprocess_env as _env

pytestmark = pytest.mark.slow
BASELINE = osp.join(CONFIGS, 'baseline', 'deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py')
RETRAIN_CE = osp.join(CONFIGS, 'retrain', 'deeplabv3plus_r18-tiny_ce_1xb8-400it_synthetic-64x64.py')


def _run(cmd, cwd=REPO, timeout=300):
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _opts(root, iters, ckpt_every):
    return ['--cfg-options', *[f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val', 'test')],
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={ckpt_every}', 'default_hooks.logger.interval=2',
            'train_dataloader.batch_size=4', f'param_scheduler.0.end={iters}']


def test_mmseg_own_train_script_with_custom_imports(synthetic_root, tmp_path):
    """A plain MMSeg config plus custom_imports, through mmseg's packaged tools/train.py."""
    cfg = tmp_path / 'plain_mmseg.py'
    cfg.write_text(
        "_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py', 'mmseg::_base_/default_runtime.py',\n"
        f"    '{osp.join(CONFIGS, '_base_/datasets/synthetic_shapes.py')}',\n"
        f"    '{osp.join(CONFIGS, '_base_/schedules/schedule_400it.py')}']\n"
        "custom_imports = dict(imports=['mmseg_autoloss'], allow_failed_imports=False)\n"
        "norm_cfg = dict(type='BN', requires_grad=True)\n"
        "model = dict(pretrained=None, data_preprocessor=dict(size=(64, 64)),\n"
        "    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),\n"
        "    decode_head=dict(in_channels=128, channels=32, c1_in_channels=16, c1_channels=8,\n"
        "                     num_classes=6, norm_cfg=norm_cfg),\n"
        "    auxiliary_head=dict(in_channels=64, channels=16, num_classes=6, norm_cfg=norm_cfg))\n")
    mmseg_train = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    out = _run([sys.executable, mmseg_train, str(cfg), '--work-dir', str(tmp_path / 'wd'),
                *_opts(synthetic_root, 6, 6)])
    assert re.search(r'Iter\(val\).*mIoU: \d+\.\d+', out), out[-2000:]


def test_train_checkpoint_resume_and_test(synthetic_root, tmp_path):
    wd = str(tmp_path / 'wd')
    _run([sys.executable, 'tools/train.py', BASELINE, '--work-dir', wd, *_opts(synthetic_root, 4, 4)])
    assert osp.isfile(osp.join(wd, 'iter_4.pth'))
    out = _run([sys.executable, 'tools/train.py', BASELINE, '--work-dir', wd, '--resume',
                *_opts(synthetic_root, 8, 4)])
    assert 'resumed epoch: 0, iter: 4' in out, out[-3000:]
    assert 'Iter(train) [8/8]' in out and 'Iter(train) [2/8]' not in out
    # the CE retrain config: this model with SegMetric and FinalMetricsHook;
    # testing needs no training data (the hook must not build the train loop)
    out = _run([sys.executable, 'tools/test.py', RETRAIN_CE, osp.join(wd, 'iter_8.pth'),
                '--work-dir', wd, '--cfg-options',
                f'test_dataloader.dataset.data_root={synthetic_root}',
                f'train_dataloader.dataset.data_root={tmp_path / "no_train_data"}'])
    assert re.search(r'Iter\(test\).*mIoU: \d+\.\d+', out), out[-2000:]
    with open(osp.join(wd, 'test_final_metrics.json')) as f:
        tested = json.load(f)
    assert tested['iter'] == 8 and 'mIoU' in tested['metrics']  # the checkpoint's iteration
    # the test metrics FinalMetricsHook wrote, as tools/compare_runs.py reads them
    out = _run([sys.executable, 'tools/compare_runs.py', '--baseline', wd, '--candidate', wd,
                '--metrics', 'mIoU', 'BF1'])
    assert re.search(r'\| mIoU \| (\d+\.\d+) ± 0\.00 \| \1 ± 0\.00 \| \+0\.00 \|', out), out
    assert 'Fewer than 2 runs in a group' in out


@TORCHRUN
def test_torchrun_two_cpu_processes_gloo(synthetic_root, tmp_path):
    wd = str(tmp_path / 'wd')
    out = _run([sys.executable, '-m', 'torch.distributed.run', '--standalone',
                '--nproc_per_node=2', 'tools/train.py', BASELINE, '--launcher', 'pytorch',
                '--work-dir', wd, *_opts(synthetic_root, 4, 4)])
    assert 'world_size: 2' in out or 'Distributed launcher: pytorch' in out, out[-3000:]
    assert osp.isfile(osp.join(wd, 'iter_4.pth'))
