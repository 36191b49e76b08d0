"""Truncated normal on [0, 1]: density against scipy, tails, sampling, laws.

Sampling is scipy's quantile at torch uniforms; the density is our torch
code, so scipy.stats.truncnorm is an independent oracle for it.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from mmseg_autoloss.search import truncnorm

# (mu, sigma): interior, at the bounds, outside, tiny and huge sigma.
CASES = [(0.5, 0.2), (0.3, 0.05), (0.0, 0.2), (1.0, 0.2), (0.0, 1e-3), (1.0, 1e-3),
         (-0.5, 0.2), (1.7, 0.3), (-10.0, 1e-3), (10.0, 1e-3), (-3.0, 0.2), (0.4, 50.0)]
GRID = np.array([0.0, 1e-6, 1e-3, 0.1, 0.37, 0.5, 0.81, 0.999, 1.0 - 1e-9, 1.0])


def _scipy(mu: float, sigma: float):
    return stats.truncnorm((0.0 - mu) / sigma, (1.0 - mu) / sigma, loc=mu, scale=sigma)


@pytest.mark.parametrize('mu,sigma', CASES)
def test_log_prob_matches_scipy(mu, sigma):
    ours = truncnorm.log_prob(torch.from_numpy(GRID), torch.tensor(mu, dtype=torch.float64),
                              sigma).numpy()
    ref = _scipy(mu, sigma).logpdf(GRID)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('mu,sigma', CASES)
def test_log_normalizer_matches_scipy(mu, sigma):
    # log Z = log N(x; mu, sigma) - log p_trunc(x), any x in the support.
    x = 0.5
    ref = stats.norm.logpdf(x, mu, sigma) - _scipy(mu, sigma).logpdf(x)
    ours = truncnorm.log_normalizer(mu, sigma).item()
    assert math.isfinite(ours)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_log_prob_outside_support_and_dtype():
    x = torch.tensor([-0.1, 0.5, 1.2], dtype=torch.float32)
    out = truncnorm.log_prob(x, torch.tensor(0.5, dtype=torch.float32), 0.2)
    assert out.dtype == torch.float32
    assert out[0] == -math.inf and out[2] == -math.inf and torch.isfinite(out[1])


@pytest.mark.parametrize('mu,sigma', [(0.5, 0.2), (0.0, 0.2), (1.0, 1e-3), (-0.3, 0.1),
                                      (1.2, 0.05), (0.9, 2.0)])
def test_samples_ks_and_moments(mu, sigma):
    gen = torch.Generator().manual_seed(0)
    x = truncnorm.sample(torch.tensor(mu, dtype=torch.float64), sigma, gen, (4000, ))
    assert x.shape == (4000, ) and x.dtype == torch.float64
    assert bool(((x >= 0) & (x <= 1)).all())
    dist = _scipy(mu, sigma)
    # Fixed seed: deterministic, a wrong sampler fails by orders of magnitude.
    assert stats.kstest(x.numpy(), dist.cdf).pvalue > 1e-3
    mean, std = dist.mean(), dist.std()
    assert abs(x.mean().item() - mean) < 5 * std / math.sqrt(4000)
    assert x.std().item() == pytest.approx(std, rel=0.1)


@pytest.mark.parametrize('mu', [0.0, 1.0, -0.2, 1.5, -100.0, 100.0])
@pytest.mark.parametrize('sigma', [1e-3, 0.2])
def test_finite_at_bounds_and_outside(mu, sigma):
    m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(sigma, dtype=torch.float64, requires_grad=True)
    x = truncnorm.sample(m.detach(), sigma, torch.Generator().manual_seed(1), (256, ))
    assert bool(((x >= 0) & (x <= 1)).all())
    # Mass concentrates at the nearer bound when mu is outside.
    if mu <= 0:
        assert x.mean().item() < 0.5
    if mu >= 1:
        assert x.mean().item() > 0.5
    pts = torch.cat([x, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)])
    lp = truncnorm.log_prob(pts, m, s)
    assert bool(torch.isfinite(lp).all())
    lp.sum().backward()
    assert math.isfinite(m.grad.item()) and math.isfinite(s.grad.item())


def test_gradcheck_log_prob():
    x = torch.tensor([0.0, 0.2, 0.7, 1.0], dtype=torch.float64)
    for mu, sigma in [(0.4, 0.2), (0.0, 0.05), (1.3, 0.3)]:
        m = torch.tensor([mu], dtype=torch.float64, requires_grad=True)
        s = torch.tensor([sigma], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: truncnorm.log_prob(x, a, b), (m, s))


def test_grad_in_mu_and_sigma_matches_scipy_finite_differences():
    """d/dmu and d/dsigma of log p (PPO2's ratio) against scipy's logpdf."""
    x = np.array([0.0, 0.2, 0.7, 1.0])
    for mu, sigma in [(0.4, 0.2), (0.0, 0.05), (1.3, 0.3), (-0.2, 0.1)]:
        m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
        s = torch.tensor(sigma, dtype=torch.float64, requires_grad=True)
        truncnorm.log_prob(torch.from_numpy(x), m, s).sum().backward()
        h = 1e-6
        d_mu = (_scipy(mu + h, sigma).logpdf(x) - _scipy(mu - h, sigma).logpdf(x)).sum() / (2 * h)
        d_sigma = (_scipy(mu, sigma + h).logpdf(x) -
                   _scipy(mu, sigma - h).logpdf(x)).sum() / (2 * h)
        assert m.grad.item() == pytest.approx(d_mu, rel=1e-5, abs=1e-5)
        assert s.grad.item() == pytest.approx(d_sigma, rel=1e-5, abs=1e-5)


def test_sample_uses_only_its_generator():
    state = torch.get_rng_state()
    mu = torch.full((5, ), 0.3, dtype=torch.float64)
    a = truncnorm.sample(mu, 0.2, torch.Generator().manual_seed(7), (3, ))
    b = truncnorm.sample(mu, 0.2, torch.Generator().manual_seed(7), (3, ))
    c = truncnorm.sample(mu, 0.2, torch.Generator().manual_seed(8), (3, ))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 5)


@pytest.mark.parametrize('kwargs,match', [
    (dict(sigma=0.0), 'sigma'), (dict(sigma=-1.0), 'sigma'), (dict(sigma=math.nan), 'sigma'),
    (dict(sigma=0.2, low=1.0, high=0.0), 'low'), (dict(sigma=0.2, high=math.inf), 'high')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        truncnorm.log_prob(0.5, 0.5, **kwargs)
    with pytest.raises(ValueError, match=match):
        truncnorm.sample(0.5, **kwargs)


def test_other_interval():
    x = truncnorm.sample(0.0, 1.0, torch.Generator().manual_seed(0), (2000, ), low=-2.0, high=3.0)
    assert bool(((x >= -2) & (x <= 3)).all())
    ref = stats.truncnorm(-2.0, 3.0)
    assert stats.kstest(x.numpy(), ref.cdf).pvalue > 1e-3
    np.testing.assert_allclose(
        truncnorm.log_prob(torch.tensor([-2.0, 0.3, 3.0]), 0.0, 1.0, low=-2.0, high=3.0).numpy(),
        ref.logpdf([-2.0, 0.3, 3.0]), rtol=1e-6)


mus = st.floats(-5.0, 6.0, allow_nan=False)
sigmas = st.floats(1e-3, 5.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(mu=mus, sigma=sigmas, seed=st.integers(0, 2**31 - 1))
def test_property_samples_in_support_and_finite_density(mu, sigma, seed):
    x = truncnorm.sample(torch.tensor(mu, dtype=torch.float64), sigma,
                         torch.Generator().manual_seed(seed), (64, ))
    assert bool(((x >= 0) & (x <= 1)).all())
    lp = truncnorm.log_prob(x, mu, sigma)
    assert bool(torch.isfinite(lp).all())


@settings(max_examples=30, deadline=None)
@given(mu=st.floats(-1.0, 2.0), sigma=st.floats(0.01, 3.0))
def test_property_density_integrates_to_one(mu, sigma):
    def density(x: float) -> float:
        return math.exp(truncnorm.log_prob(x, mu, sigma).item())

    # Tell quad where the mass sits (the clamped mode) so a narrow peak is not missed.
    mode = min(max(mu, 0.0), 1.0)
    total, _ = integrate.quad(density, 0.0, 1.0, points=[mode], limit=200, epsabs=1e-10)
    assert total == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(mu=st.floats(-2.0, 3.0), sigma=st.floats(0.01, 3.0), x=st.floats(0.0, 1.0))
def test_property_log_prob_matches_scipy(mu, sigma, x):
    ref = _scipy(mu, sigma).logpdf(x)
    assert truncnorm.log_prob(x, mu, sigma).item() == pytest.approx(ref, rel=1e-8, abs=1e-8)
