"""Parameterized g: [0, 1] -> [0, 1] for the Auto Seg-Loss surrogates.

Plain torch, no mmseg import. method.md §3:

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
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..utils.masks import indicator
from .target_metrics import TargetMetricNames, TargetMetricView, get_target_metric

__all__ = [
    'METRICS', 'METRIC_NUM_G', 'DEFAULT_NUM_PIECES', 'PARAMETERIZATIONS', 'check_target_metric',
    'check_parameterization', 'check_num_pieces', 'num_params_per_g', 'num_theta',
    'identity_theta', 'theta_to_control_points', 'control_points_to_theta', 'check_theta',
    'check_control_points', 'full_control_points', 'PiecewiseG', 'build_g_functions',
    'bezier_g', 'linear_g', 'g_formula', 'apply_g'
]

ArrayLike = Union[torch.Tensor, Sequence[float]]

# Live read-only views of the target-metric table (.metric_table): they list
# metrics a user registers too.
METRICS = TargetMetricNames()
METRIC_NUM_G = TargetMetricView(lambda entry: entry.num_g)
DEFAULT_NUM_PIECES = TargetMetricView(lambda entry: entry.num_pieces)
PARAMETERIZATIONS = ('bezier', 'linear')

WIDTH_EPS = 1e-12  # u-width at or below which a piece is a vertical jump
_SQRT_FLOOR = 1e-24  # floor of the discriminant D²: D >= 1e-12 keeps g' = …/D finite
_SAFE_DISCRIMINANT = 1e-6  # far above the rounding error of D² (~1e-7 in float32)


def check_target_metric(target_metric: str) -> str:
    """Return ``target_metric`` or raise listing the valid (case-sensitive) names."""
    return get_target_metric(target_metric).name


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
    """Length of θ for a metric: ``num_g * 2(2n-1)``.

    Args:
        target_metric (str): A registered target metric (:mod:`.metric_table`).
        num_pieces (int, optional): Pieces per g; ``None`` uses the
            metric's default.
    """
    entry = get_target_metric(target_metric)
    n = entry.num_pieces if num_pieces is None else num_pieces
    return entry.num_g * num_params_per_g(n)


def identity_theta(target_metric: str, num_pieces: Optional[int] = None) -> List[float]:
    """θ that makes every g of the metric the identity g(y) = y (Eq. 8).

    Evenly spaced points on the diagonal: θ_i = 1 / (2n + 1 - i) for u and v.
    """
    entry = get_target_metric(target_metric)
    n = entry.num_pieces if num_pieces is None else check_num_pieces(num_pieces)
    one = []
    for i in range(1, 2 * n):
        t = 1.0 / (2 * n + 1 - i)
        one += [t, t]
    return one * entry.num_g


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
# Evaluation: one formula for every piece of every parameterization
# --------------------------------------------------------------------------
# Columns of a piece's constants (see PiecewiseG.packed).
PACKED_KEYS = ('shift', 'alpha', 'm2', 'c', 'm', 'p', 'q', 'base', 'pa', 'qa', 'lo', 'hi')
_OFFSETS = tuple(PACKED_KEYS.index(k) for k in ('shift', 'm2', 'p', 'pa'))


def g_formula(y: torch.Tensor, consts: Union[torch.Tensor, Sequence[Sequence[float]]],
              thresholds: Union[torch.Tensor, Sequence[float]],
              need_slope: bool = True) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """g(y) and g'(y) of a piecewise g from its packed constants.

    A piece maps ``x = alpha·y + shift`` (clamped to [0, 1]) to its curve
    parameter with the conjugate root ``s = x / (m + D)``,
    ``D = sqrt(m² + (1-2m)x)``, exact on a straight piece (m = 1/2), and
    ``g = base + (p + q·s)·s``, clamped to the piece's v-range so rounding
    never crosses a joint; ``g' = (pa + qa·s) / D``. Every piece is
    evaluated on the whole tensor and an element takes the highest piece
    whose threshold it passes (``lerp`` with a 0/1 weight, an exact
    selection); with scalar constants far cheaper on a CPU than gathering
    twelve per-element constants.

    Args:
        y (Tensor): Input of any shape, float32 or float64.
        consts: (P, 12) piece constants (:data:`PACKED_KEYS`): Python floats
            (scalar ops; offsets may be 0-d tensors, see
            :meth:`PiecewiseG.scalars`) or a tensor (``torch.compile``: θ
            stays an input, so one graph serves every θ).
        thresholds: The P - 1 piece thresholds, floats or a tensor.
        need_slope (bool): Also return g'.

    Returns:
        tuple: g(y) and g'(y) (None unless ``need_slope``), shaped like y.
    """
    num = len(consts)
    # Three fresh buffers per piece, the rest in place (on a CPU an op into
    # new memory costs several times one on a tensor in cache), unless
    # autograd records this formula: then what it saved must stay intact.
    reuse = not (torch.is_grad_enabled() and y.requires_grad)
    value = slope = None
    for k in range(num):
        row = consts[k]
        shift, alpha, m2, c, m, p, q, base, pa, qa, lo, hi = (
            row.unbind() if isinstance(row, torch.Tensor) else row)
        x = _affine(y, alpha, shift).clamp_(0, 1)
        den = _affine(x, c, m2)
        # D² is linear in x in [0, 1], from m² to (1-m)²: floored only where
        # rounding can bring it to 0
        if isinstance(m, torch.Tensor) or min(m, 1 - m)**2 <= _SAFE_DISCRIMINANT:
            den.clamp_min_(_SQRT_FLOOR)
        # 1/D by rsqrt and D = D²·(1/D): as exact as sqrt and cheaper on a CPU
        inv = den.rsqrt()
        t = den.mul_(inv).add_(m) if reuse else den * inv + m
        s = x.div_(t)
        v = _affine(s, q, p, out=t if reuse else None).mul_(s)
        if not _is(base, 0):
            v.add_(base)
        v.clamp_(lo, hi)
        sl = None
        if need_slope:
            # rounding (s a hair past 1 where dv/ds ends at 0) must not turn g' < 0
            sl = _affine(s, qa, pa, out=s if reuse else None).mul_(inv).clamp_min_(0)
        if k == 0:
            value, slope = v, sl
        else:
            # the highest piece whose threshold y passes (thresholds are
            # non-decreasing); lerp with weight 0 or 1 is exact
            above = indicator(torch.gt, y, thresholds[k - 1])
            value = value.lerp_(v, above) if reuse else torch.lerp(value, v, above)
            if sl is not None:
                slope = slope.lerp_(sl, above) if reuse else torch.lerp(slope, sl, above)
    if num == 1:
        # g(1) = 1 exactly for one piece solved from y = 0 (several pieces
        # solve the last one from y = 1, where x = 0 gives base = 1); value
        # >= lo >= 0, so the max with the 0/1 indicator of y >= 1 does it
        value = torch.maximum(value, indicator(torch.ge, y, 1.0))
    return value, slope


def _affine(x: torch.Tensor, a, b, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """a·x + b. With a float ``a`` and a 0-d tensor ``b`` (the eager
    constants, :meth:`PiecewiseG.scalars`) one op, ``torch.add(b, x,
    alpha=a)``; else (packed tensors for ``torch.compile``, which fuses
    them anyway, or plain floats) a product and a sum."""
    if isinstance(b, torch.Tensor) and not isinstance(a, torch.Tensor):
        return torch.add(b, x, alpha=a, out=out)
    v = torch.mul(x, a, out=out)
    return v if _is(b, 0) else v.add_(b)


def _is(value, const: float) -> bool:
    """``value`` is a Python number equal to ``const`` (an op with it is an
    exact no-op; packed tensor constants always run the op)."""
    return not isinstance(value, torch.Tensor) and value == const


class _GFunction(torch.autograd.Function):
    """g with its slope from the same pass; keeps one tensor for the backward
    instead of the ~30 intermediates of the formula's autograd graph."""

    @staticmethod
    def forward(ctx, y, consts, thresholds):
        value, slope = g_formula(y, consts, thresholds)
        ctx.save_for_backward(slope)
        return value

    @staticmethod
    def backward(ctx, grad):
        slope, = ctx.saved_tensors
        return grad * slope, None, None


def apply_g(y: torch.Tensor, consts, thresholds) -> torch.Tensor:
    """g(y) from packed constants (floats or tensors, as :func:`g_formula`),
    differentiable in ``y``."""
    if y.requires_grad and torch.is_grad_enabled():
        return _GFunction.apply(y, consts, thresholds)
    return g_formula(y, consts, thresholds, need_slope=False)[0]


class PiecewiseG:
    """One monotone g: [0, 1] -> [0, 1] from absolute control points.

    Element-wise over a tensor of any shape (:func:`g_formula`). The first
    piece is solved from its left end and the last from its right end, so
    g(0) = 0 and g(1) = 1 hold exactly in floating point. float32 and
    float64 are computed in their own precision, half precision in float32;
    the result has the input dtype. Differentiable in ``y`` only (θ is a
    fixed hyper-parameter).

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
        self.rows, self.bounds = (self._linear_rows(full) if parameterization == 'linear'
                                  else self._bezier_rows(full))
        self._cache: Dict = {}

    def __repr__(self) -> str:
        return (f'PiecewiseG({self.parameterization}, num_pieces={self.num_pieces}, '
                f'points={[round(v, 6) for v in self.points.tolist()]})')

    @staticmethod
    def _bezier_rows(full: List[List[float]]) -> Tuple[List[List[float]], List[float]]:
        rows, bounds = [], []
        n = (len(full) - 1) // 2
        for k in range(n):
            (a0, b0), (a1, b1), (a2, b2) = full[2 * k], full[2 * k + 1], full[2 * k + 2]
            d = a2 - a0
            jump = d <= WIDTH_EPS  # a vertical jump: s stays 0, g = base, g' = 0
            inv_d = 0.0 if jump else 1.0 / d
            q = b0 - 2 * b1 + b2
            if k == n - 1 and n > 1:  # solved from (a2, b2) backwards: exact at y = a2
                m = 0.0 if jump else min(max((a2 - a1) * inv_d, 0.0), 1.0)
                start, alpha, base, p = a2, -inv_d, b2, 2 * (b1 - b2)
            else:
                m = 0.0 if jump else min(max((a1 - a0) * inv_d, 0.0), 1.0)
                start, alpha, base, p = a0, inv_d, b0, 2 * (b1 - b0)
            if jump:
                p = q = 0.0
            rows.append([-alpha * start, alpha, m * m, 1 - 2 * m, m, p, q, base, 0.5 * p * alpha,
                         q * alpha, b0, b2])
            if k < n - 1:
                bounds.append(a2)
        return rows, bounds

    @staticmethod
    def _linear_rows(full: List[List[float]]) -> Tuple[List[List[float]], List[float]]:
        # a straight piece is the Bézier formula with m = 1/2, q = 0 (s = x)
        rows, bounds = [], []
        last = len(full) - 2
        for k in range(len(full) - 1):
            (u0, v0), (u1, v1) = full[k], full[k + 1]
            jump = u1 - u0 <= WIDTH_EPS
            inv_w = 0.0 if jump else 1.0 / (u1 - u0)
            dv = 0.0 if jump else v1 - v0
            if k == last and k > 0:  # from the right end: exact g(1) = 1
                shift, alpha, base, slope = u1 * inv_w, -inv_w, v1, -dv
            else:
                shift, alpha, base, slope = -u0 * inv_w, inv_w, v0, dv
            rows.append([shift, alpha, 0.25, 0.0, 0.5, slope, 0.0, base, 0.5 * slope * alpha,
                         0.0, v0, v1])
            if k < last:
                bounds.append(u1)
        return rows, bounds

    def packed(self, dtype: torch.dtype, device: torch.device
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The constants (P, 12) and thresholds (P - 1,) for :func:`g_formula`.

        Cached per dtype and device (made once, so no host transfer per
        call). A bound that rounds to 1 in ``dtype`` becomes the float just
        below 1, i.e. ``y >= 1`` takes the top piece and g(1) = 1 holds.
        """
        key = (dtype, str(device))
        if key not in self._cache:
            one = torch.tensor(1.0, dtype=dtype)
            below_one = torch.nextafter(one, torch.zeros_like(one)).item()
            bounds = [torch.tensor(b, dtype=dtype).item() for b in self.bounds]
            bounds = [b if b < 1 else below_one for b in bounds]
            self._cache[key] = (torch.tensor(self.rows, dtype=dtype, device=device),
                                torch.tensor(bounds, dtype=dtype, device=device))
        return self._cache[key]

    def scalars(self, dtype: torch.dtype, device: Union[str, torch.device] = 'cpu'
                ) -> Tuple[List[list], List[float]]:
        """:meth:`packed` for the eager path, the same values rounded to
        ``dtype``: Python floats (scalar ops), the offsets of ``g_formula``'s
        affine steps (shift, m2, p, pa) as 0-d tensors on ``device``
        (``a·x + b`` in one op)."""
        key = (dtype, str(device), 'scalars')
        if key not in self._cache:
            consts, thresholds = self.packed(dtype, torch.device('cpu'))
            rows = consts.tolist()
            for row, tensors in zip(rows, consts.to(device).unbind()):
                for i in _OFFSETS:
                    row[i] = tensors[i]
            self._cache[key] = (rows, thresholds.tolist())
        return self._cache[key]

    def _work(self, y: torch.Tensor) -> Tuple[torch.Tensor, Tuple[List, List]]:
        if not isinstance(y, torch.Tensor):
            raise TypeError(f'g expects a tensor, got {type(y).__name__}')
        if not y.dtype.is_floating_point:
            raise TypeError(f'g expects a floating tensor, got {y.dtype}')
        work = y if y.dtype in (torch.float32, torch.float64) else y.float()
        return work, self.scalars(work.dtype, work.device)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """g(y), element-wise; gradients flow to ``y``."""
        work, packed = self._work(y)
        return apply_g(work, *packed).to(y.dtype)

    def value_and_slope(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """g(y) and g'(y) from one pass, without autograd, in the dtype of
        the work (float32 for half precision)."""
        work, packed = self._work(y)
        with torch.no_grad():
            return g_formula(work.detach(), *packed)

    def derivative(self, y: torch.Tensor) -> torch.Tensor:
        """g'(y) element-wise (at a joint: of the lower piece; at a jump: 0)."""
        return self.value_and_slope(y)[1].to(y.dtype)


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
