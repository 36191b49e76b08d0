"""``SegMetric``: every method.md §1 metric in one MMSeg evaluator."""
import logging
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.logging import MMLogger, print_log
from mmengine.utils import mkdir_or_exist
from PIL import Image
from prettytable import PrettyTable

from mmseg.registry import EVALUATOR, METRICS

from ..utils.validate import DEFAULT_TOL, check_tol
from .functional import check_q, image_stats, needs_boundary, parse_metrics, summarize


def _from_iou_metrics(iou_metrics: Union[str, Sequence[str]]) -> List[str]:
    """SegMetric names giving the keys IoUMetric returns for ``iou_metrics``."""
    if isinstance(iou_metrics, str):
        iou_metrics = [iou_metrics]
    out = ['aAcc']
    for name in iou_metrics:
        if name not in ('mIoU', 'mDice', 'mFscore'):
            raise ValueError(f"SegMetric: iou_metrics accepts 'mIoU', 'mDice', 'mFscore' (as "
                             f'IoUMetric), got {name!r}; use metrics=[...] for the others')
        out += [name] if name == 'mFscore' else [name, 'mAcc']
    return list(dict.fromkeys(out))


@METRICS.register_module()
class SegMetric(BaseMetric):
    """Dataset-level, fine-grained, worst-case and boundary metrics.

    A drop-in for MMSeg's ``IoUMetric``: same inputs (``pred_sem_seg``,
    ``gt_sem_seg`` of each data sample; ``reduce_zero_label`` is already
    applied by the dataset pipeline), values in percent rounded to two
    decimals, MMSeg's key names where MMSeg has the metric.

    Each image is reduced to a (C, 10) integer array of confusion and
    boundary counts in :meth:`process`, so only these travel between ranks.

    Args:
        metrics (list[str] | str): Any of ``aAcc`` (alias ``gAcc``), ``mAcc``,
            ``mIoU``, ``FWIoU``, ``mDice``, ``mFscore``, ``BIoU``, ``BF1``,
            ``m{IoU,Acc,Dice}_{D,I,C}`` and the worst cases
            ``m{IoU,Acc,Dice}_{I,C}_q`` (one key per value of ``q``, e.g.
            ``mIoU_C_q5``) or ``..._q<number>`` for a single q.
        tol (int): Boundary tolerance in pixels for BIoU and BF1.
        drop_bg (bool): Leave the background boundary out of the BIoU band
            and the background class out of BF1.
        bg_index (int): Background class index for ``drop_bg``.
        q (sequence[float]): Worst-case percentages, each in (0, 100].
        ignore_index (int): Label value left out of evaluation.
        nan_to_num (float, optional): Replace NaN per-class values before
            averaging, as IoUMetric does; None leaves such classes out.
        beta (float): F-score beta for ``mFscore``.
        collect_device (str): 'cpu' or 'gpu', for gathering across ranks.
        output_dir (str, optional): Save predictions as PNG there.
        format_only (bool): Only save predictions, compute nothing.
        prefix (str, optional): Prefix of the metric names.
        classwise (bool): Also return each class's value of every per-class
            column (``IoU.sky``, ``Acc.sky``, ...), as logged in the table.
        iou_metrics (list[str], optional): IoUMetric's argument, accepted so
            that only ``type`` needs changing: each of 'mIoU', 'mDice',
            'mFscore' gives the keys IoUMetric gives (with ``aAcc``, ``mAcc``).
            Ignored (with a warning) when ``metrics`` is given.
    """

    # '' rather than None: BaseMetric warns of a missing prefix at every
    # build (once per proxy of a search), and '' adds none to the keys.
    default_prefix = ''

    def __init__(self,
                 metrics: Optional[Union[str, Sequence[str]]] = None,
                 tol: int = DEFAULT_TOL,
                 drop_bg: bool = False,
                 bg_index: int = 0,
                 q: Sequence[float] = (1, 5),
                 ignore_index: int = 255,
                 nan_to_num: Optional[float] = None,
                 beta: float = 1,
                 collect_device: str = 'cpu',
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 prefix: Optional[str] = None,
                 classwise: bool = False,
                 iou_metrics: Optional[Union[str, Sequence[str]]] = None,
                 **kwargs) -> None:
        if kwargs:
            raise TypeError(f'SegMetric got unexpected argument(s) {sorted(kwargs)}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        if metrics is None:
            metrics = ['aAcc', 'mIoU', 'mAcc'] if iou_metrics is None else \
                _from_iou_metrics(iou_metrics)
        elif iou_metrics is not None:
            # A config that sets val_evaluator=dict(type='SegMetric', ...) over
            # a base IoUMetric inherits its iou_metrics by mmengine's merge.
            print_log(f'SegMetric: metrics={list(metrics)} given, iou_metrics={iou_metrics!r} '
                      "(merged from a base IoUMetric config?) is ignored; write "
                      "dict(_delete_=True, type='SegMetric', ...) to drop it",
                      logger='current', level=logging.WARNING)
        tol = check_tol(tol, 'SegMetric: ')
        if not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f'SegMetric: beta must be a positive number, got {beta!r}')
        self.q = check_q(q)
        self.requests = parse_metrics(metrics, self.q)
        self.metrics = [r[0] for r in self.requests]
        self.tol = tol
        self.drop_bg = bool(drop_bg)
        self.bg_index = bg_index
        self.ignore_index = ignore_index
        self.nan_to_num = nan_to_num
        self.beta = beta
        self.boundary = needs_boundary(self.requests)
        self.output_dir = output_dir
        if self.output_dir and is_main_process():
            mkdir_or_exist(self.output_dir)
        self.format_only = format_only
        self.classwise = bool(classwise)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Reduce each (prediction, label) pair to its per-class counts.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with ``pred_sem_seg``
                and, unless ``format_only``, ``gt_sem_seg``.
        """
        num_classes = len(self.dataset_meta['classes'])
        # images of one size are evaluated together (fewer, larger ops)
        groups = defaultdict(list)
        for i, sample in enumerate(data_samples):
            pred = sample['pred_sem_seg']['data'].squeeze()
            if self.output_dir is not None:
                self._save_png(sample, pred)
            if self.format_only:
                continue
            label = sample['gt_sem_seg']['data'].squeeze().to(pred)
            if pred.shape != label.shape:
                raise ValueError(f'SegMetric: prediction shape {tuple(pred.shape)} does not '
                                 f'match label shape {tuple(label.shape)} '
                                 f'(img_path={sample.get("img_path")!r})')
            groups[tuple(pred.shape)].append((i, pred, label))
        stats = {}
        for items in groups.values():
            preds = torch.stack([p for _, p, _ in items])
            labels = torch.stack([lab for _, _, lab in items])
            out = image_stats(preds, labels, num_classes, self.ignore_index, self.tol,
                              self.drop_bg, self.bg_index, self.boundary).cpu().numpy()
            for (i, _, _), s in zip(items, out):
                stats[i] = s
        self.results.extend(stats[i] for i in sorted(stats))

    def _save_png(self, sample: dict, pred: torch.Tensor) -> None:
        basename = osp.splitext(osp.basename(sample['img_path']))[0]
        mask = pred.cpu().numpy()
        # predictions of a reduce_zero_label dataset are stored in its label space
        if sample.get('reduce_zero_label', False):
            mask = mask + 1
        Image.fromarray(mask.astype(np.uint8)).save(
            osp.abspath(osp.join(self.output_dir, f'{basename}.png')))

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Aggregate all images' counts into the requested metrics.

        Args:
            results (list[ndarray]): One (C, 10) array per image.

        Returns:
            dict[str, float]: Percent values rounded to 2 decimals; NaN where
            undefined (e.g. a metric over classes none of which occur).
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'results are saved to {osp.dirname(self.output_dir)}')
            return OrderedDict()
        class_names = self.dataset_meta['classes']
        if results:
            stats = np.stack(results)
        else:
            stats = np.zeros((0, len(class_names), 10), dtype=np.int64)
        summary, per_class = summarize(stats, self.requests, beta=self.beta,
                                       nan_to_num=self.nan_to_num, drop_bg=self.drop_bg,
                                       bg_index=self.bg_index)
        metrics = OrderedDict((k, float(np.round(v * 100, 2))) for k, v in summary.items())

        if per_class:
            table = PrettyTable()
            table.add_column('Class', list(class_names))
            for name, values in per_class.items():
                table.add_column(name, [float(v) for v in np.round(values * 100, 2)])
            print_log('per class results:', logger)
            print_log('\n' + table.get_string(), logger=logger)
            if self.classwise:
                metrics.update((f'{col}.{name}', float(np.round(v * 100, 2)))
                               for col, values in per_class.items()
                               for name, v in zip(class_names, values))
        return metrics


@EVALUATOR.register_module(name='SegMetric')
def build_seg_metric_evaluator(**kwargs) -> Evaluator:
    """Build ``Evaluator(SegMetric(**kwargs))``.

    mmengine's Runner reads an evaluator dict that has a ``metrics`` key as
    an *Evaluator* config and builds it from the EVALUATOR registry, so
    ``val_evaluator=dict(type='SegMetric', metrics=[...])`` lands here rather
    than in METRICS; this wraps the metric as the Runner expects.
    """
    return Evaluator(SegMetric(**kwargs))
