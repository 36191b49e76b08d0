"""Boundary operators shared by the surrogates, the metrics and ReCAM.

Plain torch, no mmseg import. Conventions (SPEC §1):

- BD(m) = m XOR MinPool3x3(m): mask pixels with a 3×3 neighbour outside the
  mask; the image border is not a boundary (outside counts as inside).
- Dil_tol(m) = MaxPool of size 2·tol+1, stride 1 (square window); read at a
  few pixels only with :func:`dilate_at`.

The same functions serve hard {0, 1} masks (metrics) and soft masks in
[0, 1] (surrogates), so the two can never disagree.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ['erode', 'erode_backward', 'dilate', 'dilate_at', 'window_argmax', 'or_dilate_bits',
           'hard_boundary', 'label_edges', 'class_boundaries', 'boundary_band']


def _as_4d(x: torch.Tensor):
    if x.dim() == 2:
        return x[None, None], 2
    if x.dim() == 3:
        return x[:, None], 3
    if x.dim() == 4:
        return x, 4
    raise ValueError(f'expected a 2-D, 3-D or 4-D mask, got shape {tuple(x.shape)}')


def _pool_layout(x4: torch.Tensor) -> torch.Tensor:
    # CPU max-pool over many channels runs about 2x faster channels-last.
    if x4.shape[1] > 1 and x4.device.type == 'cpu':
        return x4.contiguous(memory_format=torch.channels_last)
    return x4


def _restore(x: torch.Tensor, ndim: int) -> torch.Tensor:
    return x[0, 0] if ndim == 2 else x[:, 0] if ndim == 3 else x


_ERODE_BLOCK = 1 << 18  # elements per block on CPU (whole planes, kept in cache)


def _min3(src: torch.Tensor, out: torch.Tensor, dim: int) -> None:
    """out = min over the 3-window of ``src`` along ``dim`` (window cut at the border)."""
    n = src.shape[dim]
    if n == 1:
        out.copy_(src)
        return
    head, tail = src.narrow(dim, 0, n - 1), src.narrow(dim, 1, n - 1)
    torch.minimum(head, tail, out=out.narrow(dim, 0, n - 1))
    out.narrow(dim, n - 1, 1).copy_(src.narrow(dim, n - 1, 1))
    o_tail = out.narrow(dim, 1, n - 1)
    torch.minimum(o_tail, head, out=o_tail)


def _min3_backward(src: torch.Tensor, res: torch.Tensor, grad: torch.Tensor, dim: int
                   ) -> torch.Tensor:
    """Gradient of :func:`_min3` w.r.t. ``src``: each output sends its gradient
    to one minimum of its window (the centre, else the previous, else the
    next element), like a max-pool's index."""
    n = src.shape[dim]
    if n == 1:
        return grad.clone()
    # Float 0/1 masks from comparisons with out=: no bool tensors, no where.
    rest = torch.ne(src, res, out=torch.empty_like(grad))
    out = torch.addcmul(grad, grad, rest, value=-1)  # the centre's share
    rest.mul_(grad)  # what the centre did not take
    to_prev = torch.empty_like(grad)
    to_prev.narrow(dim, 0, 1).zero_()
    p_tail = to_prev.narrow(dim, 1, n - 1)
    torch.eq(src.narrow(dim, 0, n - 1), res.narrow(dim, 1, n - 1), out=p_tail)
    to_prev.mul_(rest)
    out.narrow(dim, 0, n - 1).add_(p_tail)
    out.narrow(dim, 1, n - 1).add_(rest.sub_(to_prev).narrow(dim, 0, n - 1))
    return out


def _erode_block(src: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """3×3 min-pool of planes ``src`` (P, H, W) into ``out``; returns the
    row minima (the backward needs them)."""
    rows = torch.empty_like(src)
    _min3(src, rows, 2)
    _min3(rows, out, 1)
    return rows


def _plane_blocks(x: torch.Tensor):
    """Slices of whole (H, W) planes of about :data:`_ERODE_BLOCK` elements."""
    planes = x.shape[0]
    step = max(1, _ERODE_BLOCK // max(1, x[0].numel())) if x.device.type == 'cpu' else planes
    for start in range(0, planes, step):
        yield slice(start, min(start + step, planes))


def erode_backward(x: torch.Tensor, grad: torch.Tensor,
                   accumulate: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Gradient of :func:`erode` at ``x`` for the output gradient ``grad``.

    Each output's gradient goes to one minimum of its window, like a
    max-pool's index; the minima are recomputed plane-block by plane-block
    instead of keeping indices.

    Args:
        x (Tensor): The eroded input, (..., H, W).
        grad (Tensor): Gradient w.r.t. ``erode(x)``, same shape.
        accumulate (Tensor, optional): Add the result into this contiguous
            tensor of the same shape and return it (saves a full-size sum).

    Returns:
        Tensor: Gradient w.r.t. ``x``.
    """
    x3 = x.contiguous().view(-1, *x.shape[-2:])
    g3 = grad.contiguous().view(x3.shape)
    g_in = torch.empty_like(x3) if accumulate is None else accumulate.view(x3.shape)
    for sl in _plane_blocks(x3):
        src = x3[sl]
        out = torch.empty_like(src)
        rows = _erode_block(src, out)
        g_blk = _min3_backward(src, rows, _min3_backward(rows, out, g3[sl], 1), 2)
        if accumulate is None:
            g_in[sl] = g_blk
        else:
            g_in[sl] += g_blk
    return g_in.view(x.shape)


class _Erode(torch.autograd.Function):
    """3×3 min-pool as two separable 3-windows, walked plane-block by block.

    A CPU max-pool (with indices for the backward) costs ~9 loads per pixel
    and strided copies; four element-wise minima per block in cache are
    several times faster (backward: :func:`erode_backward`).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x3 = x.reshape(-1, *x.shape[-2:])
        out = torch.empty_like(x3)
        for sl in _plane_blocks(x3):
            _erode_block(x3[sl], out[sl])
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x)
        return out.view(x.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, = ctx.saved_tensors
        return erode_backward(x, grad)


def erode(x: torch.Tensor) -> torch.Tensor:
    """3×3 min-pool, stride 1; outside the image counts as 1 (no border edge).

    Args:
        x (Tensor): Mask(s) of shape (H, W), (N, H, W) or (N, C, H, W),
            floating point, values in [0, 1].

    Returns:
        Tensor: Eroded mask, same shape and dtype.
    """
    if x.dim() not in (2, 3, 4):
        raise ValueError(f'expected a 2-D, 3-D or 4-D mask, got shape {tuple(x.shape)}')
    # The window is cut at the border, i.e. the outside never wins the min.
    return _Erode.apply(x.contiguous())


def dilate(x: torch.Tensor, tol: int) -> torch.Tensor:
    """Square max-pool of size 2·tol+1 (separable: two 1-D pools).

    Args:
        x (Tensor): Mask(s), as in :func:`erode`.
        tol (int): Half width of the window in pixels; 0 returns ``x``.

    Returns:
        Tensor: Dilated mask, same shape and dtype.
    """
    if int(tol) != tol or tol < 0:
        raise ValueError(f'tol must be a non-negative integer, got {tol!r}')
    if tol == 0:
        return x
    x4, nd = _as_4d(x)
    k = 2 * int(tol) + 1
    y = F.max_pool2d(_pool_layout(x4), (1, k), 1, (0, int(tol)))
    y = F.max_pool2d(y, (k, 1), 1, (int(tol), 0))
    return _restore(y, nd)


def window_argmax(x: torch.Tensor, index: torch.Tensor, tol: int,
                  chunk: int = 1 << 14) -> torch.Tensor:
    """Where ``dilate(x, tol)`` takes its value at the flat positions ``index``.

    For each position the flat index of a maximum of its (2·tol+1)² window
    inside the image (no gradient). The window is gathered only there
    (clamping a coordinate to the image keeps it inside the window), so the
    cost grows with ``len(index)``, not with the tensor.

    Args:
        x (Tensor): Maps of shape (N, C, H, W).
        index (Tensor): Flat int64 positions into ``x``.
        tol (int): Half width of the window.
        chunk (int): Positions gathered at once (bounds the temporary
            ``chunk · (2·tol+1)²`` index tensor).

    Returns:
        Tensor: Flat int64 positions, shape ``index.shape``.
    """
    if int(tol) != tol or tol < 0:
        raise ValueError(f'tol must be a non-negative integer, got {tol!r}')
    if x.dim() != 4:
        raise ValueError(f'x must be (N, C, H, W), got shape {tuple(x.shape)}')
    if tol == 0 or index.numel() == 0:
        return index.clone()
    h, w = x.shape[-2:]
    flat = x.detach().reshape(-1)
    offs = torch.arange(-int(tol), int(tol) + 1, device=x.device)
    winner = torch.empty_like(index)
    for start in range(0, index.numel(), chunk):
        idx = index[start:start + chunk]
        plane, rest = idx.div(h * w, rounding_mode='floor'), idx.remainder(h * w)
        rows = (rest.div(w, rounding_mode='floor')[:, None] + offs).clamp_(0, h - 1)
        cols = (rest.remainder(w)[:, None] + offs).clamp_(0, w - 1)
        win = ((plane * h)[:, None] + rows).mul_(w)[:, :, None] + cols[:, None, :]
        win = win.view(idx.numel(), -1)
        winner[start:start + chunk] = win.gather(1, flat.take(win).argmax(1, keepdim=True))[:, 0]
    return winner


def dilate_at(x: torch.Tensor, index: torch.Tensor, tol: int) -> torch.Tensor:
    """``dilate(x, tol).reshape(-1)[index]`` without dilating everything.

    Gradients reach each window's maximum, as with a max-pool (see
    :func:`window_argmax`).
    """
    return x.reshape(-1)[window_argmax(x, index, tol)]


def or_dilate_bits(bits: torch.Tensor, tol: int) -> torch.Tensor:
    """Square OR-pool of size ``2·tol+1`` over the last two axes.

    With one bit per class this dilates every class mask at once; bit by bit
    it equals ``boundary.dilate`` (max-pool, outside the image contributes
    nothing). Windows grow by doubling, so the cost is O(log tol) shifts.

    Args:
        bits (Tensor): Integer tensor (..., H, W).
        tol (int): Half width of the window; 0 returns ``bits``.

    Returns:
        Tensor: Same shape and dtype.
    """
    if int(tol) != tol or tol < 0:
        raise ValueError(f'tol must be a non-negative integer, got {tol!r}')
    tol = int(tol)
    if tol == 0:
        return bits
    for dim in (-1, -2):
        size = bits.shape[dim]
        # Zero margins: a window near the border must still grow from the
        # (empty) outside, or the doubling would skip pixels there.
        pad = [0, 0, 0, 0]
        pad[0 if dim == -1 else 2] = pad[1 if dim == -1 else 3] = tol
        cur = torch.nn.functional.pad(bits, pad)
        full = size + 2 * tol
        reach = 0
        while reach < tol:
            # cur covers [-reach, reach]; a shift s <= 2*reach+1 leaves no gap
            step = min(2 * reach + 1, tol - reach)
            out = cur.clone()
            out.narrow(dim, step, full - step).bitwise_or_(cur.narrow(dim, 0, full - step))
            out.narrow(dim, 0, full - step).bitwise_or_(cur.narrow(dim, step, full - step))
            cur = out
            reach += step
        bits = cur.narrow(dim, tol, size)
    return bits.contiguous()


def hard_boundary(mask: torch.Tensor) -> torch.Tensor:
    """BD(m) of binary float mask(s): ``m - erode(m)`` (equals XOR for {0,1})."""
    return mask - erode(mask)


def label_edges(label: torch.Tensor) -> torch.Tensor:
    """Pixels of a label map with a 3×3 neighbour of another label.

    For a pixel of class c this is exactly BD(y_c) at that pixel, so the
    per-class boundaries of a whole label map cost four comparisons instead
    of C min-pools. Neighbours outside the image are ignored.

    Args:
        label (Tensor): Integer label map(s), shape (H, W) or (N, H, W).

    Returns:
        Tensor: Bool tensor of the same shape.
    """
    lab = label if label.dim() == 3 else label[None]
    if lab.dim() != 3:
        raise ValueError(f'label must be (H, W) or (N, H, W), got shape {tuple(label.shape)}')
    edge = torch.zeros_like(lab, dtype=torch.bool)
    # "differs from a neighbour" is symmetric: each of the four neighbour
    # directions (right, down, down-right, down-left) marks both pixels of a
    # pair. Pairs leaving the image do not exist: outside pixels are ignored.
    all_, first, last = slice(None), slice(None, -1), slice(1, None)
    for here, there in (((all_, last), (all_, first)), ((last, all_), (first, all_)),
                        ((last, last), (first, first)), ((last, first), (first, last))):
        here, there = (all_,) + here, (all_,) + there
        differs = lab[here] != lab[there]
        edge[here] |= differs
        edge[there] |= differs
    return edge if label.dim() == 3 else edge[0]


def class_boundaries(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class ground-truth boundaries BD(y_c) as a (N, C, H, W) bool tensor.

    Pixels labelled outside ``[0, num_classes)`` (ignore) belong to no class
    but still count as "outside" for their neighbours, like a zero one-hot row.
    """
    edges = label_edges(label)
    lab = label if label.dim() == 3 else label[None]
    edges = edges if label.dim() == 3 else edges[None]
    classes = torch.arange(num_classes, device=label.device).view(1, -1, 1, 1)
    return (lab[:, None] == classes) & edges[:, None]


def boundary_band(label: torch.Tensor, num_classes: int, tol: int,
                  drop_bg: bool = False, bg_index: int = 0) -> torch.Tensor:
    """The BIoU evaluation band: pixels within ``tol`` of a GT boundary.

    Args:
        label (Tensor): Integer label map(s), (H, W) or (N, H, W).
        num_classes (int): Number of classes; other values (ignore) are no
            class.
        tol (int): Band half width in pixels.
        drop_bg (bool): Leave the background class's own boundary out.
        bg_index (int): Background class index.

    Returns:
        Tensor: Bool band, same shape as ``label``.
    """
    src = label_edges(label) & (label >= 0) & (label < num_classes)
    if drop_bg:
        src &= label != bg_index
    # OR-pooling bytes is ~10x cheaper than max-pooling floats, same mask
    return or_dilate_bits(src.to(torch.uint8), tol) > 0
