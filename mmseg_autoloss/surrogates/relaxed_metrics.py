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
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch.autograd.function import once_differentiable

from .boundary import (boundary_band, dilate_at, erode, erode_backward, label_edges,
                       or_dilate_bits, window_argmax)
from .fused import compiled, confusion_backward, confusion_forward, label_class_grad
from .fused_boundary import GROUP_BITS, FusedBoundaryF1Stats
from .parameterization import (CPU_BLOCK, METRIC_NUM_G, PiecewiseG, check_target_metric,
                               evaluate_packed)

__all__ = [
    'soft_and', 'soft_or', 'soft_xor', 'relaxed_metric', 'relaxed_miou', 'relaxed_fwiou',
    'relaxed_macc', 'relaxed_gacc', 'relaxed_biou', 'relaxed_bf1', 'relaxed_mdice',
    'relaxed_miou_image', 'relaxed_miou_class', 'soft_boundary', 'CLASS_REDUCTIONS',
    'COMPILABLE'
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
        # scatter_add: ~2.5x faster than index_add on CPU for these sizes
        out = values.new_zeros(self.n * self.c)
        return out.scatter_add(0, self.flat_idx, values.reshape(-1)).view(self.n, self.c)

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
            pc = w.new_zeros(self.n * self.c).scatter_add(0, pred_idx, w.reshape(-1))
            both = self.per_class(w * (pred == self.label).to(w.dtype))
            return self.per_class(w) + pc.view(self.n, self.c) - both


class _SoftConfusion(torch.autograd.Function):
    """Per (image, class) soft intersection and union, optionally from logits.

    inter[n, c] = Σ_{label=c} w·g_and(ỹ_c),
    union[n, c] = Σ w·g_or(ỹ_c) − Σ_{label=c} w·g_or(ỹ_c) + Σ_{label=c} w,
    with ỹ = softmax(scores) when ``from_logits`` else ỹ = scores.

    The (N, C, H·W) tensor is walked in cache-sized blocks of pixels with
    all classes (one block per image on GPUs): the g_or pass, its weighted
    sum and g_or'·w happen while the block is in cache, and the backward
    applies the union weights and the softmax Jacobian
    ``p ⊙ (∂ − Σ_c p_c ∂_c)`` the same way. Only ỹ and g_or'·w are kept for
    the backward; the autograd graph of the same expression streams the full
    tensor through memory about ten times (SPEC's formula unchanged, only the
    bookkeeping).

    ``count`` is Σ_{label=c} w (the caller has it). ``classes`` (optional)
    restricts the g pass to those channels: a class absent from the labels
    has inter = 0, so its IoU/Dice is 0 with zero gradient whatever its
    union, which is then left at 0.

    ``fused``: the g_or pass and the backward run as the compiled
    whole-tensor kernels of :mod:`.fused` instead (all classes).
    """

    @staticmethod
    def forward(ctx, scores, label, w, count, g_and, g_or, per_class, classes, from_logits,
                fused):
        need = ctx.needs_input_grad[0]
        n, c = scores.shape[:2]
        z = scores.contiguous().view(n, c, -1)
        hw = z.shape[2]
        lab, wf = label.reshape(n, 1, hw), w.reshape(n, hw)
        ctx.fused = fused
        if fused:
            or_g = g_or.packed(z.dtype, z.device)
            probs, or_sum, der_w, p_gt = compiled(confusion_forward)(z, lab, wf, *or_g,
                                                                      from_logits, need)
            p_gt = p_gt.view_as(label)
            a_val, a_der = compiled(evaluate_packed)(p_gt, *g_and.packed(z.dtype, z.device))
            o_gt_val, o_gt_der = compiled(evaluate_packed)(p_gt, *or_g)
        else:
            probs, or_sum, der_w, p_gt = _SoftConfusion._blocked_forward(
                z, lab, wf, g_or, classes, from_logits, need)
            p_gt = p_gt.view_as(label)
            a_val, a_der = _eval_g(g_and, p_gt, need)
            o_gt_val, o_gt_der = _eval_g(g_or, p_gt, need)
        inter = per_class(a_val * w)
        union = or_sum - per_class(o_gt_val * w) + count
        if need:
            ctx.save_for_backward(lab, w, probs if from_logits else None, der_w, a_der,
                                  o_gt_der, classes)
            ctx.from_logits, ctx.shape = from_logits, scores.shape
        return inter, union

    @staticmethod
    def _blocked_forward(z, lab, wf, g_or, classes, from_logits, need):
        """ỹ, Σ w·g_or(ỹ) (N, C), g_or'·w as flat tiles in block order, ỹ at
        the labels (N, 1, P), block by block."""
        n, c, hw = z.shape
        nc = c if classes is None else classes.numel()
        # One full softmax: its kernel vectorizes over the pixels, a block's
        # softmax over the strided class rows would copy them first.
        probs = _as_probs(z, from_logits)
        p_gt = z.new_empty(n, 1, hw)
        or_sum = z.new_zeros(n, nc)
        # g_or'·w block after block, each tile contiguous, read back in the
        # same order by the backward.
        der_w = z.new_empty(n * nc * hw) if need else None
        at = 0
        for im, px in _blocks(n, c, hw, z.device):
            pb = probs[im, :, px]
            torch.gather(pb, 1, lab[im, :, px], out=p_gt[im, :, px])
            sel = pb if classes is None else pb.index_select(1, classes)
            val, der = _eval_g(g_or, sel, need, scratch=True)
            _add_weighted_sums(or_sum[im], val, wf[im, px])
            if need:
                tile = der_w[at:at + der.numel()].view(der.shape)
                torch.mul(der, wf[im, None, px], out=tile)
                at += der.numel()
        if classes is not None:
            or_sum = or_sum.new_zeros(n, c).index_copy_(1, classes, or_sum)
        return probs, or_sum, der_w, p_gt

    @staticmethod
    @once_differentiable
    def backward(ctx, g_inter, g_union):
        lab, w, probs, der_w, a_der, o_gt_der, classes = ctx.saved_tensors
        n, c = ctx.shape[:2]
        hw = lab.shape[2]
        g_inter = der_w.new_zeros(n, c) if g_inter is None else g_inter
        g_union = der_w.new_zeros(n, c) if g_union is None else g_union
        a_der, o_gt_der, w = a_der.view(n, 1, hw), o_gt_der.view(n, 1, hw), w.view(n, 1, hw)
        if ctx.fused:
            grad = compiled(confusion_backward)(probs, der_w, g_inter, g_union, a_der,
                                                o_gt_der, w, lab)
            return (grad.view(ctx.shape),) + (None,) * 9
        nc = c if classes is None else classes.numel()
        g_sel = g_union if classes is None else g_union.index_select(1, classes)
        at_gt = label_class_grad(g_inter, g_union, a_der, o_gt_der, w, lab)
        grad = der_w.new_empty(n, c, hw)
        at = 0
        for im, px in _blocks(n, c, hw, der_w.device):
            gb = grad[im, :, px]
            size = gb.shape[0] * nc * gb.shape[2]
            tile = der_w[at:at + size].view(gb.shape[0], nc, gb.shape[2])
            at += size
            if classes is None:
                torch.mul(tile, g_sel[im, :, None], out=gb)
            else:
                gb.zero_().index_copy_(1, classes, tile * g_sel[im, :, None])
            gb.scatter_add_(1, lab[im, :, px], at_gt[im, :, px])
            if ctx.from_logits:  # softmax Jacobian: p ⊙ (∂ − Σ_c p_c ∂_c)
                pb = probs[im, :, px]
                gb.sub_((pb * gb).sum(1, keepdim=True)).mul_(pb)
        return (grad.view(ctx.shape),) + (None,) * 9


def _blocks(n: int, c: int, hw: int, device: torch.device):
    """(image slice, pixel slice) blocks of about CPU_BLOCK elements, all classes.

    Small images are grouped (several whole images per block), large ones
    cut into pixel chunks; on GPUs one block holds the whole batch.
    """
    if device.type != 'cpu':
        yield slice(0, n), slice(0, hw)
        return
    per_image = c * hw
    if per_image <= CPU_BLOCK:
        step = max(1, CPU_BLOCK // per_image)
        for i in range(0, n, step):
            yield slice(i, min(i + step, n)), slice(0, hw)
        return
    step = max(1, CPU_BLOCK // c)
    for i in range(n):
        for start in range(0, hw, step):
            yield slice(i, i + 1), slice(start, min(start + step, hw))


def _add_weighted_sums(acc: torch.Tensor, values: torch.Tensor, w: torch.Tensor) -> None:
    """acc (m, C) += Σ_pixels values (m, C, P) · w (m, P)."""
    acc.unsqueeze(-1).baddbmm_(values, w.unsqueeze(-1))


def _eval_g(g: GFn, y: torch.Tensor, need_grad: bool, scratch: Union[bool, str] = False):
    """(g(y), g'(y)) for a :class:`PiecewiseG`; plain callables via autograd."""
    if isinstance(g, PiecewiseG):
        return g._evaluate(y, need_grad, deriv_dtype=None,
                           scratch_value=scratch if y.dtype in (torch.float32, torch.float64)
                           else False)
    with torch.enable_grad():
        yy = y.detach().requires_grad_(need_grad)
        val = g(yy)
        der = torch.autograd.grad(val.sum(), yy)[0] if need_grad else None
    return val.detach(), der


def _fusable(compile: bool, gs: Sequence[GFn], scores: torch.Tensor) -> bool:
    """``compile=True`` can run: every g packs (:class:`PiecewiseG`) and the
    scores are float32/float64."""
    return (compile and all(isinstance(g, PiecewiseG) for g in gs)
            and scores.dtype in (torch.float32, torch.float64))


def _inter_union(scores: torch.Tensor, st: _Stats, g_and: GFn, g_or: GFn, w: torch.Tensor,
                 from_logits: bool = False, compile: bool = False
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft intersection, union and ground-truth count per (image, class).

    ``scores`` are probabilities, or logits when ``from_logits``. The union
    is exact for the classes in the labels; others may get 0 (see
    :class:`_SoftConfusion`), which no IoU/Dice value or gradient can see.
    ``compile`` runs the fused kernels (:mod:`.fused`) when both g's are
    :class:`PiecewiseG` and the scores are float32/float64.
    """
    count = st.gt_count(w)
    fused = _fusable(compile, (g_and, g_or), scores)
    classes = None if fused else _present_classes(count.sum(0) > 0)
    inter, union = _SoftConfusion.apply(scores, st.label, w.detach(), count.detach(), g_and,
                                        g_or, st.per_class, classes, from_logits, fused)
    return inter, union, count


def _as_probs(scores: torch.Tensor, from_logits: bool) -> torch.Tensor:
    if not from_logits:
        return scores
    if scores.device.type == 'cpu' and not (scores.requires_grad and torch.is_grad_enabled()):
        # ATen's CPU log_softmax over the strided class dim is ~1.7x faster
        # than its softmax; exp of it is the same ỹ to a few ulp
        return torch.log_softmax(scores, 1).exp_()
    return torch.softmax(scores, 1)


def _present_classes(present: torch.Tensor) -> Optional[torch.Tensor]:
    """Indices of the present classes, or None to compute all of them.

    Skipping a class saves its g pass but costs a gather and a scatter of
    the others; it pays once a quarter of the classes are absent.
    """
    if 4 * int(present.sum()) > 3 * present.numel():
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
#    eps=1e-6, **metric options, from_logits=False[, compile=False]) -> 0-d tensor
# probs: softmax probabilities (N, C, H, W), or logits with from_logits;
# label: (N, H, W) integer.
# gs: the metric's g functions in layout order.
# --------------------------------------------------------------------------
def relaxed_miou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, from_logits=False, compile=False) -> torch.Tensor:
    """Relaxed mIoU: mean_c Σ AND(ỹ_c, y_c) / Σ OR(ỹ_c, y_c). gs = (g_and, g_or)."""
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, _ = _inter_union(probs, st, gs[0], gs[1], st.w, from_logits, compile)
    iou = inter.sum(0) / (union.sum(0) + eps)
    hard = st.hard_union(probs, st.w).sum(0) if class_reduction == 'present' else None
    return _finish(_reduce(iou, hard, class_reduction), st)


def relaxed_mdice(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                  eps=1e-6, from_logits=False, compile=False) -> torch.Tensor:
    """Relaxed mDice: 2·AND / (|ỹ_c| + |y_c|) with |ỹ_c| + |y_c| = AND + OR."""
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, _ = _inter_union(probs, st, gs[0], gs[1], st.w, from_logits, compile)
    i, u = inter.sum(0), union.sum(0)
    dice = 2 * i / (i + u + eps)
    hard = st.hard_union(probs, st.w).sum(0) if class_reduction == 'present' else None
    return _finish(_reduce(dice, hard, class_reduction), st)


def relaxed_fwiou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                  eps=1e-6, from_logits=False, compile=False) -> torch.Tensor:
    """Relaxed FWIoU: Σ_c freq_c·IoU_c, freq from the labels (no class mean)."""
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, count = _inter_union(probs, st, gs[0], gs[1], st.w, from_logits, compile)
    count = count.sum(0)
    iou = inter.sum(0) / (union.sum(0) + eps)
    return _finish((count * iou).sum() / (count.sum() + eps), st)


def relaxed_macc(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, from_logits=False) -> torch.Tensor:
    """Relaxed mAcc: mean_c Σ AND(ỹ_c, y_c) / Σ y_c. gs = (g_and,)."""
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight)
    inter = st.per_class(gs[0](st.at_label(probs)) * st.w).sum(0)
    count = st.gt_count().sum(0)
    return _finish(_reduce(inter / (count + eps), count, class_reduction), st)


def relaxed_gacc(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, from_logits=False) -> torch.Tensor:
    """Relaxed gAcc (MMSeg's aAcc): Σ AND(ỹ, y) / Σ y. gs = (g_and,)."""
    probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight)
    inter = (gs[0](st.at_label(probs)) * st.w).sum()
    return _finish(inter / (st.w.sum() + eps), st)


def relaxed_biou(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                 eps=1e-6, tol=5, drop_bg=False, bg_index=0, from_logits=False,
                 compile=False
                 ) -> torch.Tensor:
    """Relaxed BIoU: mIoU restricted to the ground-truth boundary band.

    Args:
        tol (int): Band half width (max-pool of size 2·tol+1).
        drop_bg (bool): The background class's boundary does not form the band.
        bg_index (int): Background class index.
    """
    st = _Stats(probs, label, ignore_index, weight)
    band = boundary_band(label, st.c, tol, drop_bg=drop_bg, bg_index=bg_index)
    w = st.w * band.to(st.w.dtype)
    inter, union, _ = _inter_union(probs, st, gs[0], gs[1], w, from_logits, compile)
    iou = inter.sum(0) / (union.sum(0) + eps)
    hard = st.hard_union(probs, w).sum(0) if class_reduction == 'present' else None
    return _finish(_reduce(iou, hard, class_reduction), st)


def _xor_block(gs: Sequence[GFn], a: torch.Tensor, b: torch.Tensor, e: torch.Tensor,
               da: Optional[torch.Tensor], db: Optional[torch.Tensor]) -> None:
    """XOR(a, b) = h_OR − h_AND with four g's on one block, into e (and da, db).

    e = g3(a) + g4(b) − g3(a)·g4(b) − g1(a)·g2(b);
    de/da = g3'(a)(1 − g4(b)) − g1'(a) g2(b), de/db = g4'(b)(1 − g3(a)) − g2'(b) g1(a).
    """
    need = da is not None
    v1, d1 = _eval_g(gs[0], a, need, scratch='xor_a')
    v2, d2 = _eval_g(gs[1], b, need, scratch='xor_b')
    torch.mul(v1, v2, out=e).neg_()
    if need:
        torch.mul(d1, v2, out=da).neg_()
        torch.mul(d2, v1, out=db).neg_()
    v3, d3 = _eval_g(gs[2], a, need, scratch='xor_a')
    v4, d4 = _eval_g(gs[3], b, need, scratch='xor_b')
    if need:
        da.addcmul_(d3, v4, value=-1).add_(d3)
        db.addcmul_(d4, v3, value=-1).add_(d4)
    # g3 + g4 − g3·g4 = g3 + g4·(1 − g3); v3, v4 are ours (scratch) or fresh
    e.add_(v3).add_(v4 * (1 - v3))


class _SoftXor(torch.autograd.Function):
    """XOR(a, b) with four g's (:func:`_xor_block`), walked in cache-sized
    blocks on CPU; keeps two full-size tensors for the backward instead of
    eight."""

    @staticmethod
    def forward(ctx, a, b, g1, g2, g3, g4):
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        # one flat "image" of one channel: _blocks cuts it into flat chunks
        af, bf = a.reshape(1, 1, -1), b.reshape(1, 1, -1)
        e = torch.empty_like(af)
        da, db = (torch.empty_like(af), torch.empty_like(bf)) if need else (None, None)
        for im, px in _blocks(1, 1, af.shape[2], a.device):
            _xor_block((g1, g2, g3, g4), af[im, :, px], bf[im, :, px], e[im, :, px],
                       None if da is None else da[im, :, px],
                       None if db is None else db[im, :, px])
        if need:
            ctx.save_for_backward(da.view_as(a), db.view_as(b))
        return e.view_as(a)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        da, db = ctx.saved_tensors
        return grad * da, grad * db, None, None, None, None


class _BoundaryF1Stats(torch.autograd.Function):
    """The sums of the relaxed BF1 from ỹ, fused per block.

    With e = BD(ỹ) = XOR(ỹ, erode(ỹ)) (:func:`_xor_block`), per channel:
    ``n_pred = Σ w·e``, ``match_p = Σ w·near·e`` (near: the dilated GT
    boundary, as bit maps) and, at the K GT boundary positions ``at``,
    ``Dil(e)`` (the window maximum, :func:`~.boundary.window_argmax`).
    Blocks of pixels with all channels stay in cache while e, its two
    partial derivatives and both sums are formed. The backward walks whole
    planes: ``(∂n + near·∂p)·w·(de/da, de/db)``, the K sparse recall terms
    and the erosion's backward, into one full-size gradient.
    """

    @staticmethod
    def forward(ctx, a, w, near_bits, at, tol, gs):
        need = ctx.needs_input_grad[0]
        a = a.contiguous()
        n, k = a.shape[:2]
        hw = a[0, 0].numel()
        A, B = a.view(n, k, hw), erode(a.detach()).view(n, k, hw)
        e = torch.empty_like(A)
        da, db = (torch.empty_like(A), torch.empty_like(B)) if need else (None, None)
        n_pred, match_p = A.new_zeros(n, k), A.new_zeros(n, k)
        for im, px in _blocks(n, k, hw, a.device):
            eb = e[im, :, px]
            _xor_block(gs, A[im, :, px], B[im, :, px], eb,
                       None if da is None else da[im, :, px], None if db is None else db[im, :, px])
            _add_weighted_sums(n_pred[im], eb, w[im, px])
            near = _bit_rows(near_bits[:, im, px], k, e.dtype).movedim(0, 1)
            _add_weighted_sums(match_p[im], near.mul_(eb), w[im, px])
        winner = window_argmax(e.view(a.shape), at, tol)
        at_max = e.view(-1)[winner]
        if need:
            ctx.save_for_backward(a, w, near_bits, winner, da, db)
        return n_pred.sum(0), match_p.sum(0), at_max

    @staticmethod
    @once_differentiable
    def backward(ctx, g_n, g_p, g_at):
        a, w, near_bits, winner, da, db = ctx.saved_tensors
        n, k, hw = da.shape
        g_n = da.new_zeros(k) if g_n is None else g_n
        g_p = da.new_zeros(k) if g_p is None else g_p
        grad = torch.empty_like(da)
        if g_at is not None and winner.numel():  # the K recall terms, by position
            order = winner.argsort()
            win = winner[order]
            sparse = ((g_at * da.view(-1)[winner])[order], (g_at * db.view(-1)[winner])[order])
        else:
            win = None
        # Blocks of whole planes: the erosion's backward mixes neighbouring
        # pixels of a plane, never planes.
        step = max(1, CPU_BLOCK // hw) if da.device.type == 'cpu' else k
        for i in range(n):
            for c0 in range(0, k, step):
                c1 = min(c0 + step, k)
                ga = grad[i, c0:c1]
                gb = _bit_rows(near_bits[:, i], k, da.dtype, c0, c1)
                gb.mul_(g_p[c0:c1, None]).add_(g_n[c0:c1, None]).mul_(w[i])
                torch.mul(gb, da[i, c0:c1], out=ga)
                gb.mul_(db[i, c0:c1])
                if win is not None:
                    start = (i * k + c0) * hw
                    lo, hi = torch.searchsorted(
                        win, torch.tensor([start, start + (c1 - c0) * hw], device=win.device)
                    ).tolist()
                    if hi > lo:
                        local = win[lo:hi] - start
                        ga.view(-1).index_add_(0, local, sparse[0][lo:hi])
                        gb.view(-1).index_add_(0, local, sparse[1][lo:hi])
                erode_backward(a[i, c0:c1], gb.view(a[i, c0:c1].shape),
                               accumulate=ga.view(a[i, c0:c1].shape))
        return grad.view(a.shape), None, None, None, None, None


_BITS = 63  # channels per int64 bit map


def _channel_bits(channel_map: torch.Tensor, k: int, tol: int, per_group: int = _BITS,
                  dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """Dilated one-bit-per-channel maps, (G, N, H·W) with G = ⌈k / per_group⌉.

    ``channel_map`` (N, H, W) holds a channel in [0, k) or -1 (none); bit j
    of group g is set within ``tol`` of a pixel of channel per_group·g + j.
    """
    groups = []
    for start in range(0, k, per_group):
        rel = (channel_map - start).to(dtype)
        inside = (rel >= 0) & (rel < min(per_group, k - start))
        bits = torch.where(inside, torch.ones_like(rel) << rel.clamp(0, per_group - 1),
                           torch.zeros_like(rel))
        groups.append(or_dilate_bits(bits, tol).flatten(1))
    return torch.stack(groups)


def _bit_rows(bits: torch.Tensor, k: int, dtype: torch.dtype, start: int = 0,
              stop: Optional[int] = None) -> torch.Tensor:
    """(G, *S) bit maps -> float 0/1 maps (stop - start, *S) of channels
    ``start:stop`` (default: all k)."""
    stop = k if stop is None else stop
    rows = []
    for g in range(start // _BITS, (stop - 1) // _BITS + 1):
        lo, hi = max(start, g * _BITS), min(stop, (g + 1) * _BITS)
        shifts = torch.arange(lo - g * _BITS, hi - g * _BITS, device=bits.device)
        rows.append((bits[g][None] >> shifts.view(-1, *[1] * (bits.dim() - 1))) & 1)
    return (rows[0] if len(rows) == 1 else torch.cat(rows)).to(dtype)


def _boundary_targets(label: torch.Tensor, valid: torch.Tensor, w: torch.Tensor,
                      safe_label: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Weights of the GT boundary pixels (0 elsewhere) and their class (-1
    elsewhere), (N, H, W) each."""
    edge = label_edges(label) & valid
    return w * edge.to(w.dtype), torch.where(edge, safe_label, torch.full_like(safe_label, -1))


def soft_boundary(probs: torch.Tensor, gs: Sequence[GFn]) -> torch.Tensor:
    """BD(ỹ) = XOR(ỹ, erode(ỹ)) with g1, g2 (AND) and g3, g4 (OR) (SPEC §2.5)."""
    er = erode(probs)
    if all(isinstance(g, PiecewiseG) for g in gs):
        return _SoftXor.apply(probs, er, *gs)
    return soft_xor(probs, er, gs[:2], gs[2:])


def relaxed_bf1(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                eps=1e-6, tol=5, drop_bg=False, bg_index=0, from_logits=False,
                compile=False) -> torch.Tensor:
    """Relaxed BF1: mean_c F1 of soft-boundary precision and recall.

    P_c = Σ BD(ỹ_c)·Dil(BD(y_c)) / Σ BD(ỹ_c), R_c = Σ Dil(BD(ỹ_c))·BD(y_c) /
    Σ BD(y_c), averaged over classes with a ground-truth boundary (class
    ``bg_index`` left out when ``drop_bg``). gs = (g1, g2, g3, g4).
    ``compile``: the soft boundary and its sums as compiled kernels
    (:class:`~.fused_boundary.FusedBoundaryF1Stats`, all channels: the C++
    kernel on the CPU, ``torch.compile`` elsewhere) when all four g's are
    :class:`PiecewiseG` and the input is float32/float64.
    """
    fused = _fusable(compile, gs, probs)
    if not fused:  # the compiled kernels take the logits
        probs = _as_probs(probs, from_logits)
    st = _Stats(probs, label, ignore_index, weight)
    # As the evaluation metric: boundaries on the full maps (an ignored
    # label is no class; the prediction there is kept), counted at labelled
    # pixels only. A GT boundary pixel is in BD(y_c) of its own class c
    # only, so the GT side is a list of pixels, not C maps.
    w_edge, gt_class = _boundary_targets(label, st.valid, st.w, st.label)
    n_gt_all = st.per_class(w_edge).sum(0)
    present = n_gt_all > 0
    if drop_bg and 0 <= bg_index < st.c:
        present[bg_index] = False
    if not bool(present.any()):  # no class to average: metric 1, graph kept
        return probs.sum() * 0 + 1
    # Classes left out of the mean need no boundary at all: every operator
    # here works per channel, so only the averaged channels need computing
    # (worth a copy once a quarter of them are left out).
    classes = None if fused else _present_classes(present)
    if classes is None:
        classes = torch.arange(st.c, device=label.device)
        gt_channel = gt_class
    else:
        probs = probs.index_select(1, classes)
        present = present[classes]
        channel = torch.full((st.c,), -1, dtype=torch.long, device=label.device)
        channel[classes] = torch.arange(classes.numel(), device=label.device)
        gt_channel = torch.where(gt_class >= 0, channel[gt_class.clamp(min=0)], gt_class)
    n, k, h, wd = probs.shape
    # Recall reads Dil(BD(ỹ_c)) only at the GT boundary pixels of class c;
    # precision needs Dil(BD(y_c)), dilated for all channels at once as bits
    # (no gradient flows into the labels).
    pos = ((gt_channel >= 0) & (w_edge > 0)).flatten().nonzero().flatten()
    ch = gt_channel.flatten().take(pos)
    w_at = w_edge.flatten().take(pos)
    at = (pos.div(h * wd, rounding_mode='floor') * k + ch) * (h * wd) + pos.remainder(h * wd)
    if fused:
        n_pred, match_p, at_max = FusedBoundaryF1Stats.apply(
            probs, st.w.detach(), _channel_bits(gt_channel, k, tol, GROUP_BITS, torch.int32).view(
                -1, n, h, wd), at, tol, tuple(gs), from_logits)
    elif all(isinstance(g, PiecewiseG) for g in gs):
        n_pred, match_p, at_max = _BoundaryF1Stats.apply(
            probs, st.w.detach().flatten(1), _channel_bits(gt_channel, k, tol), at, tol,
            tuple(gs))
    else:  # plain callables: the same sums through autograd
        pred_bd = soft_boundary(probs, gs)
        near = _bit_rows(_channel_bits(gt_channel, k, tol).flatten(1), k,
                         pred_bd.dtype).view(k, n, -1).transpose(0, 1)
        e = pred_bd.flatten(2)
        n_pred = torch.einsum('nch,nh->c', e, st.w.flatten(1))
        match_p = torch.einsum('nch,nch->c', e, near * st.w.flatten(1)[:, None])
        at_max = dilate_at(pred_bd, at, tol)
    match_r = probs.new_zeros(k).index_add(0, ch, at_max * w_at)
    n_gt = n_gt_all[classes]
    p = match_p / (n_pred + eps)
    r = match_r / (n_gt + eps)
    return _finish((2 * p * r / (p + r + eps))[present].mean(), st)


def relaxed_miou_image(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                       eps=1e-6, from_logits=False, compile=False) -> torch.Tensor:
    """mIoU^I: per image the mean IoU over its classes, then the mean over images.

    'present': classes in the image's labels (SPEC §1); 'all': all classes.
    """
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, count = _inter_union(probs, st, gs[0], gs[1], st.w, from_logits, compile)
    iou = inter / (union + eps)  # (N, C)
    if class_reduction == 'all':
        return _finish(iou.mean(), st)
    present = count > 0
    per_image = _mean(iou, present, dim=1)
    return _finish(_mean(per_image, present.any(1)), st)


def relaxed_miou_class(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
                       eps=1e-6, from_logits=False, compile=False) -> torch.Tensor:
    """mIoU^C: per class the mean IoU over images containing it, then over classes.

    'present': images whose labels contain the class (SPEC §1); 'all': all.
    """
    st = _Stats(probs, label, ignore_index, weight)
    inter, union, count = _inter_union(probs, st, gs[0], gs[1], st.w, from_logits, compile)
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
# Metrics with compiled kernels (``compile=True``): the soft confusion, the
# soft boundary.
COMPILABLE = ('mIoU', 'FWIoU', 'mDice', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C')


def relaxed_metric(probs: torch.Tensor, label: torch.Tensor, target_metric: str,
                   gs: Optional[Sequence[GFn]] = None, ignore_index: int = 255,
                   weight: Optional[torch.Tensor] = None, class_reduction: str = 'all',
                   eps: float = 1e-6, tol: int = 5, drop_bg: bool = False,
                   check_inputs: bool = True, from_logits: bool = False,
                   compile: bool = False) -> torch.Tensor:
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
        from_logits (bool): ``probs`` holds logits; the softmax is taken
            here (for the IoU family its backward is applied inside the
            blocked g pass, cheaper than a separate ``softmax``).
        compile (bool): With :class:`PiecewiseG` g's, run the IoU family's
            (mIoU, FWIoU, mDice, BIoU, mIoU_I, mIoU_C) soft confusion
            (:mod:`.fused`) or BF1's soft boundary (:mod:`.fused_boundary`;
            on the CPU the C++ kernel of :mod:`.native_boundary`) as compiled
            kernels: same values, about half the time on CPU (BF1: a third),
            seconds of compilation per input shape (BF1 on the CPU: once per
            machine). mAcc and gAcc ignore it.

    Returns:
        Tensor: 0-d surrogate metric in [0, 1] (higher is better); float32
        for half-precision input, which is computed in float32.
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
    # Half precision would lose the small counts and the g inversion: the
    # surrogate runs in float32 (float64 stays) whatever the autocast state;
    # the gradient flows back through the cast.
    if probs.dtype in (torch.float16, torch.bfloat16):
        probs = probs.float()
    if weight is not None and weight.dtype != probs.dtype:
        weight = weight.to(probs.dtype)
    kw = dict(tol=tol, drop_bg=drop_bg) if target_metric in _BOUNDARY else {}
    if target_metric in COMPILABLE:
        kw['compile'] = compile
    with torch.autocast(device_type=probs.device.type, enabled=False):
        return _FNS[target_metric](probs, label, gs, ignore_index=ignore_index, weight=weight,
                                   class_reduction=class_reduction, eps=eps,
                                   from_logits=from_logits, **kw)
