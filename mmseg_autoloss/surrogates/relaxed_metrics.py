"""Relaxed (differentiable) segmentation metrics of Auto Seg-Loss.

Plain torch, no mmseg import. method.md §1–§2: the one-hot prediction becomes the
softmax ``ỹ`` and each logical operation gets its own g:
``AND(a, b) = g(a)·g(b)``, ``OR(a, b) = g(a) + g(b) − g(a)·g(b)``,
``XOR = OR − AND``. A ground-truth operand is 0/1 and g keeps it (g(0) = 0,
g(1) = 1), so for a pixel of class ``l``:

- ``AND(ỹ_c, y_c) = g_and(ỹ_l)`` if ``c == l`` else 0,
- ``OR(ỹ_c, y_c) = 1`` if ``c == l`` else ``g_or(ỹ_c)``.

Intersections therefore need g only at the ground-truth class and unions
one full g pass summed per class: the paper's formula, not materialized
per class.

Statistics are summed over the batch per class (dataset-level, like the
metric); with ``sync=True`` also over the DDP ranks (:mod:`.sync`).
``class_reduction``:

- ``'all'``: mean over all C classes with ``eps`` in the denominators (the
  authors' release; an absent class scores 0);
- ``'present'``: mean over the classes whose denominator in the HARD metric is
  non-zero (IoU/Dice: in the labels or the argmax prediction; Acc: in the
  labels), so the surrogate equals the metric on one-hot input.

FWIoU and gAcc have no class mean; BF1 averages over classes with a
ground-truth boundary (method.md §1). mIoU_I / mIoU_C follow method.md §1 (classes
present in an image's labels). A batch without any valid pixel (or without
any class to average) gives metric 1, i.e. loss 0.

Ignored pixels (``ignore_index``) and pixel weights enter as a per-pixel
weight ``w`` on every count, except BF1's predicted-boundary counts, which
run over all pixels as the authors' evaluator does (method.md §1; see
:func:`relaxed_bf1`). Boundaries are found on the full maps, where an
ignored label is no class.

``compile=True`` runs the same functions through ``torch.compile`` (the g's
enter as tensors, so one graph serves every θ).
"""
import functools
from typing import Callable, Dict, Optional, Sequence

import torch

from ..boundary import boundary_band, class_boundaries, dilate_at, erode, valid_edges
from ..utils.masks import indicator
from ..utils.validate import DEFAULT_TOL, check_label_range
from .parameterization import PiecewiseG, apply_g
from .target_metrics import get_target_metric
from .sync import batch_sum

__all__ = [
    'soft_and', 'soft_or', 'soft_xor', 'soft_boundary', 'relaxed_metric', 'relaxed_miou',
    'relaxed_fwiou', 'relaxed_macc', 'relaxed_gacc', 'relaxed_biou', 'relaxed_bf1',
    'relaxed_mdice', 'relaxed_miou_image', 'relaxed_miou_class', 'check_labels',
    'CLASS_REDUCTIONS'
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


def _xor(a1: torch.Tensor, b2: torch.Tensor, a3: torch.Tensor, b4: torch.Tensor
         ) -> torch.Tensor:
    """OR(a3, b4) − AND(a1, b2) of the g'd operands."""
    return torch.add(a3, b4).addcmul_(a3, b4, value=-1).addcmul_(a1, b2, value=-1)


class _SoftXor(torch.autograd.Function):
    """:func:`soft_xor` of four :class:`PiecewiseG` with both partial
    derivatives formed in the forward pass: the backward is two products and
    two tensors are kept, instead of the g's slopes and values and the
    autograd graph of the products."""

    @staticmethod
    def forward(ctx, a, b, g1, g2, g3, g4):
        (a1, s1), (b2, s2), (a3, s3), (b4, s4) = (
            g.value_and_slope(x) for g, x in ((g1, a), (g2, b), (g3, a), (g4, b)))
        # ∂/∂a = g3'(a)·(1 − g4(b)) − g1'(a)·g2(b), ∂/∂b likewise
        ctx.save_for_backward(s3.addcmul_(s3, b4, value=-1).addcmul_(s1, b2, value=-1),
                              s4.addcmul_(s4, a3, value=-1).addcmul_(s2, a1, value=-1))
        return _xor(a1, b2, a3, b4).to(a.dtype)

    @staticmethod
    def backward(ctx, grad):
        da, db = ctx.saved_tensors
        return (grad * da).to(grad.dtype), (grad * db).to(grad.dtype), None, None, None, None


def soft_xor(a: torch.Tensor, b: torch.Tensor, g_and: Sequence[GFn] = (_identity, _identity),
             g_or: Sequence[GFn] = (_identity, _identity)) -> torch.Tensor:
    """h_XOR = h_OR − h_AND, each with its own pair of g's (one per operand)."""
    g1, g2 = g_and
    g3, g4 = g_or
    gs = (g1, g2, g3, g4)
    if (all(isinstance(g, PiecewiseG) for g in gs) and torch.is_grad_enabled()
            and (a.requires_grad or b.requires_grad) and not torch.compiler.is_compiling()):
        return _SoftXor.apply(a, b, *gs)
    return _xor(g1(a), g2(b), g3(a), g4(b))


def soft_boundary(probs: torch.Tensor, gs: Sequence[GFn]) -> torch.Tensor:
    """BD(ỹ) = XOR(ỹ, erode(ỹ)) with g1, g2 (AND) and g3, g4 (OR) (method.md §2, BF1)."""
    return soft_xor(probs, erode(probs), gs[:2], gs[2:])


# --------------------------------------------------------------------------
# Shared statistics
# --------------------------------------------------------------------------
def _check_shapes(probs: torch.Tensor, label: torch.Tensor,
                  weight: Optional[torch.Tensor]) -> None:
    if probs.dim() != 4:
        raise ValueError(f'probs must be (N, C, H, W), got shape {tuple(probs.shape)}')
    n, c, h, w = probs.shape
    if tuple(label.shape) != (n, h, w):
        raise ValueError(f'label shape {tuple(label.shape)} does not match probs shape '
                         f'{tuple(probs.shape)} (expected {(n, h, w)})')
    if label.dtype.is_floating_point or label.dtype == torch.bool:
        raise ValueError(f'label must be an integer tensor, got {label.dtype}')
    if weight is not None and tuple(weight.shape[-2:]) != (h, w):
        raise ValueError(f'weight shape {tuple(weight.shape)} does not match label shape '
                         f'{(n, h, w)}')


def check_labels(label: torch.Tensor, num_classes: int, ignore_index: int) -> None:
    """Raise naming the label values outside ``[0, C)`` and not ignore_index.

    Reads the labels on the host: called once or on request, not per step.
    """
    check_label_range(label, num_classes, ignore_index)


class _Stats:
    """Per-pixel weights, labels and per-class sums of one batch."""

    def __init__(self, probs: torch.Tensor, label: torch.Tensor, ignore_index: int,
                 weight: Optional[torch.Tensor], sync: bool):
        n, c = probs.shape[:2]
        self.n, self.c, self.sync = n, c, sync
        self._valid = self._label = None
        self.weight = None if weight is None else weight.reshape(label.shape).to(probs.dtype)
        # Eagerly the labels become floats (exact for class indices; every
        # other value stays on its side of 0 and c) compared into 0/1 floats,
        # on a CPU several times cheaper than int64 or bool tensors, and a
        # 0/1 class mask (N, C, H, W), 0 on ignored pixels, replaces the label
        # gathers and scatters by products and sums (vectorized, gradients
        # included). Inductor does better with integer labels, the gathers
        # and an einsum (measured slower with the float form).
        self.masked = not torch.compiler.is_compiling()
        if self.masked:
            lab = label.to(probs.dtype)
            self.valid01 = indicator(torch.ge, lab, 0.0).mul_(indicator(torch.lt, lab, float(c)))
            if 0 <= ignore_index < c:
                self.valid01.mul_(indicator(torch.ne, lab, float(ignore_index)))
            self.labf = torch.addcmul(self.valid01 - 1, lab, self.valid01)  # the class, or -1
            classes = torch.arange(c, device=label.device, dtype=probs.dtype).view(1, c, 1, 1)
            self.mask = indicator(torch.eq, self.labf[:, None], classes)
        else:
            self._valid = (label != ignore_index) & (label >= 0) & (label < c)
            self._label = (label * self._valid).long()  # ignored pixels -> class 0 (weight 0)
            self.valid01 = self._valid.to(probs.dtype)
            offs = torch.arange(n, device=label.device).view(n, 1, 1) * c
            self.flat_idx = (self._label + offs).reshape(-1)
        self.w = self.valid01 if self.weight is None else self.valid01 * self.weight

    # eagerly built on first use (functools.cached_property takes a lock,
    # which would break torch.compile's graph)
    @property
    def valid(self) -> torch.Tensor:
        """Bool (N, H, W): the pixels of a class (not ignored)."""
        if self._valid is None:
            self._valid = self.valid01 > 0
        return self._valid

    @property
    def label(self) -> torch.Tensor:
        """int64 (N, H, W) labels, ignored pixels as class 0 (weight 0)."""
        if self._label is None:
            self._label = self.labf.clamp(min=0).long()
        return self._label

    def at_weight(self, w: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) per-pixel weights ``w`` at the pixels of each class
        (masked path)."""
        if w is self.w and self.weight is None:
            return self.mask  # w is the 0/1 valid mask, already in the class mask
        return self.mask * w[:, None]

    def per_class(self, values: torch.Tensor, index: Optional[torch.Tensor] = None
                  ) -> torch.Tensor:
        """Sum per-pixel values (N, H, W) into (N, C) by class (default: the label)."""
        if index is None and self.masked:
            return self.at_weight(values).sum((2, 3))
        idx = self.flat_idx if index is None else index
        out = values.new_zeros(self.n * self.c)
        return out.scatter_add(0, idx, values.reshape(-1)).view(self.n, self.c)

    def at_label(self, x: torch.Tensor) -> torch.Tensor:
        """x[n, label[n, h, w], h, w] for a (N, C, H, W) tensor (any value on
        ignored pixels: the callers weight them 0)."""
        if self.masked:
            return (x * self.mask).sum(1)
        return x.gather(1, self.label[:, None])[:, 0]

    def total(self, x: torch.Tensor, dim=0) -> torch.Tensor:
        """Sum over the images (and ranks with ``sync``)."""
        return batch_sum(x, dim, self.sync)

    def hard_union(self, probs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(N, C) union of the argmax prediction and the labels (no grad)."""
        with torch.no_grad():
            pred = probs.argmax(1)
            offs = torch.arange(self.n, device=pred.device).view(self.n, 1, 1) * self.c
            pc = self.per_class(w, (pred + offs).reshape(-1))
            both = self.per_class(w * (pred == self.label).to(w.dtype))
            return self.per_class(w) + pc - both


def _confusion(probs: torch.Tensor, st: _Stats, g_and: GFn, g_or: GFn, w: torch.Tensor):
    """Soft intersection, union and ground-truth count per (image, class)."""
    # union: Σ_{label≠c} w·g_or(ỹ_c) + Σ_{label=c} w. (The order of the
    # terms is the one inductor schedules best, measured.)
    if st.masked:
        w_at = st.at_weight(w)
        inter = (g_and(st.at_label(probs))[:, None] * w_at).sum((2, 3))
        or_all = g_or(probs)
        count = w_at.sum((2, 3))
        union = (or_all * (w[:, None] - w_at)).sum((2, 3))
    else:
        inter = st.per_class(g_and(st.at_label(probs)) * w)
        or_all = g_or(probs)
        count = st.per_class(w)
        union = torch.einsum('nchw,nhw->nc', or_all, w) - st.per_class(st.at_label(or_all) * w)
    return inter, union + count, count


def _as_probs(scores: torch.Tensor, from_logits: bool) -> torch.Tensor:
    return torch.softmax(scores, 1) if from_logits else scores


def _mean(values: torch.Tensor, mask: torch.Tensor, dim=None) -> torch.Tensor:
    """Mean of ``values`` over ``mask``; an empty mask gives 1."""
    m = mask.to(values.dtype)
    k = m.sum() if dim is None else m.sum(dim)
    s = (values * m).sum() if dim is None else (values * m).sum(dim)
    return (s + (k == 0).to(values.dtype)) / k.clamp(min=1)


def _synced_mean(values: torch.Tensor, mask: torch.Tensor, st: _Stats) -> torch.Tensor:
    """Mean of all ``values`` over ``mask`` on every rank (``st.sync``); empty: 1."""
    m = mask.to(values.dtype)
    k = st.total(m.sum(), None)
    return (st.total((values * m).sum(), None) + (k == 0).to(values.dtype)) / k.clamp(min=1)


def _reduce(per_class: torch.Tensor, hard_den: Optional[torch.Tensor],
            class_reduction: str) -> torch.Tensor:
    if class_reduction == 'all':
        return per_class.mean()
    return _mean(per_class, hard_den > 0)


def _finish(value: torch.Tensor, st: _Stats) -> torch.Tensor:
    # No valid pixel (on any rank): nothing to score, metric 1 (loss 0).
    has = st.total(st.w.detach().sum((1, 2))) > 0
    return torch.where(has, value, torch.ones_like(value))


# --------------------------------------------------------------------------
# Metrics. Common signature:
#   (probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
#    eps=1e-6, [tol=5, drop_bg=False,] from_logits=False, sync=False) -> 0-d
# probs: softmax probabilities (N, C, H, W), or logits with from_logits;
# label: (N, H, W) integer; gs: the metric's g functions in layout order.
# --------------------------------------------------------------------------
def relaxed_miou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, from_logits=False, sync=False) -> torch.Tensor:
    """Relaxed mIoU: mean_c Σ AND(ỹ_c, y_c) / Σ OR(ỹ_c, y_c). gs = (g_and, g_or)."""
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight, sync)
    inter, union, _ = _confusion(probs, st, gs[0], gs[1], st.w)
    iou = st.total(inter) / (st.total(union) + eps)
    hard = st.total(st.hard_union(probs, st.w)) if class_reduction == 'present' else None
    return _finish(_reduce(iou, hard, class_reduction), st)


def relaxed_mdice(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                  eps=1e-6, from_logits=False, sync=False) -> torch.Tensor:
    """Relaxed mDice: 2·AND / (|ỹ_c| + |y_c|) with |ỹ_c| + |y_c| = AND + OR."""
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight, sync)
    inter, union, _ = _confusion(probs, st, gs[0], gs[1], st.w)
    i, u = st.total(inter), st.total(union)
    hard = st.total(st.hard_union(probs, st.w)) if class_reduction == 'present' else None
    return _finish(_reduce(2 * i / (i + u + eps), hard, class_reduction), st)


def relaxed_fwiou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                  eps=1e-6, from_logits=False, sync=False) -> torch.Tensor:
    """Relaxed FWIoU: Σ_c freq_c·IoU_c, freq from the labels (no class mean)."""
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight, sync)
    inter, union, count = _confusion(probs, st, gs[0], gs[1], st.w)
    count = st.total(count)
    iou = st.total(inter) / (st.total(union) + eps)
    return _finish((count * iou).sum() / (count.sum() + eps), st)


def relaxed_macc(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, from_logits=False, sync=False) -> torch.Tensor:
    """Relaxed mAcc: mean_c Σ AND(ỹ_c, y_c) / Σ y_c. gs = (g_and,)."""
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight, sync)
    inter = st.total(st.per_class(gs[0](st.at_label(probs)) * st.w))
    count = st.total(st.per_class(st.w))
    return _finish(_reduce(inter / (count + eps), count, class_reduction), st)


def relaxed_gacc(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, from_logits=False, sync=False) -> torch.Tensor:
    """Relaxed gAcc (MMSeg's aAcc): Σ AND(ỹ, y) / Σ y. gs = (g_and,)."""
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight, sync)
    inter = st.total((gs[0](st.at_label(probs)) * st.w).sum((1, 2)))
    return _finish(inter.sum() / (st.total(st.w.sum((1, 2))).sum() + eps), st)


def relaxed_biou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, tol=DEFAULT_TOL, drop_bg=False, bg_index=0, from_logits=False,
                 sync=False) -> torch.Tensor:
    """Relaxed BIoU: mIoU restricted to the ground-truth boundary band.

    Args:
        tol (int): Band half width (max-pool of size 2·tol+1).
        drop_bg (bool): The background class's boundary does not form the band.
        bg_index (int): Background class index.
    """
    # label-side first: under compile it runs eagerly without splitting the graph
    st = _Stats(probs, label, ignore_index, weight, sync)
    band = boundary_band(label, st.c, tol, drop_bg, bg_index, st.valid)
    probs = _as_probs(probs, from_logits)
    w = st.w * band.to(st.w.dtype)
    inter, union, _ = _confusion(probs, st, gs[0], gs[1], w)
    iou = st.total(inter) / (st.total(union) + eps)
    hard = st.total(st.hard_union(probs, w)) if class_reduction == 'present' else None
    return _finish(_reduce(iou, hard, class_reduction), st)


def relaxed_bf1(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                eps=1e-6, tol=DEFAULT_TOL, drop_bg=False, bg_index=0, from_logits=False,
                sync=False) -> torch.Tensor:
    """Relaxed BF1: mean_c F1 of soft-boundary precision and recall.

    P_c = Σ BD(ỹ_c)·Dil(BD(y_c)) / Σ BD(ỹ_c), R_c = Σ Dil(BD(ỹ_c))·BD(y_c) /
    Σ BD(y_c), averaged over classes with a ground-truth boundary (class
    ``bg_index`` left out when ``drop_bg``). gs = (g1, g2, g3, g4).

    As the authors' evaluator (method.md §1), the predicted boundary BD(ỹ_c) is
    counted over ALL pixels, ignored ones included (only a pixel ``weight``
    scales it): on PASCAL VOC the void band runs along every object
    boundary, and masking it would score a perfect prediction 0. The
    ground-truth boundary comes from the class masks, where an ignored
    pixel belongs to no class. Consequence for 255-padded crops: the
    prediction's boundary on the padding counts against precision unless
    the network predicts one class there.
    """
    st = _Stats(probs, label, ignore_index, weight, sync)
    gt_edge = valid_edges(label, st.c, st.valid)
    # Dil_tol(BD(y_c)) for every class (no gradient flows into labels)
    near = class_boundaries(label, st.c, tol, gt_edge).to(probs.dtype)
    probs = _as_probs(probs, from_logits)
    e = soft_boundary(probs, gs)
    pe = e if st.weight is None else e * st.weight[:, None]
    n_pred = st.total(pe.sum((2, 3)))
    match_p = st.total(torch.einsum('nchw,nchw->nc', pe, near))
    # a GT boundary pixel is in BD(y_c) of its own class only
    w_edge = st.w * gt_edge.to(st.w.dtype)
    match_r = st.total(st.per_class(dilate_at(e, st.label, tol) * w_edge))
    n_gt = st.total(st.per_class(w_edge))
    present = n_gt.detach() > 0
    if drop_bg and 0 <= bg_index < st.c:
        present = present & (torch.arange(st.c, device=label.device) != bg_index)
    p = match_p / (n_pred + eps)
    r = match_r / (n_gt + eps)
    return _finish(_mean(2 * p * r / (p + r + eps), present), st)


def relaxed_miou_image(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                       eps=1e-6, from_logits=False, sync=False) -> torch.Tensor:
    """mIoU^I: per image the mean IoU over its classes, then the mean over images.

    'present': classes in the image's labels (method.md §1); 'all': all classes.
    """
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight, sync)
    inter, union, count = _confusion(probs, st, gs[0], gs[1], st.w)
    iou = inter / (union + eps)  # (N, C)
    if class_reduction == 'all':
        return _finish(_synced_mean(iou, torch.ones_like(iou), st), st)
    present = count.detach() > 0
    return _finish(_synced_mean(_mean(iou, present, dim=1), present.any(1), st), st)


def relaxed_miou_class(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                       eps=1e-6, from_logits=False, sync=False) -> torch.Tensor:
    """mIoU^C: per class the mean IoU over images containing it, then over classes.

    'present': images whose labels contain the class (method.md §1); 'all': all.
    """
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight, sync)
    inter, union, count = _confusion(probs, st, gs[0], gs[1], st.w)
    iou = inter / (union + eps)
    if class_reduction == 'all':
        return _finish(_synced_mean(iou, torch.ones_like(iou), st), st)
    present = (count.detach() > 0).to(iou.dtype)
    images = st.total(present)
    return _finish(_mean(st.total(iou * present) / images.clamp(min=1), images > 0), st)


_COMPILED: Dict[Callable, Callable] = {}


def _compiled(fn: Callable) -> Callable:
    """``torch.compile`` of a metric's own function (one per function, so
    each has dynamo's recompile budget to itself). Static shapes: a training
    run has one crop size, and symbolic sizes in the boundary filters' index
    arithmetic make inductor's code generation very slow."""
    if fn not in _COMPILED:
        _COMPILED[fn] = torch.compile(fn, dynamic=False)
    return _COMPILED[fn]


def relaxed_metric(probs: torch.Tensor, label: torch.Tensor, target_metric: str,
                   gs: Optional[Sequence[GFn]] = None, ignore_index: int = 255,
                   weight: Optional[torch.Tensor] = None, class_reduction: str = 'all',
                   eps: float = 1e-6, tol: int = DEFAULT_TOL, drop_bg: bool = False,
                   check_inputs: bool = True, from_logits: bool = False,
                   compile: bool = False, sync: bool = False) -> torch.Tensor:
    """The relaxed ``target_metric`` of softmax ``probs`` against hard labels.

    Args:
        probs (Tensor): Class probabilities (N, C, H, W).
        label (Tensor): Integer labels (N, H, W); ``ignore_index`` excluded.
        target_metric (str): A registered target metric (:mod:`.metric_table`).
        gs (sequence of callables, optional): The metric's ``num_g``
            g functions in layout order; ``None`` = identity (Eq. 8).
        ignore_index (int): Ignored label value.
        weight (Tensor, optional): Per-pixel weights (N, H, W).
        class_reduction (str): 'all' or 'present' (see module doc).
        eps (float): Added to denominators.
        tol (int): Boundary tolerance for BIoU/BF1.
        drop_bg (bool): Background option for BIoU/BF1.
        check_inputs (bool): Validate the label values (reads them on the
            host; shapes are always checked).
        from_logits (bool): ``probs`` holds logits; the softmax is taken here.
        compile (bool): Run this function through ``torch.compile`` (needs
            a C++ compiler on CPU, Triton on CUDA; compiles once per metric,
            shape and dtype). Needs :class:`PiecewiseG` g's and float32/64
            input, else the eager path runs.
        sync (bool): Sum the statistics over the DDP ranks (:mod:`.sync`).

    Returns:
        Tensor: 0-d surrogate metric in [0, 1] (higher is better); float32
        for half-precision input, which is computed in float32.
    """
    entry = get_target_metric(target_metric)
    if class_reduction not in CLASS_REDUCTIONS:
        raise ValueError(f'class_reduction={class_reduction!r} is not supported; valid: '
                         f'{list(CLASS_REDUCTIONS)}')
    k = entry.num_g
    if gs is None:
        gs = [_identity] * k
    if len(gs) != k:
        raise ValueError(f'{target_metric} needs {k} g function(s), got {len(gs)}')
    _check_shapes(probs, label, weight)
    if check_inputs:
        check_labels(label, probs.shape[1], ignore_index)
    # Half precision would lose the small counts and the g inversion: the
    # surrogate runs in float32 whatever the autocast state; the gradient
    # flows back through the cast.
    if probs.dtype in (torch.float16, torch.bfloat16):
        probs = probs.float()
    if weight is not None and weight.dtype != probs.dtype:
        weight = weight.to(probs.dtype)
    kw = dict(ignore_index=ignore_index, weight=weight, class_reduction=class_reduction,
              eps=eps, from_logits=from_logits, sync=sync)
    if entry.boundary:
        kw.update(tol=tol, drop_bg=drop_bg)
    fn = entry.relaxed
    if compile and all(isinstance(g, PiecewiseG) for g in gs):
        fn = _compiled(fn)
        gs = [functools.partial(apply_g, consts=c, thresholds=t)
              for c, t in (g.packed(probs.dtype, probs.device) for g in gs)]
    with torch.autocast(device_type=probs.device.type, enabled=False):
        return fn(probs, label, gs, **kw)
