"""Truncated normal ``N_trunc[low, high](mu, sigma^2)``: scipy samples, torch density.

The search policy of Auto Seg-Loss (method.md §5) is ``N_trunc[0,1](mu, sigma^2 I)``.

* :func:`sample` inverts ``scipy.stats.truncnorm``'s CDF at uniforms drawn
  from a ``torch.Generator``, so a controller's seed and generator state
  alone fix its proposals (and checkpoint them). scipy's quantile works in
  log space and stays accurate with ``mu`` on or beyond a bound and a tiny
  ``sigma``, where ``Phi(b) - Phi(a)`` cancels in plain arithmetic.
* :func:`log_prob` is plain torch on ``torch.special.log_ndtr``,
  differentiable in ``mu`` and ``sigma`` (PPO2's probability ratio).
"""
import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from scipy import stats
from torch import Tensor
from torch.special import log_ndtr

Number = Union[float, int]

__all__ = ['log_normalizer', 'log_prob', 'sample']

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _as_tensors(*values) -> Tuple[Tensor, ...]:
    """Broadcast ``values`` to float64 tensors on a common device."""
    device = next((v.device for v in values if isinstance(v, Tensor)), None)
    out = [torch.as_tensor(v, dtype=torch.float64, device=device) for v in values]
    return tuple(torch.broadcast_tensors(*out))


def _result_dtype(*values) -> torch.dtype:
    """Floating dtype of the tensor inputs (float64 when none is a tensor)."""
    dtypes = [v.dtype for v in values if isinstance(v, Tensor) and v.is_floating_point()]
    dtype = dtypes[0] if dtypes else torch.float64
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


def _log_mass(alpha: Tensor, beta: Tensor) -> Tensor:
    """``log(Phi(beta) - Phi(alpha))`` for standardized bounds ``alpha < beta``."""
    # In the upper tail both CDF values are ~1 and their difference cancels;
    # mirror to the lower tail, where log_ndtr is accurate.
    flip = alpha > 0
    a, b = torch.where(flip, -beta, alpha), torch.where(flip, -alpha, beta)
    log_b = log_ndtr(b)
    # log(Phi(b) - Phi(a)) = log Phi(b) + log(1 - exp(-d)), d > 0; the floor
    # keeps d > 0 when it rounds to 0 (sigma ~1e15 times the width).
    d = (log_b - log_ndtr(a)).clamp_min(torch.finfo(torch.float64).tiny)
    # log1mexp, with both branches fed safe values so that neither puts a
    # NaN into the gradient.
    small = d < math.log(2.0)
    d_small = torch.where(small, d, torch.ones_like(d))
    d_large = torch.where(small, torch.ones_like(d), d)
    return log_b + torch.where(small, torch.log(-torch.expm1(-d_small)),
                               torch.log1p(-torch.exp(-d_large)))


def log_normalizer(mu: Union[Tensor, Number], sigma: Union[Tensor, Number],
                   low: Number = 0.0, high: Number = 1.0) -> Tensor:
    """Log of the mass of ``N(mu, sigma^2)`` inside ``[low, high]``.

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

    Differentiable in ``mu`` and ``sigma``; finite for every ``x`` in
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
    return torch.where(inside, out, torch.full_like(out, -math.inf)).to(dtype)


@torch.no_grad()
def sample(mu: Union[Tensor, Number], sigma: Union[Tensor, Number],
           generator: Optional[torch.Generator] = None,
           sample_shape: Sequence[int] = (), low: Number = 0.0,
           high: Number = 1.0) -> Tensor:
    """Draw from ``N_trunc[low, high](mu, sigma^2)`` by inverse CDF.

    Args:
        mu: Mean of the parent normal.
        sigma: Standard deviation of the parent normal, > 0.
        generator: Source of the uniforms (the global torch RNG when None).
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
    gen_device = generator.device if generator is not None else torch.device('cpu')
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=gen_device)
    m, s = mu_.cpu().numpy(), sigma_.cpu().numpy()
    x = stats.truncnorm.ppf(u.cpu().numpy(), (low - m) / s, (high - m) / s, loc=m, scale=s)
    # Clip against the last ulp of rounding in loc + scale * z.
    x = np.clip(x, low, high)
    return torch.from_numpy(np.asarray(x, dtype=np.float64)).to(mu_.device, dtype)
