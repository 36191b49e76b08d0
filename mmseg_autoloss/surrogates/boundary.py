"""Boundary operators shared by the surrogates, the metrics and ReCAM.

Plain torch, no mmseg import. Conventions (SPEC §1):

- BD(m) = m XOR MinPool3x3(m): mask pixels with a 3×3 neighbour outside the
  mask; the image border is not a boundary (outside counts as inside).
- Dil_tol(m) = MaxPool of size 2·tol+1, stride 1 (square window).

The same functions serve hard {0, 1} masks (metrics) and soft masks in
[0, 1] (surrogates), so the two can never disagree.
"""
import torch
import torch.nn.functional as F

__all__ = ['erode', 'dilate', 'or_dilate_bits', 'hard_boundary', 'label_edges',
           'class_boundaries', 'boundary_band']


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


def erode(x: torch.Tensor) -> torch.Tensor:
    """3×3 min-pool, stride 1; outside the image counts as 1 (no border edge).

    Args:
        x (Tensor): Mask(s) of shape (H, W), (N, H, W) or (N, C, H, W),
            floating point, values in [0, 1].

    Returns:
        Tensor: Eroded mask, same shape and dtype.
    """
    x4, nd = _as_4d(x)
    # max_pool pads with -inf, so the negated min-pool ignores the border.
    return _restore(-F.max_pool2d(-_pool_layout(x4), 3, 1, 1), nd)


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
    per-class boundaries of a whole label map cost eight comparisons instead
    of C min-pools. Neighbours outside the image are ignored.

    Args:
        label (Tensor): Integer label map(s), shape (H, W) or (N, H, W).

    Returns:
        Tensor: Bool tensor of the same shape.
    """
    lab = label if label.dim() == 3 else label[None]
    if lab.dim() != 3:
        raise ValueError(f'label must be (H, W) or (N, H, W), got shape {tuple(label.shape)}')
    h, w = lab.shape[-2:]
    # Replicate padding makes outside pixels equal to their inner neighbour.
    p = F.pad(lab[:, None].float(), (1, 1, 1, 1), mode='replicate')[:, 0]
    lab_f = lab.float()
    edge = torch.zeros_like(lab, dtype=torch.bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy == 1 and dx == 1:
                continue
            edge |= p[:, dy:dy + h, dx:dx + w] != lab_f
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
    return dilate(src.float(), tol) > 0
