"""Boundary operators shared by the metrics, the surrogates and ReCAM (method.md §1).

Plain torch, no mmseg import:

- ``BD(m) = m XOR MinPool3x3(m)``: mask pixels with a 3×3 neighbour outside
  the mask; the image border is not a boundary (outside counts as inside).
- ``Dil_tol(m) = MaxPool`` of size ``2·tol+1``, stride 1 (square window).

Erosion and dilation are separable square min/max filters; outside pixels
count neither for the min nor for the max. They run as window doubling
(elementwise ``torch.maximum`` of shifted views, much cheaper than a pooling
kernel for wide windows); with a gradient, a small autograd Function routes
each output's gradient to the first extreme of its window, as
``F.max_pool2d`` (the authors' code) does. ``torch.compile`` traces the same
code for soft masks (inductor's pooling kernels measured twice as slow on a
CPU; the tests keep ``F.max_pool2d`` as the oracle); the label-side
operators run eagerly under it. The same functions serve hard masks (bool,
integer; metrics) and soft masks (surrogates). :func:`dilate_at` reads a
dilation at one channel per pixel (BF1's recall) with the same values and
gradient, through a gather instead of the filter's backward.
"""
from typing import List, Optional

import torch
import torch.nn.functional as F

from .utils.masks import indicator
from .utils.validate import check_tol

__all__ = ['check_tol', 'erode', 'dilate', 'dilate_at', 'hard_boundary', 'label_edges',
           'valid_edges', 'class_boundaries', 'boundary_band']


def _steps(kernel: int) -> List[int]:
    """Shifts of window doubling: after them every entry spans ``kernel``."""
    steps, width = [], 1
    while width < kernel:
        steps.append(min(width, kernel - width))
        width += steps[-1]
    return steps


def _window_extreme(x: torch.Tensor, kernel: int, dim: int, minimum: bool,
                    picks: Optional[List[torch.Tensor]] = None) -> torch.Tensor:
    """Max (or min) over a centred window of ``kernel`` along ``dim``.

    Window doubling: after a step of width w every entry holds the extreme
    of w consecutive ones, so a window of k costs about log2(k) elementwise
    ops instead of k reads per output (a pooling kernel); vectorized and
    cheap in memory on every device. Outside the map never wins.

    ``picks`` (floating ``x``) collects per step the 0/1 mask of the entries
    where the right operand won strictly: ties keep the left one, so the
    masks lead each output to the first extreme of its window.
    """
    r = kernel // 2
    if x.dtype == torch.bool:
        fill = minimum
    elif x.dtype.is_floating_point:
        fill = float('inf') if minimum else float('-inf')
    else:
        info = torch.iinfo(x.dtype)
        fill = info.max if minimum else info.min
    shape = list(x.shape)
    shape[dim] = r
    pad = x.new_full(shape, fill)
    y = torch.cat([pad, x, pad], dim)
    if x.dtype == torch.bool:
        op = torch.logical_and if minimum else torch.logical_or
    else:
        op = torch.minimum if minimum else torch.maximum
    for step in _steps(kernel):
        n = y.shape[dim] - step
        a, b = y.narrow(dim, 0, n), y.narrow(dim, step, n)
        if picks is not None:
            picks.append(indicator(torch.lt if minimum else torch.gt, b, a))
        y = op(a, b)
    return y


class _ExtremeFilter(torch.autograd.Function):
    """:func:`_window_extreme` with the gradient of ``F.max_pool2d``: each
    output's gradient goes to the first extreme of its window (the pooling
    kernel's rule), at the cost of elementwise ops."""

    @staticmethod
    def forward(ctx, x, kernel, dim, minimum):
        picks: List[torch.Tensor] = []
        y = _window_extreme(x, kernel, dim, minimum, picks)
        ctx.save_for_backward(*picks)
        ctx.steps, ctx.dim, ctx.r, ctx.size = _steps(kernel), dim, kernel // 2, x.shape[dim]
        return y

    @staticmethod
    def backward(ctx, grad):
        dim = ctx.dim
        for step, right in zip(reversed(ctx.steps), reversed(ctx.saved_tensors)):
            # the step's input gradient: a's share at [0, n), b's at [step, step + n),
            # each written in one pass (right is 0/1, so both are exact)
            n = grad.shape[dim]
            shape = list(grad.shape)
            shape[dim] = n + step
            out = grad.new_empty(shape)
            torch.addcmul(grad, grad, right, value=-1, out=out.narrow(dim, 0, n))
            out.narrow(dim, n, step).zero_()
            out.narrow(dim, step, n).addcmul_(grad, right)
            grad = out
        return grad.narrow(dim, ctx.r, ctx.size), None, None, None


def _pool(x: torch.Tensor, kernel: int, minimum: bool = False) -> torch.Tensor:
    if x.dim() not in (2, 3, 4):
        raise ValueError(f'expected a 2-D, 3-D or 4-D mask, got shape {tuple(x.shape)}')
    # separable square window: rows, then columns
    if x.requires_grad and torch.is_grad_enabled():
        rows = _ExtremeFilter.apply(x, kernel, -1, minimum)
        return _ExtremeFilter.apply(rows, kernel, -2, minimum)
    return _window_extreme(_window_extreme(x, kernel, -1, minimum), kernel, -2, minimum)


def erode(x: torch.Tensor) -> torch.Tensor:
    """3×3 min-pool, stride 1 (outside the image never wins the min).

    Args:
        x (Tensor): Floating mask(s) (H, W), (N, H, W) or (N, C, H, W).

    Returns:
        Tensor: Same shape and dtype; differentiable (see the module doc).
    """
    return _pool(x, 3, minimum=True)


def dilate(x: torch.Tensor, tol: int) -> torch.Tensor:
    """Square max-pool of size ``2·tol+1``, stride 1; ``tol = 0`` returns ``x``.

    Args:
        x (Tensor): Mask(s) as in :func:`erode` (floating, integer or bool).
        tol (int): Half width of the window in pixels.
    """
    tol = check_tol(tol)
    return x if tol == 0 else _pool(x, 2 * tol + 1)


def dilate_at(x: torch.Tensor, index: torch.Tensor, tol: int) -> torch.Tensor:
    """``dilate(x, tol)`` read at one channel per pixel: channel
    ``index[n, h, w]`` of the dilation at (n, h, w).

    Equal to ``dilate(x, tol).gather(1, index[:, None])[:, 0]`` with the
    same gradient (each output's to the first maximum of its window in
    row-major order, as ``F.max_pool2d``), without dilating every channel
    along both axes and keeping the filter's route for the backward: the
    rows are max-filtered without a gradient, the window's row and then its
    column are found at the selected channel only, and the gradient flows
    through one gather of ``x``. ``torch.max`` over a dimension returns the
    first maximal index, which keeps the first-extreme rule.

    Args:
        x (Tensor): Floating (N, C, H, W).
        index (Tensor): int64 (N, H, W) channels in ``[0, C)``.
        tol (int): Half width of the window in pixels.

    Returns:
        Tensor: (N, H, W), differentiable in ``x``.
    """
    tol = check_tol(tol)
    if x.dim() != 4 or tuple(index.shape) != (x.shape[0], *x.shape[2:]):
        raise ValueError(f'expected x (N, C, H, W) and index (N, H, W), got shapes '
                         f'{tuple(x.shape)} and {tuple(index.shape)}')
    if tol == 0:
        return x.gather(1, index[:, None])[:, 0]
    n, c, h, w = x.shape
    k = 2 * tol + 1
    with torch.no_grad():
        v = x.detach()
        # rows of every window: (N, C, H, W, k) views of the row-filtered map
        rows = F.pad(_window_extreme(v, k, -1, False), (0, 0, tol, tol), value=float('-inf'))
        at = index[:, None, :, :, None].expand(n, 1, h, w, k)
        top = torch.arange(h, device=x.device).view(1, h, 1) - tol
        row = top + rows.unfold(2, k, 1).gather(1, at).max(-1).indices[:, 0]
        # that row's columns at the selected channel (channel and row merge into one dim)
        cols = F.pad(v, (tol, tol), value=float('-inf')).unfold(3, k, 1).reshape(n, c * h, w, k)
        plane = index * h + row
        left = torch.arange(w, device=x.device) - tol
        col = left + cols.gather(1, plane[..., None].expand(n, h, w, k)).max(-1).indices
        flat = (plane * w + col).view(n, -1)
    return x.reshape(n, -1).gather(1, flat).view(n, h, w)


def hard_boundary(mask: torch.Tensor) -> torch.Tensor:
    """BD(m) of binary float mask(s): ``m - erode(m)`` (XOR for {0, 1})."""
    return mask - erode(mask)


def label_edges(label: torch.Tensor) -> torch.Tensor:
    """Pixels of a label map with a 3×3 neighbour of another label value.

    For a pixel of class c this is BD(y_c) at that pixel, so all classes'
    boundaries cost one 3×3 window instead of C erosions: a window holds
    another value exactly where its max and min differ, and the min is
    taken as a max of the reflected values, so one max filter runs on both
    stacked. Neighbours outside the image do not count. uint8 labels are
    compared as they are, other integers as float32 (cheaper than int64 on
    a CPU; exact below 2**24 in magnitude).

    Args:
        label (Tensor): Integer map(s) (H, W) or (N, H, W).

    Returns:
        Tensor: Bool, same shape.
    """
    if label.dim() not in (2, 3):
        raise ValueError(f'label must be (H, W) or (N, H, W), got shape {tuple(label.shape)}')
    lab = label if label.dtype == torch.uint8 else label.to(torch.float32)
    ref = 255 if lab.dtype == torch.uint8 else 0  # v -> ref - v reverses the order exactly
    hi, rhi = _window_extreme(_window_extreme(torch.stack([lab, ref - lab]), 3, -1, False), 3,
                              -2, False)
    return hi != ref - rhi


# The label-side operators below have no gradient and run eagerly under
# torch.compile (a graph break): inductor's CPU kernels for bool and byte
# masks measured 15-100x slower than these eager ones. The losses call them
# before any differentiable work, so the break does not split that graph.
@torch.compiler.disable
def valid_edges(label: torch.Tensor, num_classes: int,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """:func:`label_edges` at the pixels of a class: BD(y_c) of its own class.

    Every value outside ``[0, num_classes)`` (or outside ``valid``) is one
    "no class" value here, which changes no class's boundary and lets up to
    254 classes be compared as bytes.

    Args:
        label (Tensor): Integer map(s) (H, W) or (N, H, W).
        num_classes (int): Number of classes.
        valid (Tensor, optional): Bool mask of the class pixels; default
            the labels in ``[0, num_classes)``.
    """
    if valid is None:
        valid = (label >= 0) & (label < num_classes)
    lab = label.to(torch.uint8) if num_classes < 255 else label
    return label_edges(torch.where(valid, lab, num_classes)) & valid


@torch.compiler.disable
def class_boundaries(label: torch.Tensor, num_classes: int, tol: int = 0,
                     edges: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-class boundaries Dil_tol(BD(y_c)) as a bool (N, C, H, W) tensor.

    Values outside ``[0, num_classes)`` (ignore) belong to no class but are
    "outside" for their neighbours, like an all-zero one-hot row.

    Args:
        label (Tensor): Integer map(s) (H, W) or (N, H, W).
        num_classes (int): Number of classes.
        tol (int): Dilation half width; 0 gives BD(y_c).
        edges (Tensor, optional): ``valid_edges(label, num_classes, valid)``
            if the caller has it (it also carries the caller's valid mask).
    """
    lab = label if label.dim() == 3 else label[None]
    edges = valid_edges(lab, num_classes) if edges is None else edges.view(lab.shape)
    classes = torch.arange(num_classes, device=label.device).view(1, -1, 1, 1)
    return dilate((lab[:, None] == classes) & edges[:, None], tol)


@torch.compiler.disable
def boundary_band(label: torch.Tensor, num_classes: int, tol: int, drop_bg: bool = False,
                  bg_index: int = 0, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The BIoU band: pixels within ``tol`` of a ground-truth boundary.

    Args:
        label (Tensor): Integer map(s) (H, W) or (N, H, W); values outside
            ``[0, num_classes)`` are no class.
        num_classes (int): Number of classes.
        tol (int): Band half width in pixels.
        drop_bg (bool): The background class's own boundary forms no band.
        bg_index (int): Background class index.
        valid (Tensor, optional): Bool mask of the pixels whose boundary
            may form the band; default the labels in ``[0, num_classes)``
            (the losses pass theirs, which also drops ``ignore_index``).

    Returns:
        Tensor: Bool, same shape as ``label``.
    """
    src = valid_edges(label, num_classes, valid)
    if drop_bg:
        src &= label != bg_index
    return dilate(src, tol)
