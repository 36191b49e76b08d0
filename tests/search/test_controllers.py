"""PPO2 and random-search controllers on synthetic rewards (no training)."""
import io
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_autoloss.search.controllers import (CONTROLLERS, BaseController, PPO2Controller,
                                               RandomSearchController, build_controller)

D = 6


def sphere(opt: torch.Tensor):
    """Smooth reward with its maximum 0.8 at ``opt``."""
    return lambda theta: 0.8 - 0.4 * ((theta - opt)**2).mean(-1)


def run(ctl: BaseController, reward, rounds: int, noise: float = 0.0, seed: int = 0,
        scale: float = 1.0) -> BaseController:
    gen = torch.Generator().manual_seed(100 + seed)
    for _ in range(rounds):
        s = ctl.sample()
        r = reward(s) + noise * torch.randn(s.shape[0], generator=gen, dtype=torch.float64)
        ctl.update(s, scale * r)
    return ctl


OPT = torch.tensor([0.8, 0.15, 0.7, 0.9, 0.3, 0.6], dtype=torch.float64)
INIT = torch.full((D, ), 0.4, dtype=torch.float64)


def small_ppo(**kw) -> PPO2Controller:
    args = dict(num_params=D, samples_per_round=16, updates_per_round=30, init_mu=INIT, seed=0)
    args.update(kw)
    return PPO2Controller(**args)


@pytest.mark.parametrize('ctl', [
    lambda: small_ppo(), lambda: small_ppo(baseline='mu'),
    lambda: RandomSearchController(D, 16, seed=0)])
def test_sample_shape_range_and_determinism(ctl):
    rng = torch.get_rng_state()
    a, b = ctl(), ctl()
    s = a.sample()
    assert s.shape == (16, D) and s.dtype == torch.float64
    assert bool(((s >= 0) & (s <= 1)).all())
    assert torch.equal(s, b.sample())
    # Cached until update(): a second call gives the same proposals.
    assert torch.equal(s, a.sample())
    assert torch.equal(torch.get_rng_state(), rng)
    a.update(s, torch.rand(16, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    assert not torch.equal(a.sample(), s)


def test_different_seeds_differ():
    assert not torch.equal(small_ppo(seed=0).sample(), small_ppo(seed=1).sample())


def test_baseline_mu_row0_is_mu():
    ctl = small_ppo(baseline='mu')
    for _ in range(3):
        s = ctl.sample()
        assert torch.equal(s[0], ctl.mu)
        ctl.update(s, sphere(OPT)(s))
    s = ctl.sample()
    bad = s.clone()
    bad[0] = torch.rand(D, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with pytest.raises(ValueError, match='row 0'):
        ctl.update(bad, sphere(OPT)(bad))
    # Mean baseline: no row is pinned to mu.
    s = small_ppo(baseline='mean').sample()
    assert not torch.allclose(s, INIT.expand_as(s))
    assert not bool((s == INIT).all(1).any())


@pytest.mark.parametrize('ratio', ['joint', 'per_dim'])
@pytest.mark.parametrize('baseline', ['mean', 'mu'])
def test_ppo_moves_mu_toward_optimum(ratio, baseline):
    reward = sphere(OPT)
    ctl = run(small_ppo(ratio=ratio, baseline=baseline), reward, rounds=8, noise=0.002)
    d0 = (INIT - OPT).norm().item()
    assert (ctl.mu - OPT).norm().item() < 0.8 * d0
    assert (ctl.best_mu - OPT).norm().item() < 0.8 * d0
    assert reward(ctl.best_mu).item() > reward(INIT).item()
    h = ctl.history
    assert len(h) == 8 and [r['round'] for r in h] == list(range(8))
    assert h[-1]['mean_reward'] > h[0]['mean_reward']


def test_ppo_beats_random_search_at_equal_budget():
    rounds, m, seeds = 8, 16, 4
    ppo, rand = [], []
    for seed in range(seeds):
        opt = 0.1 + 0.8 * torch.rand(D, generator=torch.Generator().manual_seed(50 + seed),
                                     dtype=torch.float64)
        reward = sphere(opt)
        p = run(small_ppo(samples_per_round=m, seed=seed), reward, rounds, 0.005, seed)
        r = run(RandomSearchController(D, m, init_mu=INIT, seed=seed), reward, rounds, 0.005, seed)
        assert r.round == p.round == rounds
        ppo.append(reward(p.best_mu).item())
        rand.append(reward(r.best_mu).item())
    assert sum(ppo) / seeds > sum(rand) / seeds
    # Regret shrinks by a clear factor, not a rounding-level margin.
    assert (0.8 - sum(ppo) / seeds) < 0.7 * (0.8 - sum(rand) / seeds)


def _roundtrip(ctl: BaseController) -> dict:
    buf = io.BytesIO()
    torch.save(ctl.state_dict(), buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize('make', [
    lambda: small_ppo(), lambda: small_ppo(baseline='mu', ratio='joint', select_by='mu'),
    lambda: small_ppo(learn_sigma=True, normalize_advantages=True),
    lambda: RandomSearchController(D, 16, include_init_mu=True, init_mu=INIT, seed=0)])
@pytest.mark.parametrize('mid_round', [False, True])
def test_state_dict_resume_is_bit_identical(make, mid_round):
    reward = sphere(OPT)
    gen = torch.Generator().manual_seed(9)

    def noisy(s):
        return reward(s) + 0.003 * torch.randn(s.shape[0], generator=gen, dtype=torch.float64)

    ref = make()
    run(ref, reward, 2, noise=0.003, seed=1)
    if mid_round:
        ref.sample()  # proposals drawn, rewards not yet in (crash here)
    state = _roundtrip(ref)
    resumed = make()
    resumed.load_state_dict(state)
    assert resumed.round == ref.round == 2
    for _ in range(3):
        s_ref, s_res = ref.sample(), resumed.sample()
        assert torch.equal(s_ref, s_res)
        r = noisy(s_ref)
        ref.update(s_ref, r)
        resumed.update(s_res, r)
        assert torch.equal(ref.mu, resumed.mu)
        if ref.sigma is not None:
            assert torch.equal(ref.sigma, resumed.sigma)
    assert torch.equal(ref.best_mu, resumed.best_mu)
    assert ref.best_reward == resumed.best_reward
    assert ref.history == resumed.history
    assert torch.equal(ref.sample(), resumed.sample())


def test_load_state_dict_rejects_other_controller():
    state = small_ppo().state_dict()
    with pytest.raises(ValueError, match='RandomSearchController'):
        RandomSearchController(D).load_state_dict(state)
    with pytest.raises(ValueError, match='num_params'):
        PPO2Controller(D + 1).load_state_dict(state)
    with pytest.warns(UserWarning, match='mu_lr'):
        small_ppo(mu_lr=0.05).load_state_dict(state)


def test_nonfinite_rewards_replaced_by_worst_finite():
    reward = sphere(OPT)
    a, b = small_ppo(), small_ppo()
    s = a.sample()
    r = reward(s)
    bad = r.clone()
    bad[[2, 5, 7]] = torch.tensor([math.nan, -math.inf, math.inf], dtype=torch.float64)
    fixed = bad.clone()
    fixed[[2, 5, 7]] = torch.cat([r[:2], r[3:5], r[6:7], r[8:]]).min()
    stats = a.update(s, bad)
    b.update(b.sample(), fixed)
    assert stats['num_nonfinite'] == 3
    assert torch.equal(a.mu, b.mu)
    assert all(math.isfinite(v) for v in stats.values() if isinstance(v, float))
    with pytest.raises(ValueError, match='non-finite'):
        a.update(a.sample(), torch.full((16, ), math.nan, dtype=torch.float64))


def test_reward_scale_invariance():
    """Fractions or percent give the same search."""
    reward = sphere(OPT)
    a = run(small_ppo(), reward, 6, noise=0.002)
    b = run(small_ppo(), reward, 6, noise=0.002, scale=100.0)
    assert torch.allclose(a.mu, b.mu, rtol=0, atol=1e-9)
    assert (a.mu - INIT).abs().max() > 0.05
    # Raw advantages: Adam cancels the scale up to its eps.
    a = run(small_ppo(normalize_advantages=False), reward, 1, noise=0.002)
    b = run(small_ppo(normalize_advantages=False), reward, 1, noise=0.002, scale=100.0)
    assert torch.allclose(a.mu, b.mu, rtol=0, atol=1e-4)
    assert (a.mu - INIT).abs().max() > 0.05


def test_best_mu_selection():
    reward = sphere(OPT)
    ctl = run(small_ppo(), reward, 6, noise=0.01)
    h = ctl.history
    best = max(range(6), key=lambda i: h[i]['mean_reward'])
    assert ctl.best_round == best
    assert ctl.best_reward == h[best]['mean_reward']
    assert ctl.best_mu.tolist() == h[best]['mu']
    ctl = run(small_ppo(baseline='mu', select_by='mu'), reward, 6, noise=0.01)
    h = ctl.history
    best = max(range(6), key=lambda i: h[i]['mu_reward'])
    assert ctl.best_reward == h[best]['mu_reward'] and ctl.best_mu.tolist() == h[best]['mu']


def test_history_and_stats_are_json_serialisable():
    ctl = small_ppo(baseline='mu')
    assert ctl.best_mu is None and ctl.best_reward is None and ctl.history == []
    s = ctl.sample()
    stats = ctl.update(s, sphere(OPT)(s))
    for key in ('mean_reward', 'mu_reward', 'objective', 'approx_kl', 'clip_frac',
                'mean_abs_dmu', 'best_reward'):
        assert isinstance(stats[key], float), key
    json.dumps(stats, allow_nan=False)
    json.dumps(ctl.history, allow_nan=False)
    # The returned history is a copy.
    ctl.history[0]['mean_reward'] = 5.0
    assert ctl.history[0]['mean_reward'] == stats['mean_reward']


def test_ppo_objective_improves_and_clips():
    ctl = small_ppo()
    s = ctl.sample()
    stats = ctl.update(s, sphere(OPT)(s))
    assert stats['objective'] > stats['objective_before']
    assert 0.0 <= stats['clip_frac'] <= 1.0 and stats['mean_abs_dmu'] > 0


def test_learn_sigma_moves_sigma_within_bounds():
    ctl = run(small_ppo(learn_sigma=True), sphere(OPT), 4, noise=0.002)
    assert not torch.allclose(ctl.sigma, torch.full((D, ), 0.2, dtype=torch.float64))
    assert bool(((ctl.sigma >= 1e-3) & (ctl.sigma <= 10)).all())
    fixed = run(small_ppo(), sphere(OPT), 2)
    assert torch.equal(fixed.sigma, torch.full((D, ), 0.2, dtype=torch.float64))


def test_init_mu_at_bounds_and_default():
    init = torch.tensor([0.0, 1.0, 0.5, 0.0, 1.0, 0.25], dtype=torch.float64)
    ctl = small_ppo(init_mu=init, baseline='mu')
    assert torch.allclose(ctl.mu, init, atol=2e-6)
    run(ctl, sphere(OPT), 2)
    assert bool(torch.isfinite(ctl.mu).all())
    assert torch.equal(PPO2Controller(3).mu, torch.full((3, ), 0.5, dtype=torch.float64))


def test_random_search_keeps_best_sample():
    reward = sphere(OPT)
    ctl = RandomSearchController(D, 8, include_init_mu=True, init_mu=INIT, seed=3)
    assert torch.equal(ctl.mu, INIT)
    first = ctl.sample()
    assert torch.equal(first[0], INIT)
    seen, seen_r = [], []
    s = first
    for _ in range(5):
        r = reward(s)
        seen.append(s)
        seen_r.append(r)
        ctl.update(s, r)
        s = ctl.sample()
        assert not torch.equal(s[0], INIT)
    allr = torch.cat(seen_r)
    i = int(allr.argmax())
    assert ctl.best_reward == allr[i].item()
    assert torch.equal(ctl.best_mu, torch.cat(seen)[i])
    assert torch.equal(ctl.mu, ctl.best_mu) and ctl.sigma is None


@pytest.mark.parametrize('kwargs,match', [
    (dict(samples_per_round=1), 'samples_per_round'),
    (dict(samples_per_round=2.5), 'samples_per_round'),
    (dict(num_params=0), 'num_params'),
    (dict(sigma=0.0), 'sigma'), (dict(sigma=-0.1), 'sigma'), (dict(sigma=math.nan), 'sigma'),
    (dict(mu_lr=0.0), 'mu_lr'), (dict(updates_per_round=0), 'updates_per_round'),
    (dict(clip_eps=0.0), 'clip_eps'), (dict(clip_eps=1.0), 'clip_eps'),
    (dict(baseline='median'), 'baseline'), (dict(ratio='joint_density'), 'ratio'),
    (dict(select_by='max'), 'select_by'), (dict(select_by='mu', baseline='mean'), 'select_by'),
    (dict(init_mu=[0.5] * (D - 1)), 'init_mu'), (dict(init_mu=[1.5] * D), 'init_mu'),
    (dict(seed=-1), 'seed')])
def test_bad_arguments(kwargs, match):
    args = dict(num_params=D)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PPO2Controller(**args)


def test_bad_update_inputs():
    ctl = small_ppo()
    s = ctl.sample()
    r = sphere(OPT)(s)
    with pytest.raises(ValueError, match='samples must be'):
        ctl.update(s[:, :3], r)
    with pytest.raises(ValueError, match='rewards'):
        ctl.update(s, r[:5])
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        ctl.update(s + 2, r)
    with pytest.raises(ValueError, match='at least 2'):
        ctl.update(s[:1], r[:1])
    assert ctl.round == 0


def test_build_controller():
    assert {'PPO2Controller', 'RandomSearchController'} <= set(CONTROLLERS.module_dict)
    cfg = dict(type='PPO2Controller', sigma=0.1, ratio='joint')
    ctl = build_controller(cfg, 4, init_mu=[0.25] * 4, samples_per_round=8, seed=3)
    assert cfg == dict(type='PPO2Controller', sigma=0.1, ratio='joint')  # not modified
    assert isinstance(ctl, PPO2Controller) and ctl.ratio == 'joint'
    assert ctl.samples_per_round == 8 and ctl.seed == 3
    assert torch.allclose(ctl.mu, torch.full((4, ), 0.25, dtype=torch.float64))
    assert torch.allclose(ctl.sigma, torch.full((4, ), 0.1, dtype=torch.float64))
    # An explicit init_mu / samples_per_round in the cfg wins over the runner's.
    ctl = build_controller(dict(type='PPO2Controller', init_mu=[0.7] * 4, samples_per_round=4),
                           4, init_mu=[0.25] * 4, samples_per_round=8)
    assert torch.allclose(ctl.mu, torch.full((4, ), 0.7, dtype=torch.float64))
    assert ctl.samples_per_round == 4
    ctl = build_controller(dict(type=RandomSearchController), 4)
    assert isinstance(ctl, RandomSearchController)
    with pytest.raises(KeyError, match='Bogus'):
        build_controller(dict(type='Bogus'), 4)
    with pytest.raises(TypeError, match='learning_rate'):
        build_controller(dict(type='PPO2Controller', learning_rate=0.1), 4)
    with pytest.raises(ValueError, match='type'):
        build_controller(dict(sigma=0.1), 4)
    with pytest.raises(ValueError, match='num_params'):
        build_controller(dict(type='PPO2Controller', num_params=3), 4)


@settings(max_examples=15, deadline=None)
@given(mu=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
       sigma=st.floats(1e-3, 2.0), seed=st.integers(0, 2**31 - 1),
       baseline=st.sampled_from(['mu', 'mean']))
def test_property_samples_in_unit_cube_and_update_finite(mu, sigma, seed, baseline):
    ctl = PPO2Controller(3, samples_per_round=8, sigma=sigma, init_mu=mu, seed=seed,
                         baseline=baseline, updates_per_round=5)
    s = ctl.sample()
    assert s.shape == (8, 3) and bool(((s >= 0) & (s <= 1)).all())
    ctl.update(s, s.sum(1))
    assert bool(torch.isfinite(ctl.mu).all()) and bool(((ctl.mu >= 0) & (ctl.mu <= 1)).all())
    assert bool(((ctl.sample() >= 0) & (ctl.sample() <= 1)).all())


def test_target_kl_stops_the_round_early():
    """PPO's KL early stopping bounds how far one round moves mu."""
    from mmseg_autoloss.search.controllers import PPO2Controller
    moves = {}
    for target_kl in (None, 0.05):
        ctl = PPO2Controller(12, samples_per_round=8, target_kl=target_kl, seed=0)
        samples = ctl.sample()
        rewards = samples[:, 0] * 10  # a steep reward along one axis
        stats = ctl.update(samples, rewards)
        moves[target_kl] = stats['mean_abs_dmu']
        if target_kl is not None:
            assert stats['update_steps'] < ctl.updates_per_round
    assert moves[0.05] < moves[None]
    with pytest.raises(ValueError, match='target_kl'):
        PPO2Controller(12, target_kl=0)
