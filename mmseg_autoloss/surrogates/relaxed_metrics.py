"""Relaxed (differentiable) segmentation metrics of Auto Seg-Loss.

Plain torch, no mmseg import. SPEC §1–§2: the one-hot prediction becomes the
softmax ``ỹ`` and each logical operation gets its own g:
``AND(a, b) = g(a)·g(b)``, ``OR(a, b) = g(a) + g(b) − g(a)·g(b)``,
``XOR = OR − AND``. A ground-truth operand is 0/1 and g keeps it (g(0) = 0,
g(1) = 1), so for a pixel of class ``l``:

- ``AND(ỹ_c, y_c) = g_and(ỹ_l)`` if ``c == l`` else 0,
- ``OR(ỹ_c, y_c) = 1`` if ``c == l`` else ``g_or(ỹ_c)``.

Intersections therefore only need g at the ground-truth class (N·H·W values)
and unions one full g pass summed per class; this is exactly the formula of
the paper, just not materialized per class.

Statistics are summed over the batch per class (dataset-level, like the
metric). ``class_reduction``:

- ``'all'``: mean over all C classes with ``eps`` in the denominators (the
  authors' release; an absent class scores 0);
- ``'present'``: mean over the classes whose denominator in the HARD metric is
  non-zero (IoU/Dice: the class is in the labels or the argmax prediction;
  Acc: in the labels), so the surrogate equals the metric on one-hot input.

FWIoU and gAcc have no class mean; BF1 always averages over classes with a
ground-truth boundary (SPEC §1: others are left out; the authors' release does
so under both reductions). mIoU_I / mIoU_C follow SPEC §1 (classes present
in an image's labels). A batch without any valid pixel (or without any class
to average) gives metric 1, i.e. loss 0.

Ignored pixels (``ignore_index``) and pixel weights enter as a per-pixel
weight ``w`` on every count. Boundaries follow the evaluation metric
(``mmseg_autoloss.evaluation``): they are found on the full maps, where an
ignored label is no class (so the labelled pixel next to it is a ground-truth
boundary) while the prediction at an ignored pixel is kept.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from .boundary import boundary_band, class_boundaries, dilate, erode
from .parameterization import METRIC_NUM_G, check_target_metric

__all__ = [
    'soft_and', 'soft_or', 'soft_xor', 'relaxed_metric', 'relaxed_miou', 'relaxed_fwiou',
    'relaxed_macc', 'relaxed_gacc', 'relaxed_biou', 'relaxed_bf1', 'relaxed_mdice',
    'relaxed_miou_image', 'relaxed_miou_class', 'soft_boundary', 'CLASS_REDUCTIONS'
]

GFn = Callable[[torch.Tensor], torch.Tensor]
CLASS_REDUCTIONS = ('all', 'present')


def _identity(y: torch.Tensor) -> torch.Tensor:
    return y


# --------------------------------------------------------------------------
# Parameterized logical operators (Eq. 9)
# --------------------------------------------------------------------------
def soft_and(a: torch.Tensor, b: torch.Tensor, g_a: GFn = _identity,
             g_b: Optional[GFn] = None) -> torch.Tensor:
    """h_AND(a, b) = g_a(a)·g_b(b) (``g_b`` defaults to ``g_a``)."""
    return g_a(a) * (g_b or g_a)(b)


def soft_or(a: torch.Tensor, b: torch.Tensor, g_a: GFn = _identity,
            g_b: Optional[GFn] = None) -> torch.Tensor:
    """h_OR(a, b) = g_a(a) + g_b(b) − g_a(a)·g_b(b)."""
    ga, gb = g_a(a), (g_b or g_a)(b)
    return ga + gb - ga * gb


def soft_xor(a: torch.Tensor, b: torch.Tensor, g_and: Sequence[GFn] = (_identity, _identity),
             g_or: Sequence[GFn] = (_identity, _identity)) -> torch.Tensor:
    """h_XOR = h_OR − h_AND, each with its own pair of g's (one per operand)."""
    return soft_or(a, b, *g_or) - soft_and(a, b, *g_and)


# --------------------------------------------------------------------------
# Shared statistics
# --------------------------------------------------------------------------
def _check(probs: torch.Tensor, label: torch.Tensor, ignore_index: int,
           weight: Optional[torch.Tensor]) -> None:
    if probs.dim() != 4:
        raise ValueError(f'probs must be (N, C, H, W), got shape {tuple(probs.shape)}')
    n, c, h, w = probs.shape
    if tuple(label.shape) != (n, h, w):
        raise ValueError(f'label shape {tuple(label.shape)} does not match probs shape '
                         f'{tuple(probs.shape)} (expected {(n, h, w)})')
    if label.dtype.is_floating_point or label.dtype == torch.bool:
        raise ValueError(f'label must be an integer tensor, got {label.dtype}')
    bad = ((label < 0) | (label >= c)) & (label != ignore_index)
    if bool(bad.any()):
        raise ValueError(f'label values {torch.unique(label[bad]).tolist()[:10]} are outside '
                         f'[0, {c - 1}] and not ignore_index={ignore_index}')
    if weight is not None and tuple(weight.shape[-2:]) != (h, w):
        raise ValueError(f'weight shape {tuple(weight.shape)} does not match label shape '
                         f'{(n, h, w)}')


class _Stats:
    """Per-pixel weights, safe labels and flat (image, class) indices."""

    def __init__(self, probs: torch.Tensor, label: torch.Tensor, ignore_index: int,
                 weight: Optional[torch.Tensor]):
        n, c = probs.shape[:2]
        self.n, self.c = n, c
        self.valid = (label != ignore_index) & (label >= 0) & (label < c)
        self.label = torch.where(self.valid, label, torch.zeros_like(label)).long()
        w = self.valid.to(probs.dtype)
        if weight is not None:
            w = w * weight.reshape(w.shape).to(probs.dtype)
        self.w = w
        offs = torch.arange(n, device=label.device).view(n, 1, 1) * c
        self.flat_idx = (self.label + offs).reshape(-1)

    def per_class(self, values: torch.Tensor) -> torch.Tensor:
        """Sum per-pixel values (N, H, W) into (N, C) by ground-truth class."""
        out = values.new_zeros(self.n * self.c)
        return out.index_add(0, self.flat_idx, values.reshape(-1)).view(self.n, self.c)

    def gt_count(self, w: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.per_class(self.w if w is None else w)

    def at_label(self, x: torch.Tensor) -> torch.Tensor:
        """x[n, label[n, h, w], h, w] for a (N, C, H, W) tensor."""
        return x.gather(1, self.label[:, None])[:, 0]

    def hard_union(self, probs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(N, C) union of the argmax prediction and the labels (no grad)."""
        with torch.no_grad():
            pred = probs.argmax(1)
            offs = torch.arange(self.n, device=pred.device).view(self.n, 1, 1) * self.c
            pred_idx = (pred + offs).reshape(-1)
            pc = w.new_zeros(self.n * self.c).index_add(0, pred_idx, w.reshape(-1))
            both = self.per_class(w * (pred == self.label).to(w.dtype))
            return self.per_class(w) + pc.view(self.n, self.c) - both


def _inter_union(probs: torch.Tensor, st: _Stats, g_and: GFn, g_or: GFn,
                 w: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft intersection, union and ground-truth count per (image, class)."""
    count = st.gt_count(w)
    inter = st.per_class(g_and(st.at_label(probs)) * w)
    g_full = g_or(probs)
    # Σ_pixels w·g_or(ỹ_c) for every class, as one batched mat-vec.
    or_sum = torch.einsum('nchw,nhw->nc', g_full, w)
    union = or_sum - st.per_class(st.at_label(g_full) * w) + count
    return inter, union, count


def _mean(values: torch.Tensor, mask: Optional[torch.Tensor], dim=None) -> torch.Tensor:
    """Mean of ``values`` (over ``mask`` if given); an empty mask gives 1."""
    if mask is None:
        return values.mean() if dim is None else values.mean(dim)
    m = mask.to(values.dtype)
    k = m.sum() if dim is None else m.sum(dim)
    s = (values * m).sum() if dim is None else (values * m).sum(dim)
    return (s + (k == 0).to(values.dtype)) / k.clamp(min=1)


def _reduce(per_class: torch.Tensor, hard_den: Optional[torch.Tensor],
            class_reduction: str) -> torch.Tensor:
    if class_reduction == 'all':
        return per_class.mean()
    return _mean(per_class, hard_den > 0)


def _finish(value: torch.Tensor, st: _Stats) -> torch.Tensor:
    # No valid pixel: nothing to score, metric 1 (loss 0), graph kept.
    return torch.where(st.w.sum() > 0, value, torch.ones_like(value))


# --------------------------------------------------------------------------
# Metrics. Common signature:
#   (probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
#    eps=1e-6, **metric options) -> 0-d tensor
# probs: softmax probabilities (N, C, H, W); label: (N, H, W) integer.
# gs: the metric's g functions in layout order.
# --------------------------------------------------------------------------
def relaxed_miou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6) -> torch.Tensor:
    """Relaxed mIoU: mean_c Σ AND(ỹ_c, y_c) / Σ OR(ỹ_c, y_c). gs = (g_and, g_or)."""
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, _ = _inter_union(probs, st, gs[0], gs[1], st.w)
    iou = inter.sum(0) / (union.sum(0) + eps)
    hard = st.hard_union(probs, st.w).sum(0) if class_reduction == 'present' else None
    return _finish(_reduce(iou, hard, class_reduction), st)


def relaxed_mdice(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                  eps=1e-6) -> torch.Tensor:
    """Relaxed mDice: 2·AND / (|ỹ_c| + |y_c|) with |ỹ_c| + |y_c| = AND + OR."""
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, _ = _inter_union(probs, st, gs[0], gs[1], st.w)
    i, u = inter.sum(0), union.sum(0)
    dice = 2 * i / (i + u + eps)
    hard = st.hard_union(probs, st.w).sum(0) if class_reduction == 'present' else None
    return _finish(_reduce(dice, hard, class_reduction), st)


def relaxed_fwiou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                  eps=1e-6) -> torch.Tensor:
    """Relaxed FWIoU: Σ_c freq_c·IoU_c, freq from the labels (no class mean)."""
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, count = _inter_union(probs, st, gs[0], gs[1], st.w)
    count = count.sum(0)
    iou = inter.sum(0) / (union.sum(0) + eps)
    return _finish((count * iou).sum() / (count.sum() + eps), st)


def relaxed_macc(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6) -> torch.Tensor:
    """Relaxed mAcc: mean_c Σ AND(ỹ_c, y_c) / Σ y_c. gs = (g_and,)."""
    st = _Stats(probs, label, ignore_index, weight)
    inter = st.per_class(gs[0](st.at_label(probs)) * st.w).sum(0)
    count = st.gt_count().sum(0)
    return _finish(_reduce(inter / (count + eps), count, class_reduction), st)


def relaxed_gacc(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6) -> torch.Tensor:
    """Relaxed gAcc (MMSeg's aAcc): Σ AND(ỹ, y) / Σ y. gs = (g_and,)."""
    st = _Stats(probs, label, ignore_index, weight)
    inter = (gs[0](st.at_label(probs)) * st.w).sum()
    return _finish(inter / (st.w.sum() + eps), st)


def relaxed_biou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, tol=5, drop_bg=False, bg_index=0) -> torch.Tensor:
    """Relaxed BIoU: mIoU restricted to the ground-truth boundary band.

    Args:
        tol (int): Band half width (max-pool of size 2·tol+1).
        drop_bg (bool): The background class's boundary does not form the band.
        bg_index (int): Background class index.
    """
    st = _Stats(probs, label, ignore_index, weight)
    band = boundary_band(label, st.c, tol, drop_bg=drop_bg, bg_index=bg_index)
    w = st.w * band.to(st.w.dtype)
    inter, union, _ = _inter_union(probs, st, gs[0], gs[1], w)
    iou = inter.sum(0) / (union.sum(0) + eps)
    hard = st.hard_union(probs, w).sum(0) if class_reduction == 'present' else None
    return _finish(_reduce(iou, hard, class_reduction), st)


def soft_boundary(probs: torch.Tensor, gs: Sequence[GFn]) -> torch.Tensor:
    """BD(ỹ) = XOR(ỹ, erode(ỹ)) with g1, g2 (AND) and g3, g4 (OR) (SPEC §2.5)."""
    er = erode(probs)
    g1, g2, g3, g4 = gs
    return soft_or(probs, er, g3, g4) - soft_and(probs, er, g1, g2)


def relaxed_bf1(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                eps=1e-6, tol=5, drop_bg=False, bg_index=0) -> torch.Tensor:
    """Relaxed BF1: mean_c F1 of soft-boundary precision and recall.

    P_c = Σ BD(ỹ_c)·Dil(BD(y_c)) / Σ BD(ỹ_c), R_c = Σ Dil(BD(ỹ_c))·BD(y_c) /
    Σ BD(y_c), averaged over classes with a ground-truth boundary (class
    ``bg_index`` left out when ``drop_bg``). gs = (g1, g2, g3, g4).
    """
    st = _Stats(probs, label, ignore_index, weight)
    # As the evaluation metric: boundaries on the full maps (an ignored
    # label is no class; the prediction there is kept), counted at labelled
    # pixels only.
    pred_bd = soft_boundary(probs, gs)
    gt_bd = class_boundaries(label, st.c).to(probs.dtype)
    w = st.w[:, None]
    n_pred = torch.einsum('nchw,nhw->c', pred_bd, st.w)
    n_gt = (gt_bd * w).sum((0, 2, 3))
    match_p = torch.einsum('nchw,nchw->c', pred_bd * w, dilate(gt_bd, tol))
    match_r = torch.einsum('nchw,nchw->c', dilate(pred_bd, tol), gt_bd * w)
    p = match_p / (n_pred + eps)
    r = match_r / (n_gt + eps)
    f1 = 2 * p * r / (p + r + eps)
    present = n_gt > 0
    if drop_bg and 0 <= bg_index < st.c:
        present[bg_index] = False
    return _finish(_mean(f1, present), st)


def relaxed_miou_image(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                       eps=1e-6) -> torch.Tensor:
    """mIoU^I: per image the mean IoU over its classes, then the mean over images.

    'present': classes in the image's labels (SPEC §1); 'all': all classes.
    """
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, count = _inter_union(probs, st, gs[0], gs[1], st.w)
    iou = inter / (union + eps)  # (N, C)
    if class_reduction == 'all':
        return _finish(iou.mean(), st)
    present = count > 0
    per_image = _mean(iou, present, dim=1)
    return _finish(_mean(per_image, present.any(1)), st)


def relaxed_miou_class(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                       eps=1e-6) -> torch.Tensor:
    """mIoU^C: per class the mean IoU over images containing it, then over classes.

    'present': images whose labels contain the class (SPEC §1); 'all': all.
    """
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, count = _inter_union(probs, st, gs[0], gs[1], st.w)
    iou = inter / (union + eps)
    if class_reduction == 'all':
        return _finish(iou.mean(), st)
    present = count > 0
    per_class = _mean(iou, present, dim=0)
    return _finish(_mean(per_class, present.any(0)), st)


_FNS: Dict[str, Callable] = {
    'mIoU': relaxed_miou, 'FWIoU': relaxed_fwiou, 'mAcc': relaxed_macc, 'gAcc': relaxed_gacc,
    'BIoU': relaxed_biou, 'BF1': relaxed_bf1, 'mDice': relaxed_mdice,
    'mIoU_I': relaxed_miou_image, 'mIoU_C': relaxed_miou_class
}
_BOUNDARY = ('BIoU', 'BF1')


def relaxed_metric(probs: torch.Tensor, label: torch.Tensor, target_metric: str,
                   gs: Optional[Sequence[GFn]] = None, ignore_index: int = 255,
                   weight: Optional[torch.Tensor] = None, class_reduction: str = 'all',
                   eps: float = 1e-6, tol: int = 5, drop_bg: bool = False,
                   check_inputs: bool = True) -> torch.Tensor:
    """The relaxed ``target_metric`` of softmax ``probs`` against hard labels.

    Args:
        probs (Tensor): Class probabilities (N, C, H, W).
        label (Tensor): Integer labels (N, H, W); ``ignore_index`` excluded.
        target_metric (str): One of :data:`~.parameterization.METRICS`.
        gs (sequence of callables, optional): ``METRIC_NUM_G[target_metric]``
            g functions in layout order; ``None`` = identity (Eq. 8).
        ignore_index (int): Ignored label value.
        weight (Tensor, optional): Per-pixel weights (N, H, W).
        class_reduction (str): 'all' or 'present' (see module doc).
        eps (float): Added to denominators.
        tol (int): Boundary tolerance for BIoU/BF1.
        drop_bg (bool): Background option for BIoU/BF1.
        check_inputs (bool): Validate shapes and label values.

    Returns:
        Tensor: 0-d surrogate metric in [0, 1] (higher is better).
    """
    check_target_metric(target_metric)
    if class_reduction not in CLASS_REDUCTIONS:
        raise ValueError(f'class_reduction={class_reduction!r} is not supported; valid: '
                         f'{list(CLASS_REDUCTIONS)}')
    k = METRIC_NUM_G[target_metric]
    if gs is None:
        gs = [_identity] * k
    if len(gs) != k:
        raise ValueError(f'{target_metric} needs {k} g function(s), got {len(gs)}')
    if check_inputs:
        _check(probs, label, ignore_index, weight)
    kw = dict(tol=tol, drop_bg=drop_bg) if target_metric in _BOUNDARY else {}
    return _FNS[target_metric](probs, label, gs, ignore_index=ignore_index, weight=weight,
                               class_reduction=class_reduction, eps=eps, **kw)
