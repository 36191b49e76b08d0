"""Boundary operators shared by the metrics, the surrogates and ReCAM (method.md §1).

Plain torch, no mmseg import:

- ``BD(m) = m XOR MinPool3x3(m)``: mask pixels with a 3×3 neighbour outside
  the mask; the image border is not a boundary (outside counts as inside).
- ``Dil_tol(m) = MaxPool`` of size ``2·tol+1``, stride 1 (square window).

Erosion and dilation are separable square min/max filters; outside pixels
count neither for the min nor for the max. Eagerly they run as window
doubling (elementwise ``torch.maximum`` of shifted views, much cheaper than a
pooling kernel for wide windows); with a gradient, a small autograd Function
routes each output's gradient to the first extreme of its window, as
``F.max_pool2d`` (the authors' code) does. Inside ``torch.compile`` they go
through ``F.max_pool2d``, which inductor fuses. The same functions serve hard
masks (bool, integer; metrics) and soft masks (surrogates).
"""
from typing import List, Optional

import torch
import torch.nn.functional as F

from .utils.masks import indicator

__all__ = ['check_tol', 'erode', 'dilate', 'hard_boundary', 'label_edges', 'class_boundaries',
           'boundary_band']


def check_tol(tol) -> int:
    """Return ``tol`` as int or raise unless it is a non-negative integer."""
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or int(tol) != tol or tol < 0:
        raise ValueError(f'tol must be a non-negative integer, got {tol!r}')
    return int(tol)


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
        for i, (step, right) in enumerate(zip(reversed(ctx.steps), reversed(ctx.saved_tensors))):
            # out = a's gradient at [0, n) + b's at [step, step + n)
            n = grad.shape[dim]
            to_b = grad * right
            to_a = grad.sub_(to_b) if i else grad - to_b  # the first grad is autograd's
            shape = list(grad.shape)
            shape[dim] = n + step
            grad = to_b.new_empty(shape)
            lo, hi = min(n, step), max(n, step)
            grad.narrow(dim, 0, lo).copy_(to_a.narrow(dim, 0, lo))
            if n > step:
                torch.add(to_a.narrow(dim, step, n - step), to_b.narrow(dim, 0, n - step),
                          out=grad.narrow(dim, step, n - step))
            else:
                grad.narrow(dim, n, step - n).zero_()
            grad.narrow(dim, hi, n + step - hi).copy_(to_b.narrow(dim, hi - step, n + step - hi))
        return grad.narrow(dim, ctx.r, ctx.size), None, None, None


def _pool(x: torch.Tensor, kernel: int, minimum: bool = False) -> torch.Tensor:
    if x.dim() not in (2, 3, 4):
        raise ValueError(f'expected a 2-D, 3-D or 4-D mask, got shape {tuple(x.shape)}')
    if torch.compiler.is_compiling():
        # inductor fuses a pooling kernel's window loop
        work = x if x.dtype.is_floating_point else x.float()  # masks: 0/1, exact
        x4 = work.reshape(-1, 1, *x.shape[-2:])
        src = -x4 if minimum else x4
        r = kernel // 2
        out = F.max_pool2d(F.max_pool2d(src, (1, kernel), 1, (0, r)), (kernel, 1), 1, (r, 0))
        out = (-out if minimum else out).view(x.shape)
        return out if out.dtype == x.dtype else out.to(x.dtype)
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


def hard_boundary(mask: torch.Tensor) -> torch.Tensor:
    """BD(m) of binary float mask(s): ``m - erode(m)`` (XOR for {0, 1})."""
    return mask - erode(mask)


def label_edges(label: torch.Tensor) -> torch.Tensor:
    """Pixels of a label map with a 3×3 neighbour of another label value.

    For a pixel of class c this is BD(y_c) at that pixel, so all classes'
    boundaries cost eight comparisons instead of C erosions. Neighbours
    outside the image do not count.

    Args:
        label (Tensor): Integer map(s) (H, W) or (N, H, W).

    Returns:
        Tensor: Bool, same shape.
    """
    lab = label if label.dim() == 3 else label[None]
    if lab.dim() != 3:
        raise ValueError(f'label must be (H, W) or (N, H, W), got shape {tuple(label.shape)}')
    h, w = lab.shape[1:]
    # replicate the border: an outside "neighbour" then equals a pixel that
    # is a real neighbour (or the pixel itself), so it never differs
    pad = torch.cat([lab[:, :1], lab, lab[:, -1:]], 1)
    pad = torch.cat([pad[:, :, :1], pad, pad[:, :, -1:]], 2)
    edge = torch.zeros_like(lab, dtype=torch.bool)
    for dy in range(3):
        for dx in range(3):
            if dy != 1 or dx != 1:
                edge = edge | (pad[:, dy:dy + h, dx:dx + w] != lab)
    return edge if label.dim() == 3 else edge[0]


def class_boundaries(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class boundaries BD(y_c) as a bool (N, C, H, W) tensor.

    Values outside ``[0, num_classes)`` (ignore) belong to no class but are
    "outside" for their neighbours, like an all-zero one-hot row.
    """
    lab = label if label.dim() == 3 else label[None]
    classes = torch.arange(num_classes, device=label.device).view(1, -1, 1, 1)
    return (lab[:, None] == classes) & label_edges(lab)[:, None]


def boundary_band(label: torch.Tensor, num_classes: int, tol: int, drop_bg: bool = False,
                  bg_index: int = 0) -> torch.Tensor:
    """The BIoU band: pixels within ``tol`` of a ground-truth boundary.

    Args:
        label (Tensor): Integer map(s) (H, W) or (N, H, W); values outside
            ``[0, num_classes)`` are no class.
        num_classes (int): Number of classes.
        tol (int): Band half width in pixels.
        drop_bg (bool): The background class's own boundary forms no band.
        bg_index (int): Background class index.

    Returns:
        Tensor: Bool, same shape as ``label``.
    """
    src = label_edges(label) & (label >= 0) & (label < num_classes)
    if drop_bg:
        src &= label != bg_index
    return dilate(src, tol)
