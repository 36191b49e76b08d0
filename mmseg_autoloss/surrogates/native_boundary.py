"""The relaxed-BF1 soft boundary on the CPU kernel ``csrc/bf1_cpu.cpp``.

Thin ctypes wrappers (the kernel is built at first use, :mod:`.native`).
The kernel works a row at a time per (image, class) plane: the 3×3
erosion, the four g's, e = XOR(ỹ, erode(ỹ)), its partial derivatives and
the erosion winner's code, the precision sums, and the recall window maxima
at the ground-truth boundary pixels (from rings of 2·tol + 1 rows, so e is
never stored whole) stay in cache between steps, where the torch.compile
kernels (:mod:`.fused_boundary`) make whole-tensor passes. The softmax and
its Jacobian run in the kernel too, a block of pixels at a time over the
channels. Same statistics, formulas and tie rules as the eager
:class:`~.relaxed_metrics._BoundaryF1Stats` (tested). Work is split over
``torch.get_num_threads()`` threads by channel (boundary) or image
(softmax); the kernel releases the GIL.
"""
import ctypes
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Sequence, Tuple

import torch

from .native import load_kernel

__all__ = ['native_kernel', 'native_packs', 'native_softmax', 'native_forward',
           'native_backward', 'MAX_PIECES']

MAX_PIECES = 4  # the kernel's instantiations (csrc/bf1_cpu.cpp: BF1_CASE)

_NATIVE_ERRORS: list = []
_PTR, _INT, _I64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
_SIGNATURES = {
    'bf1_forward': [_INT] + [_PTR] * 5 + [_INT] * 5 + [_PTR] * 2 + [_INT] * 3 + [_PTR] * 9,
    'bf1_backward': [_PTR] * 7 + [_INT] * 4 + [_PTR] * 2 + [_INT] * 2 + [_PTR],
    'bf1_recall_backward': [_PTR] * 5 + [_I64, _INT, _PTR],
    'bf1_softmax_backward': [_PTR] * 2 + [_INT, _I64, _INT, _INT],
    'bf1_softmax': [_PTR] * 2 + [_INT, _I64, _INT, _INT],
}


def native_kernel() -> Optional[ctypes.CDLL]:
    """The CPU BF1 kernel library, or None (with one warning) if it cannot be built."""
    if _NATIVE_ERRORS:
        return None
    try:
        lib = load_kernel('bf1_cpu')
    except (RuntimeError, OSError) as err:
        _NATIVE_ERRORS.append(err)
        warnings.warn(f'compile=True: the CPU BF1 kernel could not be built; using the '
                      f'torch.compile kernels instead ({err})')
        return None
    if not getattr(lib, 'typed', False):
        for name, args in _SIGNATURES.items():
            for suffix in ('f32', 'f64'):
                fn = getattr(lib, f'{name}_{suffix}')
                fn.argtypes = args
                fn.restype = _INT if name == 'bf1_forward' else None
        lib.typed = True
    return lib


def _fn(lib: ctypes.CDLL, name: str, dtype: torch.dtype) -> Callable:
    """The kernel entry point ``name`` for ``dtype`` (float32 or float64)."""
    return getattr(lib, f'{name}_{"f32" if dtype == torch.float32 else "f64"}')


def _ptr(t: Optional[torch.Tensor]) -> Optional[int]:
    return None if t is None else t.data_ptr()


def _split(total: int, fn: Callable[[int, int], None]) -> None:
    """``fn(start, stop)`` over ``range(total)`` in torch's thread count of
    chunks (the kernels release the GIL)."""
    threads = min(torch.get_num_threads(), total)
    if threads <= 1:
        fn(0, total)
        return
    bounds = [total * i // threads for i in range(threads + 1)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: fn(bounds[i], bounds[i + 1]), range(threads)))


def native_packs(gs: Sequence, dtype: torch.dtype) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """The four g's constants (4, P, 12) and thresholds (4, P - 1) for the
    CPU kernel, or None if their piece counts differ or exceed its limit."""
    packs = [g.packed(dtype, torch.device('cpu')) for g in gs]
    pieces = packs[0][0].shape[0]
    if any(c.shape[0] != pieces for c, _ in packs) or pieces > MAX_PIECES:
        return None
    return (torch.stack([c for c, _ in packs]).contiguous(),
            torch.stack([t for _, t in packs]).contiguous())


def native_softmax(lib: ctypes.CDLL, z: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 of contiguous (N, C, H, W) logits on the CPU kernel."""
    n, c = z.shape[:2]
    probs = torch.empty_like(z)
    fn = _fn(lib, 'bf1_softmax', z.dtype)
    _split(n, lambda n0, n1: fn(z.data_ptr(), probs.data_ptr(), c, z[0, 0].numel(), n0, n1))
    return probs


def native_forward(lib: ctypes.CDLL, probs: torch.Tensor, w: torch.Tensor, bits: torch.Tensor,
                   groups: torch.Tensor, shifts: torch.Tensor, at: torch.Tensor, tol: int,
                   consts: torch.Tensor, thresholds: torch.Tensor, need_grad: bool):
    """The forward on the CPU kernel.

    Args:
        probs (Tensor): ỹ (N, C, H, W), contiguous.
        w (Tensor): Pixel weights (N, H, W), ``probs``' dtype.
        bits, groups, shifts (Tensor): Dilated GT boundaries as int32 bit
            maps (G, N, H, W), each channel's group (int64) and bit (int32).
        at (Tensor): Flat int64 positions into (N, C, H, W) for recall.
        tol (int): Boundary tolerance.
        consts, thresholds (Tensor): :func:`native_packs`.
        need_grad (bool): Also return ∂e/∂a, ∂e/∂b and the erosion codes.

    Returns:
        tuple: Σ w·e, Σ w·near·e (C,), Dil(e) at ``at`` (K,), the winners'
        flat positions (K,), ∂e/∂a, ∂e/∂b, codes (uint8) or three Nones.
    """
    n, c, h, width = probs.shape
    de_da = de_db = code = None
    if need_grad:
        de_da, de_db = torch.empty_like(probs), torch.empty_like(probs)
        code = torch.empty(probs.shape, dtype=torch.uint8)
    n_pred, match_p = probs.new_empty(c), probs.new_empty(c)
    # the kernel answers recall plane by plane, row by row: positions sorted,
    # as in-plane offsets, with each plane's range
    hw = h * width
    at_sorted, order = at.sort()
    plane = at_sorted.div(hw, rounding_mode='floor')
    at_ptr = torch.zeros(n * c + 1, dtype=torch.long)
    at_ptr[1:] = torch.bincount(plane, minlength=n * c).cumsum(0)
    in_plane = (at_sorted - plane * hw).contiguous()
    value, where = probs.new_empty(at.numel()), torch.empty(at.numel(), dtype=torch.long)
    forward = _fn(lib, 'bf1_forward', probs.dtype)

    def planes(c0: int, c1: int) -> None:
        if forward(consts.shape[1], probs.data_ptr(), w.data_ptr(), bits.data_ptr(),
                   groups.data_ptr(), shifts.data_ptr(), n, c, h, width, tol, consts.data_ptr(),
                   thresholds.data_ptr(), int(need_grad), c0, c1, in_plane.data_ptr(),
                   at_ptr.data_ptr(), _ptr(de_da), _ptr(de_db), _ptr(code), n_pred.data_ptr(),
                   match_p.data_ptr(), value.data_ptr(), where.data_ptr()) != 0:
            raise ValueError(f'the BF1 CPU kernel takes g\'s of 1 to {MAX_PIECES} pieces, '
                             f'got {consts.shape[1]}')

    _split(c, planes)
    at_max, winner = torch.empty_like(value), torch.empty_like(where)
    at_max[order], winner[order] = value, where
    return n_pred, match_p, at_max, winner, de_da, de_db, code


def native_backward(lib: ctypes.CDLL, de_da: torch.Tensor, de_db: torch.Tensor,
                    code: torch.Tensor, w: torch.Tensor, bits: torch.Tensor,
                    groups: torch.Tensor, shifts: torch.Tensor, g_n: torch.Tensor,
                    g_p: torch.Tensor, winner: torch.Tensor, g_at: Optional[torch.Tensor],
                    probs: Optional[torch.Tensor]) -> torch.Tensor:
    """Gradient w.r.t. the scores on the CPU kernel: w.r.t. ỹ, then through
    the softmax when ``probs`` (ỹ) is given (in place, by image).

    Returns:
        Tensor: (N, C, H, W).
    """
    n, c, h, width = de_da.shape
    grad = torch.empty_like(de_da)
    backward = _fn(lib, 'bf1_backward', de_da.dtype)
    _split(c, lambda c0, c1: backward(
        de_da.data_ptr(), de_db.data_ptr(), code.data_ptr(), w.data_ptr(), bits.data_ptr(),
        groups.data_ptr(), shifts.data_ptr(), n, c, h, width, g_n.data_ptr(), g_p.data_ptr(),
        c0, c1, grad.data_ptr()))
    if g_at is not None and winner.numel():
        g_at = g_at.to(de_da.dtype).contiguous()
        _fn(lib, 'bf1_recall_backward', de_da.dtype)(
            de_da.data_ptr(), de_db.data_ptr(), code.data_ptr(), winner.data_ptr(),
            g_at.data_ptr(), winner.numel(), width, grad.data_ptr())
    if probs is not None:
        jacobian = _fn(lib, 'bf1_softmax_backward', de_da.dtype)
        _split(n, lambda n0, n1: jacobian(probs.data_ptr(), grad.data_ptr(), c, h * width, n0,
                                          n1))
    return grad
