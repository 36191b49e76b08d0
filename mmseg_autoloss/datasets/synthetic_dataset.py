"""``SyntheticShapesDataset``: MMSeg's ``BaseSegDataset`` with input checks."""
import json
import os.path as osp
from typing import Any, Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..utils.validate import check_label_range
from .synthetic import class_names, class_palette


class CheckedSegDatasetMixin:
    """Turns MMSeg's silent or bare-assert failures into clear errors.

    - a missing image or annotation directory names the directory;
    - an image or label map the pipeline cannot read names the file;
    - a label value outside ``[0, num_classes)`` other than ``ignore_index``
      names the file and the value.
    """

    # How a user makes the data, named when its folders are missing.
    HOW_TO_MAKE = 'generate the data with tools/make_synthetic_dataset.py'

    def load_data_list(self):
        for key in ('img_path', 'seg_map_path'):
            path = self.data_prefix.get(key)
            if path and not osp.isdir(path) and not (self.ann_file and osp.isfile(self.ann_file)):
                raise FileNotFoundError(
                    f'{type(self).__name__}: data_prefix.{key} directory {path!r} does not '
                    f'exist; {self.HOW_TO_MAKE} or fix data_root/data_prefix in the config')
        if self.ann_file and not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: ann_file {self.ann_file!r} does not exist')
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(
                f'{type(self).__name__}: no images with suffix {self.img_suffix!r} under '
                f'{self.data_prefix.get("img_path")!r}')
        return data_list

    def prepare_data(self, idx: int) -> Any:
        info = self.get_data_info(idx)
        try:
            data = super().prepare_data(idx)
        except Exception as e:  # name the file behind any pipeline failure
            raise RuntimeError(
                f'{type(self).__name__}: failed to load sample {idx} '
                f'(img_path={info.get("img_path")!r}, seg_map_path={info.get("seg_map_path")!r}): '
                f'{type(e).__name__}: {e}') from e
        if data is None:
            return data
        self._check_labels(data, info)
        return data

    def _check_labels(self, data: dict, info: dict) -> None:
        samples = data.get('data_samples')
        if samples is None or 'gt_sem_seg' not in samples:
            return
        check_label_range(samples.gt_sem_seg.data, len(self.metainfo['classes']),
                          self.ignore_index,
                          owner=f'{type(self).__name__}: {info.get("seg_map_path")!r}: ')


@DATASETS.register_module()
class SyntheticShapesDataset(CheckedSegDatasetMixin, BaseSegDataset):
    """The project's synthetic shapes dataset (see ``make_synthetic_dataset``).

    Classes and palette come from ``data_root/meta.json`` written by the
    generator, so a dataset generated with another ``num_classes`` is read
    correctly without editing the config.
    """

    METAINFO = dict(classes=tuple(class_names(6)), palette=class_palette(6))

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 metainfo: Optional[dict] = None, data_root: Optional[str] = None,
                 **kwargs) -> None:
        if metainfo is None and data_root and osp.isfile(osp.join(data_root, 'meta.json')):
            with open(osp.join(data_root, 'meta.json')) as f:
                meta = json.load(f)
            metainfo = dict(classes=tuple(meta['classes']), palette=meta['palette'])
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         metainfo=metainfo, data_root=data_root, **kwargs)
