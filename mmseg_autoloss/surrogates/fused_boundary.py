"""Whole-tensor relaxed-BF1 kernels for ``torch.compile`` (opt-in), and
:class:`FusedBoundaryF1Stats`, which runs them or, on the CPU, the
hand-written kernel of :mod:`.native_boundary` (about two thirds of these
kernels' time there).

Plain torch, no mmseg import. The eager :class:`~.relaxed_metrics._BoundaryF1Stats`
runs the soft boundary ``e = XOR(ỹ, erode(ỹ))`` with four g's as ~100
one-op passes over the (N, C, H, W) tensor. Here each direction is a few
compiled loops, written so that the compiler fuses them well on CPU:

- **Canvases.** The probabilities live on a canvas padded with +inf (2 rows,
  ``t + 1`` columns), so every 3×3 neighbour is a plain slice of a realized
  buffer. (A padding op inside the loop becomes a masked vector load per
  neighbour, ~6× slower.) The boundary ``e``, its partial derivatives and the
  erosion winners live on the region ``R`` = image + 1 row + ``t`` columns
  (``t ≥ tol``): ``e`` is −inf outside the image, so the recall window along
  the rows needs no clamping either.
- **The erosion's winner** (which of the 9 neighbours the 3×3 minimum came
  from, with the eager tie rule of :func:`~.boundary.erode_backward`: rows
  first, centre, else previous, else next) is stored as a float code
  ``3·dy + dx + 4``; the backward gathers ``∂/∂b`` from the 9 neighbours
  whose winner it is instead of recomputing minima.
- **Recall.** ``Dil(e)`` at the K ground-truth boundary pixels is found in two
  stages: the window maximum along the rows for every pixel (one compiled
  loop), then 2·(2·tol + 1) gathered values per position instead of
  (2·tol + 1)².

Same statistics and formulas as the eager path (values and gradients equal
to rounding, tested), all C channels (a fixed shape per input shape: one
compiled graph per training run).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .fused import compiled
from .native_boundary import native_backward, native_forward, native_kernel, native_packs
from .native_boundary import native_softmax
from .parameterization import evaluate_packed

__all__ = ['canvas_margin', 'probs_canvas', 'soft_boundary_canvas', 'boundary_sums',
           'boundary_backward', 'canvas_window_argmax', 'FusedBoundaryF1Stats',
           'BOUNDARY_OPTIONS', 'GROUP_BITS', 'NATIVE_CPU']

_INF = float('inf')
GROUP_BITS = 31  # channels per int32 bit map (int64 lanes are slow to vectorize)
# Inductor's default heuristics split the boundary loop into three and store
# ~15 intermediates; with these it stays one loop (here 23 ms instead of 30
# at 8x21x128x128 on one core).
BOUNDARY_OPTIONS = dict(realize_cpu_opcount_threshold=1000, realize_reads_threshold=100,
                        realize_cpu_acc_reads_threshold=100)


def canvas_margin(width: int, tol: int) -> int:
    """Column margin ``t ≥ max(tol, 1)`` of region R, rounded up (by at most
    3) so that R's rows are a whole number of 8-wide vectors."""
    t = max(int(tol), 1)
    for extra in range(4):
        if (width + 2 * (t + extra)) % 8 == 0:
            return t + extra
    return t


def probs_canvas(z_pad: torch.Tensor, border: torch.Tensor, from_logits: bool) -> torch.Tensor:
    """ỹ on the canvas, +inf on the border (outside the image: no erosion edge).

    Args:
        z_pad (Tensor): Zero-padded logits or probabilities (N, C, H + 4, W + 2t + 2).
        border (Tensor): Bool (H + 4, W + 2t + 2), True outside the image.
        from_logits (bool): Take the softmax over C.

    Returns:
        Tensor: Same shape as ``z_pad``.
    """
    probs = torch.softmax(z_pad, 1) if from_logits else z_pad
    return torch.where(border, _INF, probs)


def soft_boundary_canvas(probs: torch.Tensor, inside: torch.Tensor, c1: torch.Tensor,
                         t1: torch.Tensor, c2: torch.Tensor, t2: torch.Tensor, c3: torch.Tensor,
                         t3: torch.Tensor, c4: torch.Tensor, t4: torch.Tensor, need_grad: bool
                         ) -> Tuple[torch.Tensor, Optional[torch.Tensor],
                                    Optional[torch.Tensor], Optional[torch.Tensor]]:
    """e = BD(ỹ) = g3(a) + g4(b)(1 − g3(a)) − g1(a)g2(b), b = erode(a), on R.

    Args:
        probs (Tensor): :func:`probs_canvas` output (N, C, H + 4, W + 2t + 2).
        inside (Tensor): Bool (H + 2, W + 2t), True on the image.
        c1, t1, …, c4, t4 (Tensor): g1..g4 from :meth:`PiecewiseG.packed`.
        need_grad (bool): Also return ∂e/∂a, ∂e/∂b and the erosion code.

    Returns:
        tuple: e (N, C, H + 2, W + 2t), −inf outside the image; ∂e/∂a; ∂e/∂b
        (0 outside the image); the winner code ``3·dy + dx + 4`` (float).
    """
    hr, wr = probs.shape[2] - 2, probs.shape[3] - 2

    def at(dy: int, dx: int) -> torch.Tensor:
        return probs[:, :, 1 + dy:1 + dy + hr, 1 + dx:1 + dx + wr]

    a = at(0, 0)
    rows = [torch.minimum(torch.minimum(at(dy, -1), at(dy, 0)), at(dy, 1)) for dy in (-1, 0, 1)]
    b = torch.minimum(torch.minimum(rows[0], rows[1]), rows[2])
    v1, d1 = evaluate_packed(a, c1, t1)
    v2, d2 = evaluate_packed(b, c2, t2)
    v3, d3 = evaluate_packed(a, c3, t3)
    v4, d4 = evaluate_packed(b, c4, t4)
    e = torch.where(inside, v3 + v4 * (1 - v3) - v1 * v2, -_INF)
    if not need_grad:
        return e, None, None, None
    de_da = d3 * (1 - v4) - d1 * v2
    de_db = torch.where(inside, d4 * (1 - v3) - d2 * v1, 0.0)
    # Which neighbour b came from: the row of the column-wise minimum, then
    # the column of that row's minimum (centre first, then previous, next).
    dy = torch.where(rows[1] == b, 0.0, torch.where(rows[0] == b, -1.0, 1.0))
    centre = torch.where(dy == 0, a, torch.where(dy < 0, at(-1, 0), at(1, 0)))
    prev = torch.where(dy == 0, at(0, -1), torch.where(dy < 0, at(-1, -1), at(1, -1)))
    dx = torch.where(centre == b, 0.0, torch.where(prev == b, -1.0, 1.0))
    return e, de_da, de_db, 3 * dy + dx + 4


def _near(bits: torch.Tensor, groups: torch.Tensor, shifts: torch.Tensor,
          dtype: torch.dtype) -> torch.Tensor:
    """(G, N, …) int32 bit maps -> float 0/1 (N, C, …): bit ``shifts[c]`` of
    group ``groups[c]``."""
    view = (1, -1) + (1,) * (bits.dim() - 2)
    # selected along dim 1 of the (N, G, …) view: the result is laid out
    # (N, C, …) like everything else, not channels-major
    return ((bits.transpose(0, 1).index_select(1, groups) >> shifts.view(view)) & 1).to(dtype)


def boundary_sums(e: torch.Tensor, w: torch.Tensor, bits: torch.Tensor, groups: torch.Tensor,
                  shifts: torch.Tensor, tol: int, t: int
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Window maxima along the rows and the precision sums.

    Args:
        e (Tensor): :func:`soft_boundary_canvas`'s e on R.
        w (Tensor): Pixel weights on R's rows and columns (N, H + 2, W + 2t).
        bits, groups, shifts (Tensor): The dilated GT boundary of each
            channel as int32 bit maps (G, N, H + 2, W + 2t) and where channel
            c's bit is.
        tol (int): Recall window half width.
        t (int): R's column margin.

    Returns:
        tuple: Row window maxima (N, C, H, W), Σ w·e and Σ w·near·e per channel (C,).
    """
    h, width = e.shape[2] - 2, e.shape[3] - 2 * t
    inner = (slice(None), slice(None), slice(1, 1 + h))
    e_in = e[inner + (slice(t, t + width),)]
    ew = e_in * w[:, None, 1:1 + h, t:t + width]
    near = _near(bits[inner + (slice(t, t + width),)], groups, shifts, e.dtype)
    n_pred = ew.sum((2, 3)).sum(0)
    match_p = (ew * near).sum((2, 3)).sum(0)
    row_max = e_in
    for s in range(1, tol + 1):
        row_max = torch.maximum(row_max, torch.maximum(e[inner + (slice(t - s, t - s + width),)],
                                                       e[inner + (slice(t + s, t + s + width),)]))
    return row_max, n_pred, match_p


def boundary_backward(de_da: torch.Tensor, de_db: torch.Tensor, code: torch.Tensor,
                      w: torch.Tensor, bits: torch.Tensor, groups: torch.Tensor,
                      shifts: torch.Tensor, g_n: torch.Tensor, g_p: torch.Tensor, t: int
                      ) -> torch.Tensor:
    """Gradient w.r.t. ỹ from ∂loss/∂n_pred and ∂loss/∂match_p (the sparse
    recall terms and the softmax Jacobian are the caller's: fused in here,
    the compiler recomputes the whole gather for the Jacobian's sum, 2x
    slower).

    ``∂e = w·(g_n + g_p·near)``; ``∂a = ∂e·∂e/∂a`` plus the erosion's
    backward of ``∂e·∂e/∂b`` (each output's share to its winner).

    Returns:
        Tensor: (N, C, H, W).
    """
    h, width = de_da.shape[2] - 2, de_da.shape[3] - 2 * t
    g = w.unsqueeze(1) * (g_n.view(1, -1, 1, 1) + g_p.view(1, -1, 1, 1) *
                          _near(bits, groups, shifts, de_da.dtype))
    g_b = g * de_db
    grad = (g * de_da)[:, :, 1:1 + h, t:t + width]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            # the output at p − (dy, dx) sends its share to p if p won there
            src = (slice(None), slice(None), slice(1 - dy, 1 - dy + h),
                   slice(t - dx, t - dx + width))
            grad = grad + torch.where(code[src] == 3 * dy + dx + 4, g_b[src], 0.0)
    return grad


def canvas_window_argmax(e: torch.Tensor, row_max: torch.Tensor, index: torch.Tensor,
                         tol: int, t: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Window maxima of ``e`` (on R) at image positions ``index`` and where
    they are, as :func:`~.boundary.window_argmax` (the same first maximum in
    row-major order): the first row whose row maximum wins, then the first
    column of that row.

    Args:
        e (Tensor): e on R (N, C, H + 2, W + 2t), −inf outside the image.
        row_max (Tensor): :func:`boundary_sums`'s row maxima (N, C, H, W).
        index (Tensor): Flat int64 positions into (N, C, H, W).
        tol (int): Window half width.
        t (int): R's column margin.

    Returns:
        tuple[Tensor, Tensor]: The maxima and their flat positions in ``e``.
    """
    hr, wr = e.shape[2:]
    h, width = row_max.shape[2:]
    offs = torch.arange(-int(tol), int(tol) + 1, device=index.device)
    plane, rest = index.div(h * width, rounding_mode='floor'), index.remainder(h * width)
    row, col = rest.div(width, rounding_mode='floor'), rest.remainder(width)
    rows = (row[:, None] + offs).clamp_(0, h - 1)
    at_rows = (plane[:, None] * h + rows) * width + col[:, None]
    best = rows.gather(1, _take(row_max, at_rows).argmax(1, keepdim=True))
    # outside the image e is -inf, so the columns need no clamping
    at_cols = (plane[:, None] * hr + best + 1) * wr + (col[:, None] + t) + offs
    value, arg = _take(e, at_cols).max(1, keepdim=True)
    return value[:, 0], at_cols.gather(1, arg)[:, 0]


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x.take(index)`` (index_select: ~2x faster on CPU)."""
    return x.reshape(-1).index_select(0, index.reshape(-1)).view(index.shape)


# On the CPU the hand-written kernel (:mod:`.native_boundary`) replaces the
# compiled ones; ``False`` forces the torch.compile kernels (CUDA, g's with
# more pieces than the kernel is built for and a failed build take them).
NATIVE_CPU = True


class FusedBoundaryF1Stats(torch.autograd.Function):
    """The sums of the relaxed BF1 through the compiled kernels above, or on
    the CPU through the hand-written kernel (:data:`NATIVE_CPU`).

    Same inputs and outputs as the eager
    :class:`~.relaxed_metrics._BoundaryF1Stats`, for all C channels:
    ``scores`` (N, C, H, W) logits (``from_logits``) or probabilities,
    pixel weights ``w`` (N, H, W), the dilated GT boundaries as int32 bit
    maps ``bits`` (G, N, H, W) (channel c: bit c mod 31 of group c // 31),
    the K GT boundary positions ``at`` (flat into (N, C, H, W)), ``tol`` and
    the four :class:`PiecewiseG`. Returns Σ w·e, Σ w·near·e (C,) and
    ``Dil(e)`` at ``at`` (K,).
    """

    @staticmethod
    def forward(ctx, scores, w, bits, at, tol, gs, from_logits):
        need = ctx.needs_input_grad[0]
        n, c, h, width = scores.shape
        ch = torch.arange(c, device=scores.device)
        groups, shifts = ch.div(GROUP_BITS, rounding_mode='floor'), (ch % GROUP_BITS).int()
        tables = native_packs(gs, scores.dtype) if (
            NATIVE_CPU and scores.device.type == 'cpu') else None
        lib = native_kernel() if tables is not None else None
        ctx.native = lib
        if lib is not None:
            probs = native_softmax(lib, scores.contiguous()) if from_logits else (
                scores.contiguous())
            w, bits = w.to(scores.dtype).contiguous(), bits.contiguous()
            n_pred, match_p, at_max, winner, de_da, de_db, code = native_forward(
                lib, probs, w, bits, groups, shifts, at.contiguous(), int(tol), *tables, need)
            if need:
                ctx.save_for_backward(probs if from_logits else None, de_da, de_db, code, w,
                                      bits, groups, shifts, winner)
                ctx.from_logits = from_logits
            return n_pred, match_p, at_max
        t = canvas_margin(width, tol)
        dev = scores.device
        border = torch.ones(h + 4, width + 2 * t + 2, dtype=torch.bool, device=dev)
        border[2:2 + h, t + 1:t + 1 + width] = False
        w_r = F.pad(w, (t, t, 1, 1))
        bits_r = F.pad(bits, (t, t, 1, 1))
        packs = [x for g in gs for x in g.packed(scores.dtype, dev)]
        probs = compiled(probs_canvas)(F.pad(scores, (t + 1, t + 1, 2, 2)), border, from_logits)
        e, de_da, de_db, code = compiled(soft_boundary_canvas, BOUNDARY_OPTIONS)(
            probs, ~border[1:-1, 1:-1], *packs, need)
        row_max, n_pred, match_p = compiled(boundary_sums)(e, w_r, bits_r, groups, shifts,
                                                           int(tol), t)
        at_max, winner = canvas_window_argmax(e, row_max, at, tol, t)
        if need:
            ctx.save_for_backward(probs if from_logits else None, de_da, de_db, code, w_r,
                                  bits_r, groups, shifts, winner)
            ctx.t, ctx.from_logits = t, from_logits
        return n_pred, match_p, at_max

    @staticmethod
    @once_differentiable
    def backward(ctx, g_n, g_p, g_at):
        probs, de_da, de_db, code, w_r, bits_r, groups, shifts, winner = ctx.saved_tensors
        c, hr, wr = de_da.shape[1:]
        g_n = de_da.new_zeros(c) if g_n is None else g_n.to(de_da.dtype).contiguous()
        g_p = de_da.new_zeros(c) if g_p is None else g_p.to(de_da.dtype).contiguous()
        if ctx.native is not None:
            grad = native_backward(ctx.native, de_da, de_db, code, w_r, bits_r, groups, shifts,
                                   g_n, g_p, winner, g_at, probs)
            return grad, None, None, None, None, None, None
        t = ctx.t
        h, width = hr - 2, wr - 2 * t
        grad = compiled(boundary_backward)(de_da, de_db, code, w_r, bits_r, groups, shifts,
                                           g_n, g_p, t).contiguous()
        if g_at is not None and winner.numel():
            # The K recall terms: g_at·∂e/∂a at each winner q, g_at·∂e/∂b at
            # q's erosion winner (both inside the image).
            code_q = _take(code, winner).long()
            to_b = winner + (code_q.div(3, rounding_mode='floor') - 1) * wr + code_q % 3 - 1
            both = torch.cat([winner, to_b])
            plane, rest = both.div(hr * wr, rounding_mode='floor'), both.remainder(hr * wr)
            inner = (plane * h + rest.div(wr, rounding_mode='floor') - 1) * width + (
                rest.remainder(wr) - t)
            grad.view(-1).index_add_(0, inner, torch.cat([g_at * _take(de_da, winner),
                                                          g_at * _take(de_db, winner)]))
        if ctx.from_logits:
            # ATen's softmax backward reads the strided canvas view in one
            # pass (a compiled p ⊙ (∂ − Σ p∂) measured ~1.5x slower at 512²)
            grad = torch.ops.aten._softmax_backward_data(
                grad, probs[:, :, 2:2 + h, t + 1:t + 1 + width], 1, grad.dtype)
        return grad, None, None, None, None, None, None
