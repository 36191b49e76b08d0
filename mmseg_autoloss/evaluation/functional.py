"""Segmentation metrics from per-image confusion statistics (SPEC §1).

Plain torch/numpy, no mmseg import. The work splits in two steps:

1. :func:`image_stats` turns prediction/label maps into a small integer array
   per image and class (:data:`STAT_FIELDS`): TP/FP/FN (one ``bincount``),
   the same counts inside the BIoU band, and the four BF1 boundary counts.
   These arrays are all an evaluator has to keep (and gather across ranks).
2. :func:`summarize` turns the stacked arrays of a whole evaluation set into
   dataset-level (D), image-level (I), class-level (C) and worst-case (q%)
   values.

Boundaries come from :mod:`mmseg_autoloss.boundary`, the module the
surrogates use too (BD via :func:`label_edges`, dilation as a max-pool).
BF1 counts the predicted boundary over all pixels, void included, as the
authors' evaluator does (SPEC §1).
"""
import math
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..boundary import dilate, label_edges
from ..surrogates.target_metrics import boundary_evaluator_names
from ..utils.validate import DEFAULT_TOL, check_tol, label_range_error

__all__ = [
    'STAT_FIELDS', 'BASE_METRICS', 'image_stats', 'parse_metrics',
    'check_q', 'needs_boundary', 'summarize', 'score_matrix', 'image_level', 'class_level',
    'worst_case_mean'
]

#: Columns of the per-image statistics array (last axis of :func:`image_stats`).
STAT_FIELDS = (
    'tp', 'fp', 'fn',  # whole image
    'band_tp', 'band_fp', 'band_fn',  # inside the BIoU band
    'pred_bd',  # sum BD(pred_c), void pixels included
    'pred_bd_hit',  # sum BD(pred_c) * Dil_tol(BD(gt_c)), void pixels included
    'gt_bd',  # sum BD(gt_c)
    'gt_bd_hit',  # sum Dil_tol(BD(pred_c)) * BD(gt_c)
)
_F = {name: i for i, name in enumerate(STAT_FIELDS)}

#: Dataset-level metric names accepted by :func:`parse_metrics`.
BASE_METRICS = ('aAcc', 'mAcc', 'mIoU', 'FWIoU', 'mDice', 'mFscore', 'BIoU', 'BF1')
_ALIASES = {'gAcc': 'aAcc'}
_FINE_RE = re.compile(r'^m(IoU|Acc|Dice)_(D|I|C)(?:_q(.*))?$')


def _check_maps(pred: torch.Tensor, label: torch.Tensor,
                num_classes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(pred, torch.Tensor) or not isinstance(label, torch.Tensor):
        raise TypeError(f'prediction and label must be tensors, got {type(pred).__name__} and '
                        f'{type(label).__name__}')
    if pred.shape != label.shape:
        raise ValueError(f'prediction shape {tuple(pred.shape)} does not match label shape '
                         f'{tuple(label.shape)}')
    if pred.dim() == 2:
        pred, label = pred[None], label[None]
    if pred.dim() != 3:
        raise ValueError(f'prediction/label must be (H, W) or (N, H, W), got shape '
                         f'{tuple(pred.shape)}')
    if pred.dtype.is_floating_point or label.dtype.is_floating_point or \
            pred.dtype == torch.bool or label.dtype == torch.bool:
        raise ValueError(f'prediction and label must be integer maps, got {pred.dtype} and '
                         f'{label.dtype}')
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f'num_classes must be a positive integer, got {num_classes!r}')
    return pred.long(), label.long()


def image_stats(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                ignore_index: int = 255, tol: int = DEFAULT_TOL, drop_bg: bool = False,
                bg_index: int = 0, boundary: bool = True) -> torch.Tensor:
    """Per-image, per-class confusion and boundary statistics.

    Pixels whose label is ``ignore_index`` are left out of every count
    except the predicted-boundary counts of BF1 (``pred_bd``,
    ``pred_bd_hit``), which run over all pixels as in the authors'
    evaluator (SPEC §1). Boundaries are computed on the full maps (an
    ignored pixel is no class, so the label next to it has a boundary, like
    ``class_boundaries``).

    Args:
        pred (Tensor): Predicted labels (H, W) or (N, H, W), integers in
            ``[0, num_classes)``.
        label (Tensor): Ground truth of the same shape; ``ignore_index`` or a
            class index.
        num_classes (int): Number of classes C.
        ignore_index (int): Label value of unlabelled pixels.
        tol (int): Boundary tolerance in pixels (BIoU band and BF1).
        drop_bg (bool): Leave the background boundary out of the BIoU band.
        bg_index (int): Background class index for ``drop_bg``.
        boundary (bool): Compute the boundary columns (else they are zero).

    Returns:
        Tensor: int64 (N, C, len(STAT_FIELDS)); see :data:`STAT_FIELDS`.
    """
    pred, label = _check_maps(pred, label, num_classes)
    if boundary:
        check_tol(tol)
    n, h, w = label.shape
    c = int(num_classes)
    out = torch.zeros(n, c, len(STAT_FIELDS), dtype=torch.int64, device=label.device)
    if label.numel() == 0:
        return out
    lo, hi = torch.aminmax(pred)
    if lo < 0 or hi >= c:
        raise ValueError(f'prediction values must lie in [0, {c - 1}] (num_classes={c}), got '
                         f'range [{int(lo)}, {int(hi)}]')
    valid = label != ignore_index
    # Unlabelled pixels go to an extra ground-truth row C, dropped afterwards;
    # this avoids a boolean gather over the whole map.
    lab_c = torch.where(valid, label, c)
    lo, hi = torch.aminmax(lab_c)
    if lo < 0 or hi > c:
        raise label_range_error(label, c, ignore_index)
    flat = lab_c * c + pred
    if n > 1:
        flat = flat + torch.arange(n, device=label.device).view(n, 1, 1) * ((c + 1) * c)
    flat = flat.reshape(-1)
    conf = torch.bincount(flat, minlength=n * (c + 1) * c).view(n, c + 1, c)
    # row C must hold exactly the unlabelled pixels, else a label equals C
    if hi == c and int(conf[:, c].sum()) != label.numel() - int(valid.sum()):
        raise label_range_error(label, c, ignore_index)
    conf = conf[:, :c]
    tp = conf.diagonal(dim1=1, dim2=2)
    out[..., 0] = tp
    out[..., 1] = conf.sum(1) - tp
    out[..., 2] = conf.sum(2) - tp
    if not boundary:
        return out

    # per-class boundaries; label and prediction go through each op together.
    # A boundary pixel lies on its own class's plane only, so per-class counts
    # are bincounts by the pixel's class, and only the (image, class) planes
    # that hold a boundary pixel are built and dilated (an image holds a few
    # of the classes; the metric may read the host, unlike the loss).
    maps = torch.cat([torch.where(valid, label, 0), pred])  # (2N, H, W)
    edges = label_edges(torch.cat([label, pred]))
    # the predicted boundary on void pixels counts (SPEC §1, the authors' BF1)
    edges[:n] &= valid
    offs = torch.arange(2 * n, device=label.device).view(2 * n, 1, 1) * c
    idx = (maps + offs).reshape(-1)

    def count(mask: torch.Tensor) -> torch.Tensor:
        return torch.bincount(idx, weights=mask.reshape(-1).double(),
                              minlength=2 * n * c).long().view(2 * n, c)

    n_bd = count(edges)
    img, cls = (n_bd > 0).nonzero(as_tuple=True)
    small = maps.to(torch.int16 if c <= 2**15 else torch.int32)  # a cheaper gather
    planes = (small[img] == cls.view(-1, 1, 1).to(small.dtype)) & edges[img]
    near = torch.zeros(2 * n, c, h, w, dtype=torch.bool, device=label.device)
    near[img, cls] = dilate(planes, tol)
    gt_near, pr_near = near[:n], near[n:]

    # BIoU: the confusion restricted to the band around GT boundaries
    if drop_bg and 0 <= bg_index < c:
        gt_near_band = gt_near[:, torch.arange(c, device=label.device) != bg_index]
    else:
        gt_near_band = gt_near
    band = gt_near_band.any(1)
    # float64 weights count exactly (< 2**53) and avoid a boolean gather
    bconf = torch.bincount(flat, weights=band.reshape(-1).double(), minlength=n * (c + 1) * c)
    bconf = bconf.long().view(n, c + 1, c)[:, :c]
    btp = bconf.diagonal(dim1=1, dim2=2)
    out[..., 3] = btp
    out[..., 4] = bconf.sum(1) - btp
    out[..., 5] = bconf.sum(2) - btp

    # BF1: boundary pixels per class, and those within tol of the other map's
    # (each read on the pixel's own class's plane of the other map)
    n_hit = count(edges & torch.cat([pr_near.gather(1, maps[:n, None]),
                                     gt_near.gather(1, maps[n:, None])])[:, 0])
    out[..., 6] = n_bd[n:]
    out[..., 7] = n_hit[n:]
    out[..., 8] = n_bd[:n]
    out[..., 9] = n_hit[:n]
    return out


# ---------------------------------------------------------------- metric names


def check_q(q: Iterable[float]) -> Tuple[float, ...]:
    """Validate worst-case percentages: each in (0, 100]."""
    if isinstance(q, (int, float)):
        q = (q, )
    out = []
    for v in q:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or not 0 < v <= 100:
            raise ValueError(f'q must be numbers in (0, 100], got {v!r}')
        out.append(float(v))
    return tuple(out)


def _q_key(q: float) -> str:
    return f'{q:g}'


def parse_metrics(metrics: Sequence[str], q: Sequence[float] = (1, 5)) -> List[Tuple]:
    """Resolve metric names into ``(key, kind, score, level, q)`` requests.

    Names: ``aAcc`` (or ``gAcc``), ``mAcc``, ``mIoU``, ``FWIoU``, ``mDice``,
    ``mFscore`` (adds ``mPrecision``/``mRecall``), ``BIoU``, ``BF1``, and the
    fine-grained ``m{IoU,Acc,Dice}_{D,I,C}``; ``m{IoU,Acc,Dice}_{I,C}_q``
    expands to one key per value of ``q``, ``..._q5`` asks for q = 5 only.

    Raises:
        ValueError: unknown names, q outside (0, 100], or ``_D_q``.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    q = check_q(q)
    out, seen = [], set()

    def add(req):
        if req[0] not in seen:
            seen.add(req[0])
            out.append(req)

    for name in metrics:
        if not isinstance(name, str):
            raise ValueError(f'metric names must be strings, got {name!r}')
        base = _ALIASES.get(name, name)
        if base in BASE_METRICS:
            add((base, 'base', None, None, None))
            continue
        m = _FINE_RE.match(name)
        if m is None:
            raise ValueError(f'unknown metric {name!r}; allowed: {list(BASE_METRICS)}, gAcc, '
                             'm{IoU,Acc,Dice}_{D,I,C}, m{IoU,Acc,Dice}_{I,C}_q, '
                             'm{IoU,Acc,Dice}_{I,C}_q<number>')
        score, level, qs = m.group(1), m.group(2), m.group(3)
        if qs is None:
            add((f'm{score}_{level}', 'fine', score, level, None))
            continue
        if level == 'D':
            raise ValueError(f'metric {name!r}: worst-case q% exists for image (I) and class (C) '
                             'levels only')
        if qs == '':
            values = q
        else:
            try:
                values = check_q((float(qs), ))
            except ValueError:
                raise ValueError(f'metric {name!r}: q must be a number in (0, 100], got {qs!r}')
        for v in values:
            add((f'm{score}_{level}_q{_q_key(v)}', 'fine', score, level, v))
    if not out:
        raise ValueError('metrics must name at least one metric')
    return out


def needs_boundary(requests: Sequence[Tuple]) -> bool:
    """Whether any parsed request needs the boundary statistics."""
    boundary = boundary_evaluator_names()
    return any(r[0] in boundary for r in requests)


# ---------------------------------------------------------------- aggregation


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def score_matrix(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, score: str,
                 alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """IoU, Acc (recall), Dice, Precision or Tversky from counts; NaN if 0/0.

    Args:
        tp, fp, fn (ndarray): Counts, any matching shape.
        score (str): 'IoU', 'Acc', 'Dice', 'Precision' or 'Tversky'.
        alpha, beta (float): Tversky weights of FP and FN.
    """
    if score == 'IoU':
        return _div(tp, tp + fp + fn)
    if score == 'Acc':
        return _div(tp, tp + fn)
    if score == 'Dice':
        return _div(2 * tp, 2 * tp + fp + fn)
    if score == 'Precision':
        return _div(tp, tp + fp)
    if score == 'Tversky':
        return _div(tp, tp + alpha * np.asarray(fp, np.float64) + beta * np.asarray(fn, np.float64))
    raise ValueError(f'unknown score {score!r}')


def image_level(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per-image mean over the classes present in its ground truth.

    Args:
        values (ndarray): (N, C) per-image, per-class scores.
        present (ndarray): (N, C) bool, class in the image's ground truth.

    Returns:
        ndarray: (N,) float, NaN for images without any labelled class.
    """
    num = np.where(present, values, 0.0).sum(1)
    return _div(num, present.sum(1))


def class_level(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per-class mean over the images whose ground truth contains the class.

    Returns:
        ndarray: (C,) float, NaN for classes absent from every image.
    """
    num = np.where(present, values, 0.0).sum(0)
    return _div(num, present.sum(0))


def worst_case_mean(values: np.ndarray, present: np.ndarray, q: float) -> np.ndarray:
    """Mean of the lowest ``q`` % of each column's present values.

    At least one value is kept per column (``max(1, floor(q·n/100))``).

    Args:
        values (ndarray): (N, K) scores.
        present (ndarray): (N, K) bool, which entries exist.
        q (float): Percentage in (0, 100].

    Returns:
        ndarray: (K,) float, NaN where a column has no present entry.
    """
    q = check_q((q, ))[0]
    vals = np.where(present, values, np.inf)
    vals = np.sort(vals, axis=0)
    count = present.sum(0)
    # a small epsilon keeps e.g. 5% of 20 at exactly one despite rounding
    keep = np.maximum(1, np.floor(q * count / 100.0 + 1e-9)).astype(np.int64)
    rank = np.arange(vals.shape[0])[:, None]
    take = rank < np.minimum(keep, count)[None]
    return _div(np.where(take, vals, 0.0).sum(0), take.sum(0))


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    ok = ~np.isnan(x)
    return float(x[ok].mean()) if ok.any() else float('nan')


def summarize(stats: np.ndarray, requests: Sequence[Tuple], beta: float = 1.0,
              nan_to_num: Optional[float] = None, drop_bg: bool = False,
              bg_index: int = 0) -> Tuple[Dict[str, float], Dict[str, np.ndarray]]:
    """Metric values (fractions in [0, 1]) for a whole evaluation set.

    Args:
        stats (ndarray): (N, C, len(STAT_FIELDS)) from :func:`image_stats`.
        requests: From :func:`parse_metrics`.
        beta (float): F-score beta for ``mFscore``.
        nan_to_num (float, optional): Replace NaN per-class values before
            averaging (as MMSeg's IoUMetric); None leaves NaN classes out.
        drop_bg (bool): Leave the background class out of BF1.
        bg_index (int): Background class index.

    Returns:
        tuple: ``(summary, per_class)``: summary maps each requested key to a
        float; per_class maps column names ('IoU', 'Acc', 'BF1', 'IoU_C', ...)
        to (C,) arrays.
    """
    stats = np.asarray(stats)
    if stats.ndim != 3 or stats.shape[2] != len(STAT_FIELDS):
        raise ValueError(f'stats must be (N, C, {len(STAT_FIELDS)}), got shape {stats.shape}')
    tot = stats.astype(np.float64).sum(0)  # (C, K)
    tp, fp, fn = tot[:, 0], tot[:, 1], tot[:, 2]

    def fix(x):
        return x if nan_to_num is None else np.nan_to_num(x, nan=nan_to_num)

    summary, per_class = {}, {}

    def dataset_scores(score):
        if score not in per_class:
            per_class[score] = fix(score_matrix(tp, fp, fn, score))
        return per_class[score]

    img = stats[..., :3].astype(np.float64)
    present = (stats[..., 0] + stats[..., 2]) > 0  # class in the image's GT
    matrices = {}

    def fine(score):
        if score not in matrices:
            matrices[score] = score_matrix(img[..., 0], img[..., 1], img[..., 2], score)
        return matrices[score]

    for key, kind, score, level, q in requests:
        if key == 'aAcc':
            summary[key] = float(_div(tp.sum(), (tp + fn).sum()))
        elif key in ('mIoU', 'mAcc', 'mDice'):
            summary[key] = _nanmean(dataset_scores(key[1:]))
        elif key == 'mFscore':
            prec = dataset_scores('Precision')
            rec = dataset_scores('Acc')
            f = fix(_div((1 + beta**2) * prec * rec, beta**2 * prec + rec))
            per_class['Fscore'], per_class['Recall'] = f, rec
            summary['mFscore'] = _nanmean(f)
            summary['mPrecision'] = _nanmean(prec)
            summary['mRecall'] = _nanmean(rec)
        elif key == 'FWIoU':
            iou = score_matrix(tp, fp, fn, 'IoU')
            freq = _div(tp + fn, (tp + fn).sum())
            summary[key] = float(np.nansum(freq * iou)) if (tp + fn).sum() > 0 else float('nan')
        elif key == 'BIoU':
            per_class['BIoU'] = fix(score_matrix(tot[:, 3], tot[:, 4], tot[:, 5], 'IoU'))
            summary[key] = _nanmean(per_class['BIoU'])
        elif key == 'BF1':
            has_gt = tot[:, 8] > 0
            prec = np.nan_to_num(_div(tot[:, 7], tot[:, 6]), nan=0.0)
            rec = np.nan_to_num(_div(tot[:, 9], tot[:, 8]), nan=0.0)
            f1 = np.nan_to_num(_div(2 * prec * rec, prec + rec), nan=0.0)
            f1 = np.where(has_gt, f1, np.nan)
            if drop_bg and 0 <= bg_index < len(f1):
                f1[bg_index] = np.nan
            per_class['BF1'] = fix(f1)
            summary[key] = _nanmean(per_class['BF1'])
        elif level == 'D':
            summary[key] = _nanmean(dataset_scores(score))
        elif level == 'I':
            per_image = image_level(fine(score), present)
            if q is None:
                summary[key] = _nanmean(per_image)
            else:
                ok = ~np.isnan(per_image)
                summary[key] = float(worst_case_mean(per_image[:, None], ok[:, None], q)[0])
        else:  # level C
            if q is None:
                col = class_level(fine(score), present)
                per_class[f'{score}_C'] = fix(col)
            else:
                col = fix(worst_case_mean(fine(score), present, q))
                per_class[f'{score}_C_q{_q_key(q)}'] = col
            summary[key] = _nanmean(fix(col))
    return summary, per_class
