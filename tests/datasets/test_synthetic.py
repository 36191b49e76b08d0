import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmseg_autoloss.datasets import SyntheticShapesDataset, generate_synthetic_dataset, make_sample
from mmseg_autoloss.datasets.synthetic import IGNORE_INDEX, class_names, label_statistics

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]


def _dataset(root, split='train', **kw):
    return SyntheticShapesDataset(data_root=root, pipeline=PIPELINE,
                                  data_prefix=dict(img_path=f'img_dir/{split}',
                                                   seg_map_path=f'ann_dir/{split}'), **kw)


def test_generator_is_deterministic(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    for root in (a, b):
        generate_synthetic_dataset(str(root), {'train': 3}, img_size=32, num_classes=4, seed=7)
    for sub in ('img_dir/train/train_00002.png', 'ann_dir/train/train_00002.png'):
        assert (a / sub).read_bytes() == (b / sub).read_bytes()
    generate_synthetic_dataset(str(b), {'train': 3}, img_size=32, num_classes=4, seed=8,
                               overwrite=True)
    assert (a / 'ann_dir/train/train_00000.png').read_bytes() != \
        (b / 'ann_dir/train/train_00000.png').read_bytes()


def test_dataset_properties(synthetic_root):
    counts = label_statistics(synthetic_root, 'train', 6)
    freq = counts[:6] / counts[:6].sum()
    assert (counts[:6] > 0).all(), 'every class occurs'
    assert freq.max() / freq.min() > 10, 'strong class imbalance'
    assert counts[6] > 0, 'some ignore_index pixels'
    # thin structures: some class-4 ("wire") pixels have no 3x3 interior
    lab = np.stack([cv2.imread(osp.join(synthetic_root, 'ann_dir/train', f'train_{i:05d}.png'),
                               cv2.IMREAD_UNCHANGED) for i in range(32)])
    wire = (lab == 4).astype(np.uint8)
    eroded = np.stack([cv2.erode(w, np.ones((3, 3), np.uint8)) for w in wire])
    assert wire.sum() > 0 and eroded.sum() < 0.5 * wire.sum()


def test_configurable_size_and_classes():
    rng = np.random.default_rng(0)
    img, lab = make_sample(rng, 48, 9)
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    assert lab.shape == (48, 48) and set(np.unique(lab)) <= set(range(9)) | {IGNORE_INDEX}
    assert len(class_names(9)) == 9
    with pytest.raises(ValueError, match='num_classes'):
        class_names(1)


def test_reads_through_mmseg_pipeline(synthetic_root):
    ds = _dataset(synthetic_root)
    assert len(ds) == 32 and ds.metainfo['classes'][0] == 'background'
    item = ds[0]
    assert item['inputs'].shape == (3, 64, 64)
    assert item['data_samples'].gt_sem_seg.data.shape == (1, 64, 64)


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='img_dir/train'):
        _dataset(str(tmp_path / 'nowhere'))


def test_bad_label_value_is_named(tmp_path):
    root = str(tmp_path / 'd')
    generate_synthetic_dataset(root, {'train': 2}, img_size=32, num_classes=4, seed=0)
    bad = osp.join(root, 'ann_dir/train/train_00001.png')
    lab = cv2.imread(bad, cv2.IMREAD_UNCHANGED)
    lab[0, 0] = 7
    cv2.imwrite(bad, lab)
    ds = _dataset(root)
    ds[0]  # a good one still loads
    with pytest.raises(ValueError, match=r'train_00001\.png.*\[7\].*num_classes=4'):
        ds[1]


def test_unreadable_image_is_named(tmp_path):
    root = str(tmp_path / 'd')
    generate_synthetic_dataset(root, {'train': 2}, img_size=32, num_classes=4, seed=0)
    with open(osp.join(root, 'img_dir/train/train_00000.png'), 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(RuntimeError, match=r'img_dir/train/train_00000\.png'):
        _dataset(root)[0]


def test_labels_are_tensors_in_range(synthetic_root):
    ds = _dataset(synthetic_root, 'val')
    lab = torch.cat([ds[i]['data_samples'].gt_sem_seg.data.flatten() for i in range(len(ds))])
    assert set(lab.unique().tolist()) <= set(range(6)) | {255}
