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
from torch.autograd.function import once_differentiable

from .boundary import boundary_band, class_boundaries, dilate, erode
from .parameterization import METRIC_NUM_G, PiecewiseG, check_target_metric

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
            # argmax over a strided class dim is ~2x slower on CPU than over
            # a contiguous last dim, copy included
            pred = (probs.argmax(1) if probs.device.type != 'cpu' else
                    probs.permute(0, 2, 3, 1).contiguous().argmax(-1))
            offs = torch.arange(self.n, device=pred.device).view(self.n, 1, 1) * self.c
            pred_idx = (pred + offs).reshape(-1)
            pc = w.new_zeros(self.n * self.c).index_add(0, pred_idx, w.reshape(-1))
            both = self.per_class(w * (pred == self.label).to(w.dtype))
            return self.per_class(w) + pc.view(self.n, self.c) - both


class _SoftConfusion(torch.autograd.Function):
    """Per (image, class) soft intersection and union, with a fused backward.

    inter[n, c] = Σ_{label=c} w·g_and(ỹ_c),
    union[n, c] = Σ w·g_or(ỹ_c) − Σ_{label=c} w·g_or(ỹ_c) + Σ_{label=c} w.
    The full (N, C, H, W) tensor is touched by one g evaluation and the
    gradient's two multiplies; the autograd graph of the same expression
    would add a gather/scatter, an einsum backward and three more full-size
    temporaries (SPEC's formula unchanged, only the bookkeeping).

    ``classes`` (optional) restricts the full g pass to those channels: a
    class absent from the labels has inter = 0, so its IoU/Dice is 0 with
    zero gradient whatever its union, which is then left at 0.
    """

    @staticmethod
    def forward(ctx, probs, label, w, g_and, g_or, per_class, classes):
        need = ctx.needs_input_grad[0]
        n, c = probs.shape[:2]
        idx = label[:, None]
        p_gt = probs.gather(1, idx)[:, 0]
        a_val, a_der = _eval_g(g_and, p_gt, need)
        o_gt_val, o_gt_der = _eval_g(g_or, p_gt, need)
        sel = probs if classes is None else probs.index_select(1, classes)
        o_val, o_der = _eval_g(g_or, sel, need, scratch=classes is None)
        if o_val.data_ptr() != probs.data_ptr():  # ours (not an identity g's input)
            or_sum = o_val.mul_(w[:, None]).sum((2, 3))
        else:
            or_sum = torch.einsum('nchw,nhw->nc', o_val, w)
        if classes is not None:
            or_sum = or_sum.new_zeros(n, c).index_copy_(1, classes, or_sum)
        inter = per_class(a_val * w)
        union = or_sum - per_class(o_gt_val * w) + per_class(w)
        if need:
            ctx.save_for_backward(idx, w, o_der, a_der, o_gt_der, classes)
            ctx.num_classes = c
        return inter, union

    @staticmethod
    @once_differentiable
    def backward(ctx, g_inter, g_union):
        idx, w, o_der, a_der, o_gt_der, classes = ctx.saved_tensors
        n, c = o_der.shape[0], ctx.num_classes
        g_inter = o_der.new_zeros(n, c) if g_inter is None else g_inter
        g_union = o_der.new_zeros(n, c) if g_union is None else g_union
        g_sel = g_union if classes is None else g_union.index_select(1, classes)
        grad = torch.mul(o_der, w[:, None]).mul_(g_sel[:, :, None, None])
        if classes is not None:
            grad = grad.new_zeros(n, c, *grad.shape[2:]).index_copy_(1, classes, grad)
        # The ground-truth class: + AND term, − the OR term counted above.
        at_gt = (g_inter.gather(1, idx.flatten(1)).view_as(a_der) * a_der -
                 g_union.gather(1, idx.flatten(1)).view_as(a_der) * o_gt_der) * w
        grad.scatter_add_(1, idx, at_gt[:, None])
        return grad, None, None, None, None, None, None


def _eval_g(g: GFn, y: torch.Tensor, need_grad: bool, scratch: bool = False):
    """(g(y), g'(y)) for a :class:`PiecewiseG`; plain callables via autograd."""
    if isinstance(g, PiecewiseG):
        return g._evaluate(y, need_grad, deriv_dtype=None,
                           scratch_value=scratch and y.dtype in (torch.float32, torch.float64))
    with torch.enable_grad():
        yy = y.detach().requires_grad_(need_grad)
        val = g(yy)
        der = torch.autograd.grad(val.sum(), yy)[0] if need_grad else None
    return val.detach(), der


def _inter_union(probs: torch.Tensor, st: _Stats, g_and: GFn, g_or: GFn,
                 w: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft intersection, union and ground-truth count per (image, class).

    The union is exact for the classes in the labels; others get 0 (see
    :class:`_SoftConfusion`), which no IoU/Dice value or gradient can see.
    """
    count = st.gt_count(w)
    classes = _present_classes(count.sum(0) > 0)
    inter, union = _SoftConfusion.apply(probs, st.label, w.detach(), g_and, g_or, st.per_class,
                                        classes)
    return inter, union, count


def _present_classes(present: torch.Tensor) -> Optional[torch.Tensor]:
    """Indices of the present classes, or None when all are (nothing to skip)."""
    if bool(present.all()):
        return None
    return present.nonzero().flatten()


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


class _SoftXor(torch.autograd.Function):
    """h_OR(a, b) − h_AND(a, b) with four g's, value and gradient in one go.

    e = g3(a) + g4(b) − g3(a)·g4(b) − g1(a)·g2(b);
    de/da = g3'(a)(1 − g4(b)) − g1'(a) g2(b), de/db = g4'(b)(1 − g3(a)) − g2'(b) g1(a).
    Keeps two full-size tensors for the backward instead of eight.
    """

    @staticmethod
    def forward(ctx, a, b, g1, g2, g3, g4):
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        v1, d1 = _eval_g(g1, a, need)
        v2, d2 = _eval_g(g2, b, need)
        v3, d3 = _eval_g(g3, a, need)
        v4, d4 = _eval_g(g4, b, need)
        one_m_v4 = torch.neg(v4).add_(1)
        if need:
            da = d3.mul_(one_m_v4).sub_(d1.mul_(v2))
            db = d4.mul_(torch.neg(v3).add_(1)).sub_(d2.mul_(v1))
            ctx.save_for_backward(da, db)
        return one_m_v4.mul_(v3).add_(v4).sub_(v1.mul_(v2))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        da, db = ctx.saved_tensors
        return grad * da, grad * db, None, None, None, None


def soft_boundary(probs: torch.Tensor, gs: Sequence[GFn]) -> torch.Tensor:
    """BD(ỹ) = XOR(ỹ, erode(ỹ)) with g1, g2 (AND) and g3, g4 (OR) (SPEC §2.5)."""
    er = erode(probs)
    if all(isinstance(g, PiecewiseG) for g in gs):
        return _SoftXor.apply(probs, er, *gs)
    return soft_xor(probs, er, gs[:2], gs[2:])


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
    gt_bd = class_boundaries(label, st.c).to(probs.dtype)
    w = st.w[:, None]
    present = (gt_bd * w).sum((0, 2, 3)) > 0
    if drop_bg and 0 <= bg_index < st.c:
        present[bg_index] = False
    # Classes left out of the mean need no boundary at all: every operator
    # here works per channel, so only the averaged channels are computed.
    classes = present.nonzero().flatten()
    if classes.numel() == 0:  # no class to average: metric 1, graph kept
        return probs.sum() * 0 + 1
    if classes.numel() < st.c:
        probs, gt_bd = probs.index_select(1, classes), gt_bd.index_select(1, classes)
    pred_bd = soft_boundary(probs, gs)
    n_pred = torch.einsum('nchw,nhw->c', pred_bd, st.w)
    n_gt = (gt_bd * w).sum((0, 2, 3))
    match_p = torch.einsum('nchw,nchw->c', pred_bd * w, dilate(gt_bd, tol))
    match_r = torch.einsum('nchw,nchw->c', dilate(pred_bd, tol), gt_bd * w)
    p = match_p / (n_pred + eps)
    r = match_r / (n_gt + eps)
    return _finish((2 * p * r / (p + r + eps)).mean(), st)


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
