"""Parameterized g: [0, 1] -> [0, 1] for the Auto Seg-Loss surrogates.

Plain torch, no mmseg import. SPEC §3:

- A g with ``n`` pieces has control points B_0 … B_2n in the (u, v) plane,
  B_0 = (0, 0) and B_2n = (1, 1) fixed. Its ``2(2n-1)`` free numbers θ lie in
  [0, 1] and map to the points by ``B_i = B_{i-1} + θ_i ⊙ (1 - B_{i-1})``, so
  any θ gives points non-decreasing in u and v: g(0) = 0, g(1) = 1 and
  g' ≥ 0 hold by construction.
- 'bezier': n quadratic Bézier pieces (B_2k, B_2k+1, B_2k+2);
  'linear': the polyline through B_0 … B_2n.

Flat layouts (shared with the search and the presets): per g
``B_1u, B_1v, …, B_{2n-1}u, B_{2n-1}v`` (absolute) or
``θ_1u, θ_1v, …`` (free), the g's concatenated AND then OR (BF1: g1..g4).

A piece whose u-width is ``<= WIDTH_EPS`` is a vertical jump. g takes the
bottom of a jump (the lowest piece whose u-range holds y), except g(1) = 1,
so the truth table stays exact for degenerate θ on the edges of [0, 1].
"""
import math
import threading
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch.autograd.function import once_differentiable

__all__ = [
    'METRICS', 'METRIC_NUM_G', 'DEFAULT_NUM_PIECES', 'PARAMETERIZATIONS', 'check_target_metric',
    'check_parameterization', 'check_num_pieces', 'num_params_per_g', 'num_theta',
    'identity_theta', 'theta_to_control_points', 'control_points_to_theta', 'check_theta',
    'check_control_points', 'full_control_points', 'PiecewiseG', 'build_g_functions',
    'bezier_g', 'linear_g', 'clear_scratch', 'evaluate_packed'
]

ArrayLike = Union[torch.Tensor, Sequence[float]]

METRICS = ('mIoU', 'FWIoU', 'mAcc', 'gAcc', 'BIoU', 'BF1', 'mDice', 'mIoU_I', 'mIoU_C')
# Logical operations with a g of their own (SPEC §2): AND, OR; BF1: the four
# operands of XOR(ỹ, erode(ỹ)) = OR − AND.
METRIC_NUM_G: Dict[str, int] = {
    'mIoU': 2, 'FWIoU': 2, 'mAcc': 1, 'gAcc': 1, 'BIoU': 2, 'BF1': 4, 'mDice': 2,
    'mIoU_I': 2, 'mIoU_C': 2
}
# The authors' release: n = 2 pieces, BF1 n = 1.
DEFAULT_NUM_PIECES: Dict[str, int] = {m: (1 if m == 'BF1' else 2) for m in METRICS}
PARAMETERIZATIONS = ('bezier', 'linear')

WIDTH_EPS = 1e-12  # u-width at or below which a piece is a vertical jump
_SQRT_FLOOR = 1e-24  # floor of the discriminant D²: D >= 1e-12 keeps g' = …/D finite
CPU_BLOCK = 1 << 17  # elements per block on CPU: the work buffers stay in cache


def check_target_metric(target_metric: str) -> str:
    """Return ``target_metric`` or raise listing the valid (case-sensitive) names."""
    if target_metric not in METRICS:
        raise ValueError(f'target_metric={target_metric!r} is not supported; valid names '
                         f'(case-sensitive): {list(METRICS)}')
    return target_metric


def check_parameterization(parameterization: str) -> str:
    """Return ``parameterization`` or raise listing 'bezier' and 'linear'."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f'parameterization={parameterization!r} is not supported; valid: '
                         f'{list(PARAMETERIZATIONS)}')
    return parameterization


def check_num_pieces(num_pieces: int) -> int:
    """Return ``num_pieces`` as int or raise unless it is an integer >= 1."""
    if isinstance(num_pieces, bool) or int(num_pieces) != num_pieces or num_pieces < 1:
        raise ValueError(f'num_pieces must be an integer >= 1, got {num_pieces!r}')
    return int(num_pieces)


def num_params_per_g(num_pieces: int) -> int:
    """Free numbers of one g with ``num_pieces`` pieces: ``2(2n-1)``."""
    return 2 * (2 * check_num_pieces(num_pieces) - 1)


def num_theta(target_metric: str, num_pieces: Optional[int] = None) -> int:
    """Length of θ for a metric: ``METRIC_NUM_G[metric] * 2(2n-1)``.

    Args:
        target_metric (str): One of :data:`METRICS`.
        num_pieces (int, optional): Pieces per g; ``None`` uses
            :data:`DEFAULT_NUM_PIECES`.
    """
    check_target_metric(target_metric)
    n = DEFAULT_NUM_PIECES[target_metric] if num_pieces is None else num_pieces
    return METRIC_NUM_G[target_metric] * num_params_per_g(n)


def identity_theta(target_metric: str, num_pieces: Optional[int] = None) -> List[float]:
    """θ that makes every g of the metric the identity g(y) = y (Eq. 8).

    Evenly spaced points on the diagonal: θ_i = 1 / (2n + 1 - i) for u and v.
    """
    check_target_metric(target_metric)
    n = DEFAULT_NUM_PIECES[target_metric] if num_pieces is None else check_num_pieces(num_pieces)
    one = []
    for i in range(1, 2 * n):
        t = 1.0 / (2 * n + 1 - i)
        one += [t, t]
    return one * METRIC_NUM_G[target_metric]


def _as_flat(values: ArrayLike, name: str) -> torch.Tensor:
    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(
        values, dtype=torch.float64)
    if not t.dtype.is_floating_point:
        t = t.to(torch.float64)
    if t.dim() != 1:
        t = t.reshape(-1)
    return t


def _check_length(t: torch.Tensor, num_pieces: int, num_g: Optional[int], name: str) -> int:
    per_g = num_params_per_g(num_pieces)
    if num_g is not None:
        if t.numel() != num_g * per_g:
            raise ValueError(f'{name} has {t.numel()} numbers, expected {num_g * per_g} '
                             f'({num_g} g function(s) x 2(2n-1) = {per_g} with '
                             f'num_pieces={num_pieces})')
        return num_g
    if t.numel() == 0 or t.numel() % per_g:
        raise ValueError(f'{name} has {t.numel()} numbers, expected a non-zero multiple of '
                         f'2(2n-1) = {per_g} for num_pieces={num_pieces}')
    return t.numel() // per_g


def check_theta(theta: ArrayLike, num_pieces: int, num_g: Optional[int] = None,
                name: str = 'theta') -> torch.Tensor:
    """Validate free parameters: finite, in [0, 1], of the right length.

    Args:
        theta: Flat θ of all g's.
        num_pieces (int): Pieces per g.
        num_g (int, optional): Number of g's; checks the exact length.
        name (str): Field name used in error messages.

    Returns:
        Tensor: θ as a flat floating tensor.
    """
    t = _as_flat(theta, name)
    _check_length(t, num_pieces, num_g, name)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f'{name} contains NaN or Inf: {t.tolist()}')
    bad = (t < 0) | (t > 1)
    if bool(bad.any()):
        idx = bad.nonzero().flatten().tolist()[:5]
        raise ValueError(f'{name} must lie in [0, 1]; got {[t[i].item() for i in idx]} at '
                         f'index {idx}')
    return t


def check_control_points(points: ArrayLike, num_pieces: int, num_g: Optional[int] = None,
                         name: str = 'control_points') -> torch.Tensor:
    """Validate absolute control points: finite, in [0, 1], non-decreasing.

    Each g's points B_1 … B_{2n-1}, framed by (0, 0) and (1, 1), must be
    non-decreasing in u and in v (the monotonicity constraint).

    Returns:
        Tensor: The points as a flat floating tensor.
    """
    t = _as_flat(points, name)
    k = _check_length(t, num_pieces, num_g, name)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f'{name} contains NaN or Inf: {t.tolist()}')
    if bool(((t < 0) | (t > 1)).any()):
        raise ValueError(f'{name} must lie in [0, 1], got {t.tolist()}')
    full = full_control_points(t, num_pieces)  # (k, 2n+1, 2)
    steps = full[:, 1:] - full[:, :-1]
    if bool((steps < 0).any()):
        g_idx, p_idx, axis = (steps < 0).nonzero()[0].tolist()
        raise ValueError(
            f'{name} are not monotone: g #{g_idx} has B_{p_idx + 1}.{"uv"[axis]} = '
            f'{full[g_idx, p_idx + 1, axis].item():.6g} < B_{p_idx}.{"uv"[axis]} = '
            f'{full[g_idx, p_idx, axis].item():.6g}; u and v must be non-decreasing '
            f'from (0, 0) to (1, 1) ({k} g function(s), num_pieces={num_pieces})')
    return t


def theta_to_control_points(theta: ArrayLike, num_pieces: int) -> torch.Tensor:
    """Free parameters θ -> absolute control points (same flat layout).

    ``B_i = B_{i-1} + θ_i ⊙ (1 - B_{i-1})`` with B_0 = (0, 0), per g.

    Args:
        theta: Flat θ of one or more g's, values in [0, 1].
        num_pieces (int): Pieces per g.

    Returns:
        Tensor: Flat control points, dtype of ``theta`` (float64 for lists).
    """
    t = check_theta(theta, num_pieces)
    th = t.reshape(-1, 2 * num_pieces - 1, 2)
    out = []
    prev = torch.zeros_like(th[:, 0])
    for i in range(th.shape[1]):  # 2n-1 points, a recurrence
        prev = prev + th[:, i] * (1 - prev)
        out.append(prev)
    return torch.stack(out, 1).reshape(-1)


def control_points_to_theta(points: ArrayLike, num_pieces: int) -> torch.Tensor:
    """Absolute control points -> free parameters θ (same flat layout).

    ``θ_i = (B_i - B_{i-1}) / (1 - B_{i-1})``; where ``B_{i-1} = 1`` every θ
    gives the same point, and 0 is returned.

    Returns:
        Tensor: Flat θ in [0, 1], dtype of ``points`` (float64 for lists).
    """
    p = check_control_points(points, num_pieces)
    pts = p.reshape(-1, 2 * num_pieces - 1, 2)
    prev = torch.cat([torch.zeros_like(pts[:, :1]), pts[:, :-1]], 1)
    room = 1 - prev
    safe = torch.where(room > 0, room, torch.ones_like(room))
    th = torch.where(room > 0, (pts - prev) / safe, torch.zeros_like(pts))
    return th.clamp(0, 1).reshape(-1)


def full_control_points(points: ArrayLike, num_pieces: int) -> torch.Tensor:
    """Flat points of k g's -> (k, 2n+1, 2) with B_0 = (0, 0), B_2n = (1, 1)."""
    p = _as_flat(points, 'control_points').reshape(-1, 2 * num_pieces - 1, 2)
    zero = torch.zeros_like(p[:, :1])
    return torch.cat([zero, p, zero + 1], 1)


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------
class _PiecewiseFn(torch.autograd.Function):
    """g(y) and g'(y) in one pass; backward is a single multiply.

    The autograd graph of the ~20 element-wise ops would keep as many
    full-size tensors alive and double the cost of the backward.
    """

    @staticmethod
    def forward(ctx, y: torch.Tensor, g_obj: 'PiecewiseG') -> torch.Tensor:
        need_grad = ctx.needs_input_grad[0]
        value, deriv = g_obj._evaluate(y, need_grad, deriv_dtype=None)
        if need_grad:
            ctx.save_for_backward(deriv)  # float32/64: g' may exceed half's range
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        deriv, = ctx.saved_tensors
        grad = grad_out.to(deriv.dtype) * deriv
        if grad_out.dtype in (torch.float16, torch.bfloat16):
            big = torch.finfo(grad_out.dtype).max
            grad = grad.clamp_(-big, big)
        return grad.to(grad_out.dtype), None


def _indicator(y: torch.Tensor, bound: float, out: torch.Tensor) -> torch.Tensor:
    """Float 0/1 indicator of ``y > bound`` (of ``y >= 1`` when bound is 1).

    A float ``out`` of the comparison feeds ``lerp_`` directly: a bool mask
    and ``where`` are several times slower on CPU.
    """
    if bound >= 1:  # the top of a jump at u = 1 belongs to y = 1
        return torch.ge(y, 1.0, out=out)
    return torch.gt(y, bound, out=out)


class _ScratchPool(threading.local):
    """Reusable flat work buffers for the blocked evaluations on CPU.

    Fresh multi-megabyte CPU tensors cost page faults on every allocation
    (glibc hands large blocks back to the OS), so a few block-sized buffers
    per (dtype, tag) are kept and handed out as views of the size asked for
    (a shorter last block reuses them too). Larger requests and devices with
    a caching allocator (CUDA) get plain ``torch.empty``.
    """
    max_keys = 16
    max_numel = 4 * CPU_BLOCK

    def __init__(self):
        self.bufs: 'OrderedDict[tuple, List[torch.Tensor]]' = OrderedDict()

    def get(self, numel: int, dtype: torch.dtype, device: torch.device, k: int,
            tag: str = 'work') -> List[torch.Tensor]:
        if device.type != 'cpu' or numel > self.max_numel:
            return [torch.empty(numel, dtype=dtype, device=device) for _ in range(k)]
        key = (dtype, tag)
        bufs = [b for b in self.bufs.pop(key, []) if b.numel() >= numel]
        while len(bufs) < k:
            bufs.append(torch.empty(max(numel, CPU_BLOCK), dtype=dtype))
        self.bufs[key] = bufs
        while len(self.bufs) > self.max_keys:
            self.bufs.popitem(last=False)
        return [b[:numel] for b in bufs[:k]]

    def clear(self) -> None:
        self.bufs.clear()


_SCRATCH = _ScratchPool()


def clear_scratch() -> None:
    """Free the CPU work buffers kept between g evaluations (this thread)."""
    _SCRATCH.clear()


class PiecewiseG:
    """One monotone g: [0, 1] -> [0, 1] from absolute control points.

    Element-wise over a tensor of any shape with tensor ops only: every piece
    is evaluated in closed form (the quadratic in u is inverted with the
    conjugate root ``s = x / (m + sqrt(m² + (1-2m)x))``, exact at m = 1/2, the
    straight line) and the pieces are blended with 0/1 indicators of the piece
    bounds. The first piece is solved from its left end and the last from its
    right end, so g(0) = 0 and g(1) = 1 hold exactly in floating point.
    Computation runs in float32 (float64 stays float64); the result has the
    input dtype. Differentiable in ``y`` only (θ is a fixed hyper-parameter).

    Args:
        points: Flat absolute points of ONE g (``2(2n-1)`` numbers).
        num_pieces (int): Pieces n.
        parameterization (str): 'bezier' or 'linear'.
    """

    def __init__(self, points: ArrayLike, num_pieces: int, parameterization: str = 'bezier'):
        self.parameterization = check_parameterization(parameterization)
        self.num_pieces = check_num_pieces(num_pieces)
        pts = check_control_points(points, self.num_pieces, num_g=1)
        self.points = pts.detach().to(torch.float64).cpu()
        full = full_control_points(self.points, self.num_pieces)[0].tolist()
        # Python floats: scalar ops are the fastest and never sync a device.
        self.pieces, self.bounds = (self._linear_pieces(full) if parameterization == 'linear'
                                    else self._bezier_pieces(full))
        self._const_cache: Dict = {}

    def __repr__(self) -> str:
        return (f'PiecewiseG({self.parameterization}, num_pieces={self.num_pieces}, '
                f'points={[round(v, 6) for v in self.points.tolist()]})')

    @staticmethod
    def _bezier_pieces(full: List[List[float]]):
        pieces, bounds = [], []
        n = (len(full) - 1) // 2
        for k in range(n):
            (a0, b0), (a1, b1), (a2, b2) = full[2 * k], full[2 * k + 1], full[2 * k + 2]
            d = a2 - a0
            jump = d <= WIDTH_EPS
            inv_d = 0.0 if jump else 1.0 / d
            reverse = k == n - 1 and n > 1
            if reverse:
                # Solved from (a2, b2) backwards: t = 1 - s, exact at y = a2.
                m = 0.0 if jump else min(max((a2 - a1) * inv_d, 0.0), 1.0)
                start, alpha, base, p, q = a2, -inv_d, b2, 2 * (b1 - b2), b0 - 2 * b1 + b2
            else:
                m = 0.0 if jump else min(max((a1 - a0) * inv_d, 0.0), 1.0)
                start, alpha, base, p, q = a0, inv_d, b0, 2 * (b1 - b0), b0 - 2 * b1 + b2
            if jump:  # s stays 0: g = base, g' = 0
                p = q = 0.0
            pieces.append(dict(shift=-alpha * start, alpha=alpha, m=m, m2=m * m, c=1 - 2 * m,
                               base=base, p=p, q=q, pa=0.5 * p * alpha, qa=q * alpha, lo=b0,
                               hi=b2, one=1.0, near_vertical=min(m, 1 - m) < 0.01))
            if k < n - 1:
                bounds.append(a2)
        return pieces, bounds

    @staticmethod
    def _linear_pieces(full: List[List[float]]):
        pieces, bounds = [], []
        last = len(full) - 2
        for k in range(len(full) - 1):
            (u0, v0), (u1, v1) = full[k], full[k + 1]
            w = u1 - u0
            jump = w <= WIDTH_EPS
            inv_w = 0.0 if jump else 1.0 / w
            dv = 0.0 if jump else v1 - v0
            if k == last and k > 0:  # from the right end: exact g(1) = 1
                pieces.append(dict(shift=u1 * inv_w, alpha=-inv_w, base=v1, slope=-dv,
                                   deriv=dv * inv_w, lo=v0, hi=v1, one=1.0))
            else:
                pieces.append(dict(shift=-u0 * inv_w, alpha=inv_w, base=v0, slope=dv,
                                   deriv=dv * inv_w, lo=v0, hi=v1, one=1.0))
            if k < last:
                bounds.append(u1)
        return pieces, bounds

    def _consts(self, dtype: torch.dtype, device: torch.device) -> List[Dict[str, torch.Tensor]]:
        """0-d tensors of the piece constants: ``torch.add(c, x, alpha=a)`` is
        one pass where ``x * a + c`` is two."""
        key = (dtype, str(device))
        if key not in self._const_cache:
            self._const_cache[key] = [{
                k: torch.tensor(v, dtype=dtype, device=device)
                for k, v in pc.items() if isinstance(v, float)
            } for pc in self.pieces]
        return self._const_cache[key]

    def _bounds_in(self, dtype: torch.dtype) -> List[float]:
        """Piece bounds rounded to ``dtype``: a bound that rounds to 1 must
        send y = 1 to the top piece (else g(1) = 1 breaks in float32)."""
        key = ('bounds', dtype)
        if key not in self._const_cache:
            self._const_cache[key] = [torch.tensor(b, dtype=dtype).item() for b in self.bounds]
        return self._const_cache[key]

    def packed(self, dtype: torch.dtype, device: torch.device
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The pieces as tensors for :func:`evaluate_packed`.

        A linear piece is the Bézier piece with ``m = 1/2`` and ``q = 0``
        (then ``D = 1/2`` and ``s = x`` exactly), so one formula serves both.

        Returns:
            tuple[Tensor, Tensor]: Constants (P, 12) in the order of
            :data:`PACKED_KEYS` and thresholds (P - 1,): piece k > 0 applies
            where ``y > thresholds[k - 1]`` (a bound at 1 becomes the float
            just below 1, i.e. ``y >= 1``).
        """
        key = ('packed', dtype, str(device))
        if key not in self._const_cache:
            rows = []
            for pc in self.pieces:
                if self.parameterization == 'linear':
                    pc = dict(pc, m=0.5, m2=0.25, c=0.0, p=pc['slope'], q=0.0,
                              pa=0.5 * pc['slope'] * pc['alpha'], qa=0.0)
                rows.append([pc[k] for k in PACKED_KEYS])
            below_one = torch.nextafter(torch.tensor(1.0, dtype=dtype),
                                        torch.tensor(0.0, dtype=dtype)).item()
            bounds = [b if b < 1 else below_one for b in self._bounds_in(dtype)]
            self._const_cache[key] = (torch.tensor(rows, dtype=dtype, device=device),
                                      torch.tensor(bounds, dtype=dtype, device=device))
        return self._const_cache[key]

    def _piece(self, y: torch.Tensor, pc: Dict, cs: Dict[str, torch.Tensor], value: torch.Tensor,
               x: torch.Tensor, den: torch.Tensor, deriv: Optional[torch.Tensor]) -> None:
        """Evaluate one piece on every element of a block, into the buffers.

        ``value`` <- g; for Bézier with ``deriv`` given, g' goes to ``deriv``
        (which may be ``x``). ``x`` and ``den`` are scratch.
        """
        # x = alpha (y - start), clamped: the other pieces' range maps outside
        if pc['alpha'] == 1.0 and pc['shift'] == 0.0:
            torch.clamp(y, 0, 1, out=x)
        else:
            torch.add(cs['shift'], y, alpha=pc['alpha'], out=x).clamp_(0, 1)
        if self.parameterization == 'linear':
            torch.add(cs['base'], x, alpha=pc['slope'], out=value).clamp_(pc['lo'], pc['hi'])
            return
        # s = x / (m + D) with D = sqrt(m² + (1-2m)x); x becomes s in place.
        # The floor only matters where m is near 0 or 1 (vertical tangents).
        torch.add(cs['m2'], x, alpha=pc['c'], out=den)
        if pc['near_vertical']:
            den.clamp_(min=_SQRT_FLOOR)
        den.sqrt_()
        s = x.div_(torch.add(den, pc['m'], out=value))  # value: scratch until below
        torch.add(cs['p'], s, alpha=pc['q'], out=value).mul_(s)
        if pc['base'] != 0:
            value.add_(pc['base'])
        value.clamp_(pc['lo'], pc['hi'])  # rounding must not cross a joint
        if deriv is None:
            return
        # g' = (dg/ds) / (du/ds) = (p + 2qs)·alpha / (2(m + (1-2m)s)), and
        # m + (1-2m)s = D; D >= 1e-12 by the floor above.
        torch.add(cs['pa'], s, alpha=pc['qa'], out=deriv).div_(den)

    def _evaluate(self, y: torch.Tensor, need_grad: bool, deriv_dtype: Optional[torch.dtype] = 0,
                  scratch_value: Union[bool, str] = False):
        """(g(y), g'(y) or None) without autograd.

        On CPU the flat tensor is processed in blocks of :data:`CPU_BLOCK`
        elements: the ~40 element-wise passes of a block then stay in the CPU
        cache instead of streaming the whole tensor through memory 40 times
        (several times faster). Blocks are memory chunks, not pixels or
        classes: every op inside is vectorized.

        Args:
            y (Tensor): Input of any shape.
            need_grad (bool): Also compute g'.
            deriv_dtype: dtype of g' (0: y's dtype, None: the working dtype).
            scratch_value (bool or str): Write g (and g') into reusable work
                buffers (valid until the next evaluation with the same tag; a
                str picks the tag, True means 'value'; float32/64 input only).
                Saves allocations when both are consumed at once.
        """
        out_dtype = y.dtype
        work = torch.float64 if y.dtype == torch.float64 else torch.float32
        shape = y.shape
        flat = y.detach().to(work).reshape(-1)
        n, dev = flat.numel(), flat.device
        if scratch_value:
            tag = scratch_value if isinstance(scratch_value, str) else 'value'
            value = _SCRATCH.get(n, work, dev, 1, tag=tag)[0]
            deriv = _SCRATCH.get(n, work, dev, 1, tag=tag + "'")[0] if need_grad else None
        else:
            value = torch.empty(n, dtype=work, device=dev)
            deriv = torch.empty(n, dtype=work, device=dev) if need_grad else None
        block = min(n, CPU_BLOCK) if dev.type == 'cpu' else n
        work_bufs = _SCRATCH.get(max(block, 1), work, dev, 4)
        for start in range(0, n, max(block, 1)):
            end = min(start + block, n)
            self._evaluate_block(flat[start:end], value[start:end],
                                 None if deriv is None else deriv[start:end],
                                 *(b[:end - start] for b in work_bufs))
        value = value.view(shape).to(out_dtype)
        if deriv is not None:
            deriv = deriv.view(shape)
            if deriv_dtype is not None:
                deriv = deriv.to(out_dtype if deriv_dtype == 0 else deriv_dtype)
        return value, deriv

    def _evaluate_block(self, y: torch.Tensor, value: torch.Tensor, deriv: Optional[torch.Tensor],
                        x: torch.Tensor, den: torch.Tensor, v_k: torch.Tensor,
                        ind: torch.Tensor) -> None:
        """g (and g') of a flat block into ``value`` (``deriv``); the rest is scratch."""
        need_grad = deriv is not None
        linear = self.parameterization == 'linear'
        consts = self._consts(y.dtype, y.device)
        self._piece(y, self.pieces[0], consts[0], value, x, den, None if linear else deriv)
        if need_grad and linear:
            prev = self.pieces[0]['deriv']
            deriv.fill_(prev)
        for bound, pc, cs in zip(self._bounds_in(y.dtype), self.pieces[1:], consts[1:]):
            _indicator(y, bound, ind)
            self._piece(y, pc, cs, v_k, x, den, None if (linear or not need_grad) else x)
            # Indicators are nested (y above bound k => above bound k-1), so
            # blending in order leaves the highest piece whose bound y passed;
            # lerp with weight 0 or 1 returns either end exactly.
            value.lerp_(v_k, ind)
            if not need_grad:
                continue
            if linear:
                deriv.add_(ind, alpha=pc['deriv'] - prev)
                prev = pc['deriv']
            else:
                deriv.lerp_(x, ind)
        if len(self.pieces) == 1:
            # One Bézier piece is solved from y = 0; make g(1) = 1 exact too
            # (1 - v is exact for v near 1, so v + (1 - v) is exactly 1).
            _indicator(y, 1.0, ind)
            value.lerp_(consts[0]['one'], ind)
        if need_grad:
            # Rounding (s a hair past 1 where dv/ds ends at 0, or the blend)
            # must not turn a zero slope negative.
            deriv.clamp_(min=0)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """g(y), element-wise; gradients flow to ``y``."""
        if not isinstance(y, torch.Tensor):
            raise TypeError(f'g expects a tensor, got {type(y).__name__}')
        if not y.dtype.is_floating_point:
            raise TypeError(f'g expects a floating tensor, got {y.dtype}')
        if y.requires_grad and torch.is_grad_enabled():
            return _PiecewiseFn.apply(y, self)
        return self._evaluate(y, False)[0]

    def derivative(self, y: torch.Tensor) -> torch.Tensor:
        """g'(y) element-wise (at a joint: of the lower piece; at a jump: 0)."""
        return self._evaluate(y, True)[1]


# Column order of :meth:`PiecewiseG.packed`.
PACKED_KEYS = ('shift', 'alpha', 'm2', 'c', 'm', 'p', 'q', 'base', 'pa', 'qa', 'lo', 'hi')


def evaluate_packed(y: torch.Tensor, consts: torch.Tensor, thresholds: torch.Tensor
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """g(y) and g'(y) from :meth:`PiecewiseG.packed`, out-of-place ops only.

    The formula of :meth:`PiecewiseG._piece` and its blending written as one
    expression that ``torch.compile`` fuses into a single loop (the eager
    :meth:`PiecewiseG._evaluate` reuses buffers instead). The constants are
    tensors, so a compiled graph serves every θ.

    Args:
        y (Tensor): Input of any shape, float32 or float64.
        consts (Tensor): (P, 12) piece constants.
        thresholds (Tensor): (P - 1,) piece thresholds.

    Returns:
        tuple[Tensor, Tensor]: g(y) and g'(y), shaped like ``y``.
    """
    # Each element's piece constants are picked first (nested like the
    # eager blend: the highest piece whose threshold y passes), so the one
    # square root and two divisions run once per element, not per piece.
    cs = consts[0].unbind()
    for k in range(1, consts.shape[0]):
        above = y > thresholds[k - 1]
        cs = [torch.where(above, b, a) for a, b in zip(cs, consts[k].unbind())]
    shift, alpha, m2, c, m, p, q, base, pa, qa, lo, hi = cs
    x = (y * alpha + shift).clamp(0, 1)
    den = (m2 + c * x).clamp_min(_SQRT_FLOOR).sqrt()
    s = x / (m + den)
    value = torch.minimum(torch.maximum((p + q * s) * s + base, lo), hi)
    deriv = (pa + qa * s) / den
    # one piece is solved from y = 0: g(1) = 1 exactly as in the eager path
    value = torch.where(y >= 1, torch.ones_like(value), value)
    return value, deriv.clamp_min(0)


def build_g_functions(num_g: int, num_pieces: int, parameterization: str = 'bezier',
                      theta: Optional[ArrayLike] = None,
                      control_points: Optional[ArrayLike] = None) -> List[PiecewiseG]:
    """The ``num_g`` g's from a flat θ or flat control points (identity if neither).

    Returns:
        list[PiecewiseG]: In layout order (AND, OR; BF1 g1..g4).
    """
    if theta is not None and control_points is not None:
        raise ValueError('give theta or control_points, not both')
    per_g = num_params_per_g(num_pieces)
    if control_points is None:
        if theta is None:
            theta = [1.0 / (2 * num_pieces + 1 - i) for i in range(1, 2 * num_pieces)
                     for _ in range(2)] * num_g
        check_theta(theta, num_pieces, num_g)
        control_points = theta_to_control_points(theta, num_pieces)
    pts = check_control_points(control_points, num_pieces, num_g)
    return [PiecewiseG(pts[i * per_g:(i + 1) * per_g], num_pieces, parameterization)
            for i in range(num_g)]


def bezier_g(y: torch.Tensor, control_points: ArrayLike, num_pieces: Optional[int] = None
             ) -> torch.Tensor:
    """Piecewise quadratic Bézier g(y) for ONE g given absolute control points."""
    n = num_pieces if num_pieces is not None else _infer_pieces(control_points)
    return PiecewiseG(control_points, n, 'bezier')(y)


def linear_g(y: torch.Tensor, control_points: ArrayLike, num_pieces: Optional[int] = None
             ) -> torch.Tensor:
    """Piecewise linear g(y) through (0,0), B_1 … B_{2n-1}, (1,1) for ONE g."""
    n = num_pieces if num_pieces is not None else _infer_pieces(control_points)
    return PiecewiseG(control_points, n, 'linear')(y)


def _infer_pieces(points: ArrayLike) -> int:
    k = _as_flat(points, 'control_points').numel()
    n = (k // 2 + 1) / 2
    if k % 2 or n != math.floor(n) or n < 1:
        raise ValueError(f'{k} control-point numbers do not make one g: expected 2(2n-1)')
    return int(n)

