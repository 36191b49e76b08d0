"""Truncated normal distribution on ``[low, high]`` in plain torch.

The search policy of Auto Seg-Loss (SPEC §5) is ``N_trunc[0,1](mu, sigma^2 I)``.
A naive implementation ``Phi^-1(Phi(a) + u (Phi(b) - Phi(a)))`` breaks down
exactly where the search likes to go: ``mu`` at a bound with a small ``sigma``
(``Phi(b) - Phi(a)`` cancels to 0) or ``mu`` outside the interval (both CDF
values underflow to 0 or saturate to 1). Here every quantity is computed in
log space on the tail where it is small:

* ``log Z = log(Phi(b) - Phi(a))`` with the interval mirrored to the lower
  tail (``Phi(b) - Phi(a) = Phi(-a) - Phi(-b)``) and a ``log1mexp`` for the
  difference;
* sampling inverts the CDF from whichever end of the interval is nearer in
  probability, using ``log_ndtr`` and an inverse of ``log_ndtr`` that keeps
  working below ``exp(-745)`` (Newton steps on the concave ``log Phi``).

All computations run in float64; results come back in the input dtype.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.special import log_ndtr, ndtri

Number = Union[float, int]

__all__ = ['log_normalizer', 'log_prob', 'sample', 'ndtri_log']

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Below this log-probability ``exp`` loses float64 precision (subnormals) and
# ndtri(exp(lp)) can no longer be trusted; switch to Newton on log_ndtr.
_LOG_P_DIRECT = math.log(1e-300)
_NEWTON_STEPS = 8


def _as_tensors(*values) -> Tuple[Tensor, ...]:
    """Broadcast ``values`` to float64 tensors on a common device."""
    device = next((v.device for v in values if isinstance(v, Tensor)), None)
    out = [torch.as_tensor(v, dtype=torch.float64, device=device) for v in values]
    return tuple(torch.broadcast_tensors(*out))


def _result_dtype(*values) -> torch.dtype:
    """Floating dtype of the tensor inputs (float64 when none is a tensor)."""
    dtypes = [v.dtype for v in values if isinstance(v, Tensor) and v.is_floating_point()]
    if not dtypes:
        return torch.float64
    dtype = dtypes[0]
    for d in dtypes[1:]:
        dtype = torch.promote_types(dtype, d)
    return dtype


def _check_args(sigma: Tensor, low: Number, high: Number) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(f'truncated normal needs finite low < high, got low={low}, high={high}')
    bad = ~(torch.isfinite(sigma) & (sigma > 0))
    if bool(bad.any()):
        raise ValueError('truncated normal needs finite sigma > 0, got sigma='
                         f'{sigma[bad].flatten()[:4].tolist()}')


def _log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(-x))`` for ``x > 0``, accurate for small and large ``x``."""
    # Branch-free w.r.t. NaN gradients: both branches get safe arguments.
    small = x < math.log(2.0)
    x_small = torch.where(small, x, torch.ones_like(x))
    x_large = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, torch.log(-torch.expm1(-x_small)),
                       torch.log1p(-torch.exp(-x_large)))


def _log_mass(alpha: Tensor, beta: Tensor) -> Tensor:
    """``log(Phi(beta) - Phi(alpha))`` for ``alpha < beta`` (standardized bounds)."""
    # Mirror intervals that lie in the upper tail so that both CDF values are
    # small (relative precision of log_ndtr is good there, 1 - tiny is not).
    flip = alpha > 0
    a = torch.where(flip, -beta, alpha)
    b = torch.where(flip, -alpha, beta)
    log_b = log_ndtr(b)
    diff = log_b - log_ndtr(a)
    # diff > 0 mathematically; clamp keeps log1mexp finite if it rounds to 0
    # (sigma ~1e15 times the interval width).
    diff = diff.clamp_min(torch.finfo(diff.dtype).tiny)
    return log_b + _log1mexp(diff)


def log_normalizer(mu: Union[Tensor, Number], sigma: Union[Tensor, Number],
                   low: Number = 0.0, high: Number = 1.0) -> Tensor:
    """Log of the mass of ``N(mu, sigma^2)`` inside ``[low, high]``.

    Args:
        mu: Mean of the parent normal (any real value).
        sigma: Standard deviation of the parent normal, > 0.
        low: Lower bound.
        high: Upper bound.

    Returns:
        ``log(Phi((high - mu) / sigma) - Phi((low - mu) / sigma))``, finite for
        any finite ``mu`` and ``sigma > 0``; broadcast shape, input dtype.
    """
    dtype = _result_dtype(mu, sigma)
    mu_, sigma_ = _as_tensors(mu, sigma)
    _check_args(sigma_, low, high)
    return _log_mass((low - mu_) / sigma_, (high - mu_) / sigma_).to(dtype)


def log_prob(x: Union[Tensor, Number], mu: Union[Tensor, Number],
             sigma: Union[Tensor, Number], low: Number = 0.0,
             high: Number = 1.0) -> Tensor:
    """Per-element log-density of ``N_trunc[low, high](mu, sigma^2)`` at ``x``.

    Differentiable w.r.t. ``mu`` and ``sigma``; finite for every ``x`` in
    ``[low, high]`` (bounds included), ``-inf`` outside.

    Args:
        x: Points; broadcast against ``mu`` and ``sigma``.
        mu: Mean of the parent normal (may lie outside the interval).
        sigma: Standard deviation of the parent normal, > 0.
        low: Lower bound.
        high: Upper bound.

    Returns:
        Log-density with the broadcast shape, in the inputs' floating dtype.
    """
    dtype = _result_dtype(x, mu, sigma)
    mu_, sigma_ = _as_tensors(mu, sigma)
    _check_args(sigma_, low, high)
    # The normalizer depends on (mu, sigma) only: compute it before
    # broadcasting against the (usually many more) points.
    log_norm = _log_mass((low - mu_) / sigma_, (high - mu_) / sigma_) + torch.log(sigma_)
    x_ = torch.as_tensor(x, dtype=torch.float64, device=mu_.device)
    z = (x_ - mu_) / sigma_
    out = -0.5 * z * z - _HALF_LOG_2PI - log_norm
    inside = (x_ >= low) & (x_ <= high)
    out = torch.where(inside, out, torch.full_like(out, -math.inf))
    return out.to(dtype)


def ndtri_log(log_p: Tensor) -> Tensor:
    """Inverse of ``log_ndtr``: ``z`` with ``log Phi(z) = log_p`` for ``log_p <= log(1/2)``.

    ``ndtri(exp(log_p))`` when ``exp`` is representable; below ``1e-300``
    Newton iterations on ``log Phi`` started from the tail asymptote
    ``log Phi(z) ~ -z^2/2 - log(-z) - log(2 pi)/2``.

    Args:
        log_p: Log-probabilities (float64), at most ``log(1/2)``.

    Returns:
        Standard normal quantiles of ``exp(log_p)``.
    """
    direct = log_p > _LOG_P_DIRECT
    z_direct = ndtri(torch.exp(torch.where(direct, log_p, torch.zeros_like(log_p))
                               .clamp_max(0.0)))
    lp = torch.where(direct, torch.full_like(log_p, _LOG_P_DIRECT), log_p)
    # -z^2/2 - log(-z) ≈ lp  ->  z ≈ -sqrt(-2 lp - log(-2 lp) - log(2 pi)).
    t = -2.0 * lp
    z = -torch.sqrt(t - torch.log(t) - math.log(2.0 * math.pi))
    for _ in range(_NEWTON_STEPS):
        log_cdf = log_ndtr(z)
        # d/dz log Phi(z) = phi(z) / Phi(z), evaluated in log space.
        slope = torch.exp(-0.5 * z * z - _HALF_LOG_2PI - log_cdf)
        z = z - (log_cdf - lp) / slope
    return torch.where(direct, z_direct, z)


@torch.no_grad()
def sample(mu: Union[Tensor, Number], sigma: Union[Tensor, Number],
           generator: Optional[torch.Generator] = None,
           sample_shape: Sequence[int] = (), low: Number = 0.0,
           high: Number = 1.0) -> Tensor:
    """Draw from ``N_trunc[low, high](mu, sigma^2)`` by inverse CDF.

    With ``u ~ U(0, 1)`` the quantile ``p = Phi(alpha) + u Z`` is formed in log
    space from the nearer end: ``log p`` from below or ``log(1 - p)
    = log(Phi(-beta) + (1 - u) Z)`` from above, whichever is smaller, so no
    ``1 - tiny`` is ever rounded. The result is clamped into ``[low, high]``
    against the last ulp of rounding.

    Args:
        mu: Mean of the parent normal.
        sigma: Standard deviation of the parent normal, > 0.
        generator: Source of randomness (the global RNG when None).
        sample_shape: Leading shape of independent draws.
        low: Lower bound.
        high: Upper bound.

    Returns:
        Samples of shape ``sample_shape + broadcast(mu, sigma).shape`` in the
        inputs' floating dtype, all within ``[low, high]``.
    """
    dtype = _result_dtype(mu, sigma)
    mu_, sigma_ = _as_tensors(mu, sigma)
    _check_args(sigma_, low, high)
    shape = tuple(sample_shape) + tuple(mu_.shape)
    gen_device = generator.device if generator is not None else mu_.device
    u = torch.rand(shape, generator=generator, dtype=torch.float64,
                   device=gen_device).to(mu_.device)
    alpha = (low - mu_) / sigma_
    beta = (high - mu_) / sigma_
    log_z = _log_mass(alpha, beta)
    # u = 0 gives log(u) = -inf, which logaddexp absorbs; u < 1 always.
    log_lower = torch.logaddexp(log_ndtr(alpha), torch.log(u) + log_z)
    log_upper = torch.logaddexp(log_ndtr(-beta), torch.log1p(-u) + log_z)
    from_below = log_lower <= log_upper
    log_q = torch.minimum(log_lower, log_upper).clamp_max(math.log(0.5))
    z = ndtri_log(log_q)
    z = torch.where(from_below, z, -z)
    x = (mu_ + sigma_ * z).clamp(low, high)
    return x.to(dtype)
