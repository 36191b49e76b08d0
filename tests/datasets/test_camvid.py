"""CamVid: the converter (download layout -> MMSeg layout), the dataset and its
configs, on a small fixture written in the download's own layout (prefixed
list files, a test split, 480x360 frames)."""
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import mmseg
import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS

from conftest import CAMVID_FRAMES as FRAMES
from conftest import CONFIGS, REPO, subprocess_env, write_camvid_download
from mmseg_autoloss.datasets.camvid import CLASSES

sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
from camvid import CamVidError, convert, main  # noqa: E402

@pytest.fixture(scope='module')
def download(tmp_path_factory):
    return write_camvid_download(str(tmp_path_factory.mktemp('camvid_download')))


@pytest.fixture(scope='module')
def converted(download, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('camvid_half'))
    counts = convert(download, out, scale=0.5)
    return out, counts


def test_converter_layout_sizes_labels_and_selection_lists(download, converted):
    out, counts = converted
    assert counts == dict(train=6, val=2, test=2, select_train=4, select_holdout=2)
    for split, names in FRAMES.items():
        for name in names:
            img = cv2.imread(osp.join(out, 'img_dir', split, name + '.png'))
            label = cv2.imread(osp.join(out, 'ann_dir', split, name + '.png'), cv2.IMREAD_UNCHANGED)
            assert img.shape == (180, 240, 3) and label.shape == (180, 240)
            assert set(np.unique(label)) <= set(range(len(CLASSES))) | {255}
            src = cv2.imread(osp.join(download, f'{split}annot', name + '.png'),
                             cv2.IMREAD_UNCHANGED)
            # nearest: every label is a source label at the matching place, void -> 255
            expect = np.where(src == 11, 255, src)[::2, ::2]
            assert (label == expect).mean() > 0.95
            # area (box) filter: the mean of each 2x2 block
            src_img = cv2.imread(osp.join(download, split, name + '.png')).astype(float)
            box = src_img.reshape(180, 2, 240, 2, 3).mean(axis=(1, 3))
            assert np.abs(img - box).max() <= 1
    with open(osp.join(out, 'splits', 'select_holdout.txt')) as f:
        assert f.read().split() == ['0006R0_f01230', '0006R0_f01260']
    with open(osp.join(out, 'splits', 'select_train.txt')) as f:
        held = f.read().split()
    assert len(held) == 4 and not any(n.startswith('0006R0') for n in held)


def _dataset(config, data_root, loader):
    cfg = Config.fromfile(osp.join(CONFIGS, '_base_', 'datasets', config))
    ds_cfg = cfg[f'{loader}_dataloader'].dataset
    ds_cfg.data_root = data_root
    return DATASETS.build(ds_cfg)


def test_configs_load_the_converted_splits(converted):
    out, _ = converted
    sizes = {loader: len(_dataset('camvid.py', out, loader)) for loader in ('train', 'val', 'test')}
    assert sizes == dict(train=6, val=2, test=2)
    ds = _dataset('camvid.py', out, 'train')
    assert ds.metainfo['classes'] == CLASSES and len(ds.metainfo['palette']) == 11
    sample = ds[0]
    gt = sample['data_samples'].gt_sem_seg.data
    assert gt.shape[-2:] == (128, 128)  # the CPU setting's crops
    assert set(gt.unique().tolist()) <= set(range(11)) | {255}
    # the selection split: train minus 0006R0 / 0006R0 / CamVid val
    sel = {loader: _dataset('camvid_select.py', out, loader) for loader in ('train', 'val', 'test')}
    names = {k: sorted(osp.basename(d['img_path'])[:-4] for d in v.load_data_list())
             for k, v in sel.items()}
    assert names['val'] == ['0006R0_f01230', '0006R0_f01260']
    assert len(names['train']) == 4 and not set(names['train']) & set(names['val'])
    assert names['test'] == FRAMES['val']


def test_full_size_config_reads_an_unscaled_conversion(download, tmp_path):
    out = str(tmp_path / 'camvid_full')
    assert main([download, '-o', out]) == 0
    ds = _dataset('camvid_480x360.py', out, 'val')
    assert len(ds) == 2
    assert ds[0]['data_samples'].gt_sem_seg.data.shape[-2:] == (360, 480)


def _break(download, tmp_path, what):
    """A copy of the download with one defect."""
    import shutil
    src = str(tmp_path / what / 'CamVid')
    shutil.copytree(download, src)
    name = FRAMES['train'][1]
    if what == 'colour_release':
        os.makedirs(osp.join(src, 'LabeledApproved_full'))
    elif what == 'no_val':
        shutil.rmtree(osp.join(src, 'val'))
        os.remove(osp.join(src, 'val.txt'))
    elif what == 'label_12':
        path = osp.join(src, 'trainannot', name + '.png')
        label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        label[5, 5] = 12
        cv2.imwrite(path, label)
    elif what == 'no_label':
        os.remove(osp.join(src, 'trainannot', name + '.png'))
    elif what == 'bad_png':
        with open(osp.join(src, 'train', name + '.png'), 'wb') as f:
            f.write(b'\x89PNG not really')
    elif what == 'colour_label':
        path = osp.join(src, 'trainannot', name + '.png')
        cv2.imwrite(path, cv2.imread(path))
    return src, name


@pytest.mark.parametrize('what, pattern', [
    ('colour_release', r"LabeledApproved_full.*11-class 'CamVid/' folder"),
    ('no_val', r"no 'val' split"),
    ('label_12', r"trainannot/{name}\.png.*value\(s\) \[12\] above 11"),
    ('no_label', r"trainannot/{name}\.png' does not exist"),
    ('bad_png', r"cannot read image .*train/{name}\.png"),
    ('colour_label', r"trainannot/{name}\.png' has 3 channels.*32-class"),
])
def test_bad_input_names_the_file_and_value(download, tmp_path, capsys, what, pattern):
    src, name = _break(download, tmp_path, what)
    with pytest.raises(CamVidError, match=pattern.format(name=name)):
        convert(src, str(tmp_path / 'out'))
    assert main([src, '-o', str(tmp_path / 'out2')]) == 2
    assert re.search(pattern.format(name=name), capsys.readouterr().err)


def test_bad_scale_and_unknown_hold_out_sequence(download, tmp_path):
    with pytest.raises(CamVidError, match=r'--scale must be in \(0, 1\], got 2'):
        convert(download, str(tmp_path / 'a'), scale=2)
    with pytest.raises(CamVidError, match=r"--hold-out \['0005VD'\] is not a sequence"):
        convert(download, str(tmp_path / 'b'), hold_out=['0005VD'])


def test_dataset_names_the_converter_when_the_data_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match='tools/dataset_converters/camvid.py'):
        _dataset('camvid.py', str(tmp_path / 'nothing'), 'train')


@pytest.mark.slow
def test_converted_download_trains_through_mmseg_train_script(converted, tmp_path):
    """The tiny CamVid config, on the converted fixture, through MMSeg's own
    packaged tools/train.py (custom_imports loads the plugin)."""
    out, _ = converted
    mmseg_train = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    config = osp.join(CONFIGS, 'camvid', 'deeplabv3plus_r18-tiny_1xb8-4k_camvid-128x128.py')
    opts = [f'{s}_dataloader.dataset.data_root={out}' for s in ('train', 'val', 'test')]
    opts += ['train_cfg.max_iters=4', 'train_cfg.val_interval=4', 'param_scheduler.0.end=4',
             'default_hooks.checkpoint.interval=4', 'default_hooks.logger.interval=2',
             'train_dataloader.batch_size=2']
    proc = subprocess.run([sys.executable, mmseg_train, config, '--work-dir', str(tmp_path / 'wd'),
                           '--cfg-options', *opts], capture_output=True, text=True,
                          env=subprocess_env(), cwd=REPO, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert re.search(r'Iter\(val\).*mIoU: \d+\.\d+', log), log[-2000:]
    assert osp.isfile(tmp_path / 'wd' / 'iter_4.pth')


def test_dataset_names_the_label_file_and_a_value_out_of_range(converted, tmp_path):
    import shutil
    out, _ = converted
    root = str(tmp_path / 'camvid')
    shutil.copytree(out, root)
    path = osp.join(root, 'ann_dir', 'val', FRAMES['val'][0] + '.png')
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    label[3, 3] = 11  # the download's void, not converted
    cv2.imwrite(path, label)
    ds = _dataset('camvid.py', root, 'val')
    with pytest.raises(ValueError, match=rf"CamVidDataset: '{re.escape(path)}': label values "
                       r'\[11\] are outside \[0, 10\] \(num_classes=11\)'):
        ds[0]
