"""Search controllers on synthetic rewards (no training): PPO2, random search and
Optuna's TPE and CMA-ES (real Optuna)."""
import io
import json
import math
import os.path as osp
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_autoloss.search.controllers import (CONTROLLERS, BaseController, PPO2Controller,
                                               RandomSearchController, build_controller)
from mmseg_autoloss.search.optuna_controllers import CMAESController, TPEController

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


def small_tpe(**kw) -> TPEController:
    args = dict(num_params=D, samples_per_round=16, init_mu=INIT, seed=0)
    args.update(kw)
    return TPEController(**args)


def small_cma(**kw) -> CMAESController:
    args = dict(num_params=D, samples_per_round=16, init_mu=INIT, seed=0)
    args.update(kw)
    return CMAESController(**args)


@pytest.mark.parametrize('ctl', [
    lambda: small_ppo(), lambda: small_ppo(baseline='mu'),
    lambda: RandomSearchController(D, 16, seed=0), lambda: small_tpe(), lambda: small_cma()])
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


@pytest.mark.parametrize('make', [small_ppo, small_tpe, small_cma])
def test_different_seeds_differ(make):
    a, b = make(seed=0), make(seed=1)
    assert not torch.equal(a.sample(), b.sample())
    a.update(a.sample(), sphere(OPT)(a.sample()))
    b.update(b.sample(), sphere(OPT)(b.sample()))
    assert not torch.equal(a.sample(), b.sample())


@pytest.mark.parametrize('make', [small_ppo, lambda: RandomSearchController(D, 16, seed=0),
                                  small_tpe, small_cma])
def test_same_seed_reruns_are_equal(make):
    a = run(make(), sphere(OPT), 3, noise=0.003)
    b = run(make(), sphere(OPT), 3, noise=0.003)
    assert torch.equal(a.sample(), b.sample()) and torch.equal(a.best_mu, b.best_mu)
    assert a.history == b.history


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
    lambda: RandomSearchController(D, 16, include_init_mu=True, init_mu=INIT, seed=0),
    lambda: small_tpe(), lambda: small_cma(), lambda: small_cma(include_init_mu=True),
    lambda: small_tpe(sampler_kwargs=dict(multivariate=False, n_startup_trials=4))])
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
    with pytest.raises(ValueError, match='cannot load into TPEController'):
        small_tpe().load_state_dict(state)
    with pytest.raises(ValueError, match='for TPEController, cannot load into CMAESController'):
        small_cma().load_state_dict(small_tpe().state_dict())


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
    with pytest.raises(KeyError, match=r"search\.controller\.type='Bogus'.*TPEController"):
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


# ---------------------------------------------------------------- Optuna controllers
OPTUNA = [small_tpe, small_cma]


@pytest.mark.parametrize('make', OPTUNA)
def test_optuna_controllers_improve_on_their_first_round(make):
    """Rewards of later rounds beat round 0's, on every seed (TPE: round 0 is
    random; CMA-ES: round 0 samples around the start point)."""
    for seed in range(3):
        opt = 0.1 + 0.8 * torch.rand(D, generator=torch.Generator().manual_seed(70 + seed),
                                     dtype=torch.float64)
        reward = sphere(opt)
        ctl = run(make(seed=seed), reward, rounds=8, noise=0.002, seed=seed)
        h = ctl.history
        first, last = h[0]['mean_reward'], h[-1]['mean_reward']
        # The regret of the round mean shrinks by a clear factor.
        assert 0.8 - last < 0.6 * (0.8 - first), (seed, first, last)
        assert reward(ctl.best_mu).item() > max(r['max_reward'] for r in h[:1]) - 0.002


@pytest.mark.parametrize('init', [INIT, torch.tensor([0.9, 0.1, 0.6, 0.35, 0.75, 0.5],
                                                     dtype=torch.float64)])
def test_warm_start_from_init_mu_for_every_controller(init):
    """The preset drives round 0 of every controller: PPO2's mean, the first
    proposal of random search and TPE, CMA-ES's start point."""
    ppo = small_ppo(init_mu=init, baseline='mu')
    assert torch.allclose(ppo.mu, init, atol=2e-6) and torch.equal(ppo.sample()[0], ppo.mu)
    assert torch.equal(RandomSearchController(D, 16, init_mu=init).sample()[0], init)
    tpe = small_tpe(init_mu=init).sample()
    assert torch.equal(tpe[0], init)
    assert not bool((tpe[1:] == init).all(1).any())  # the rest is a random start
    cma = small_cma(init_mu=init, sigma0=0.05, samples_per_round=32).sample()
    # Mean of 32 draws of N(init, 0.05^2) (few clipped): within 5 standard errors.
    assert (cma.mean(0) - init).abs().max() < 5 * 0.05 / math.sqrt(32)
    assert cma.std(0).mean() == pytest.approx(0.05, rel=0.3)
    assert torch.equal(small_cma(init_mu=init, include_init_mu=True).sample()[0], init)


@settings(max_examples=10, deadline=None)
@given(init=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
       seed=st.integers(0, 2**32 - 1), sigma0=st.floats(1e-3, 1.0))
def test_property_optuna_first_trial_is_the_preset_and_samples_in_unit_cube(init, seed, sigma0):
    tpe = TPEController(3, 4, init_mu=init, seed=seed)
    cma = CMAESController(3, 4, sigma0=sigma0, include_init_mu=True, init_mu=init, seed=seed)
    for ctl in (tpe, cma):
        s = ctl.sample()
        assert s[0].tolist() == init
        for _ in range(2):
            assert s.shape == (4, 3) and bool(((s >= 0) & (s <= 1)).all())
            ctl.update(s, -((s - 0.3)**2).sum(1))
            s = ctl.sample()


def test_optuna_resume_after_other_points_were_evaluated():
    """TPE: update() with points other than the proposals adds them as
    measured trials, and a checkpoint of that still resumes exactly; CMA-ES
    refuses them (its generation would never complete)."""
    reward = sphere(OPT)
    cma = small_cma()
    cma.sample()
    other = torch.rand((16, D), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with pytest.raises(ValueError, match='only from its own proposals'):
        cma.update(other, reward(other))
    assert cma.round == 0
    cma.update(cma.sample(), reward(cma.sample()))  # its own proposals still work
    assert cma.round == 1
    make = small_tpe
    ref = make()
    run(ref, reward, 1)
    ref.sample()
    other = torch.rand((16, D), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ref.update(other, reward(other))
    assert ref.best_reward == reward(other).max().item()
    resumed = make()
    resumed.load_state_dict(_roundtrip(ref))
    for _ in range(2):
        s = ref.sample()
        assert torch.equal(s, resumed.sample())
        ref.update(s, reward(s))
        resumed.update(s, reward(s))
    assert torch.equal(ref.sample(), resumed.sample())


def test_optuna_replay_that_diverges_warns_and_continues():
    """A checkpoint whose proposals the replay cannot reproduce (another
    Optuna version): TPE resumes from the told trials with a warning, CMA-ES
    names the Optuna version to install."""
    reward = sphere(OPT)
    state = _roundtrip(run(small_cma(), reward, 2))
    state['extra']['rounds'][1]['asked'][0, 0] += 1e-3
    with pytest.raises(RuntimeError, match=r'round 1; it was written with Optuna \d'):
        small_cma().load_state_dict(state)
    make = small_tpe
    ref = run(make(), reward, 2)
    state = _roundtrip(ref)
    state['extra']['rounds'][1]['asked'][0, 0] += 1e-3
    resumed = make()
    with pytest.warns(UserWarning, match='did not reproduce the proposals of round 1'):
        resumed.load_state_dict(state)
    assert resumed.round == 2 and resumed.best_reward == ref.best_reward
    trials = resumed._study.get_trials(deepcopy=False)
    assert len(trials) == 32 and all(t.state.name == 'COMPLETE' for t in trials)
    s = resumed.sample()
    assert s.shape == (16, D) and bool(((s >= 0) & (s <= 1)).all())
    resumed.update(s, reward(s))


def test_optuna_controllers_via_build_controller_and_errors():
    ctl = build_controller(dict(type='TPEController'), 4, init_mu=[0.25] * 4,
                           samples_per_round=8, seed=3)
    assert isinstance(ctl, TPEController) and ctl.samples_per_round == 8 and ctl.seed == 3
    assert ctl.sample()[0].tolist() == [0.25] * 4
    ctl = build_controller(dict(type='CMAESController', sigma0=0.1,
                                sampler_kwargs=dict(lr_adapt=True)), 4, samples_per_round=8)
    assert isinstance(ctl, CMAESController) and ctl.sigma0 == 0.1 and ctl.mu.tolist() == [0.5] * 4
    with pytest.raises(ValueError, match=r"sampler_kwargs may not set \['seed'\]"):
        small_tpe(sampler_kwargs=dict(seed=1))
    with pytest.raises(ValueError, match=r"\['popsize', 'x0'\]"):
        small_cma(sampler_kwargs=dict(x0={}, popsize=4))
    with pytest.raises(ValueError, match=r"sampler_kwargs\['gamma'\]"):
        small_tpe(sampler_kwargs=dict(gamma=lambda n: n))
    with pytest.raises(TypeError, match='n_candidates'):
        build_controller(dict(type='TPEController', sampler_kwargs=dict(n_candidates=3)), 4)
    for bad in (0.0, 1.5, math.nan, True):
        with pytest.raises(ValueError, match='sigma0'):
            small_cma(sigma0=bad)
    with pytest.raises(ValueError, match='samples_per_round'):
        small_cma(samples_per_round=3)
    with pytest.raises(ValueError, match='seed'):
        small_tpe(seed=2**32)


@pytest.mark.parametrize('ctype,missing', [('TPEController', 'optuna'),
                                           ('CMAESController', 'optuna'),
                                           ('CMAESController', 'cmaes')])
def test_optuna_controller_without_the_package_names_it(monkeypatch, ctype, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` fail
    with pytest.raises(ImportError, match=rf"search\.controller\.type='{ctype}' needs the "
                       rf"package '{missing}'.*pip install optuna cmaes.*\[optuna\]") as err:
        build_controller(dict(type=ctype), 4)
    assert err.value.name == missing


@pytest.mark.parametrize('controller,exc,match', [
    (dict(type='Bogus'), KeyError, r"search\.controller\.type='Bogus' is not a registered"),
    (dict(type='TPEController'), ImportError, r"search\.controller\.type='TPEController' needs "
     r"the package 'optuna'")])
def test_runner_rejects_bad_controller_before_any_work(monkeypatch, tmp_path, controller, exc,
                                                       match):
    """The runner builds the controller first: the error comes before the
    work dir (let alone a proxy training) exists."""
    from mmengine.config import Config

    from conftest import CONFIGS
    from mmseg_autoloss.search import LossSearchRunner
    monkeypatch.setitem(sys.modules, 'optuna', None)
    cfg = Config.fromfile(osp.join(
        CONFIGS, 'search', 'deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py'))
    cfg.search.controller = controller
    cfg.work_dir = str(tmp_path / 'search')
    with pytest.raises(exc, match=match):
        LossSearchRunner.from_cfg(cfg)
    assert not (tmp_path / 'search').exists()


def _search_cfg(data_root: str, work_dir: str, ctype: str, rounds: int, samples: int):
    from mmengine.config import Config

    from conftest import CONFIGS
    cfg = Config.fromfile(osp.join(
        CONFIGS, 'search', 'deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py'))
    from search_config import search_options
    cfg.merge_from_dict(search_options(
        data_root, rounds=rounds, samples=samples, iters=2, **{
            'search.controller': dict(_delete_=True, type=ctype),
            'search.init_theta': 'voc_miou'}))
    cfg.work_dir = work_dir
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('ctype', ['TPEController', 'CMAESController'])
def test_optuna_search_through_the_runner_resumes_exactly(synthetic_root, tmp_path, ctype):
    """Real proxies: a search stopped after round 1 and resumed gives the
    ledger and output of the uninterrupted one; round 0 starts at the preset."""
    from mmseg_autoloss.search import Ledger, LossSearchRunner
    from mmseg_autoloss.surrogates.presets import get_preset
    m = CMAESController.min_samples if ctype == 'CMAESController' else 2
    full = LossSearchRunner.from_cfg(_search_cfg(synthetic_root, str(tmp_path / 'a'), ctype,
                                                 2, m)).train()
    LossSearchRunner.from_cfg(_search_cfg(synthetic_root, str(tmp_path / 'b'), ctype, 1,
                                          m)).train()
    cfg = _search_cfg(synthetic_root, str(tmp_path / 'b'), ctype, 2, m)
    cfg.resume = True
    resumed = LossSearchRunner.from_cfg(cfg).train()
    ledgers = [[Ledger.comparable(r) for r in Ledger(str(tmp_path / d)).records()]
               for d in 'ab']
    assert len(ledgers[0]) == 2 * m and ledgers[0] == ledgers[1]
    assert resumed['theta'] == full['theta'] and resumed['reward'] == full['reward']
    preset = torch.tensor(get_preset('voc_miou')['theta'], dtype=torch.float64)
    round0 = torch.tensor([r['theta'] for r in Ledger(str(tmp_path / 'a')).records()
                           if r['round'] == 0], dtype=torch.float64)
    if ctype == 'TPEController':
        assert torch.allclose(round0[0], preset, rtol=0, atol=1e-12)
    else:  # N(preset, 0.2^2) clipped to [0, 1]
        assert (round0 - preset).abs().max() < 0.8


@pytest.mark.benchmark
def test_controller_benchmark_smoke():
    """benchmarks/controller_benchmark.py runs every controller, TPE and
    CMA-ES included, and reports a finite reward for each."""
    import importlib.util

    from conftest import REPO
    spec = importlib.util.spec_from_file_location(
        'controller_benchmark', osp.join(REPO, 'benchmarks', 'controller_benchmark.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table = bench.benchmark(seeds=1, rounds=2, samples=4, noise=0.005, command='smoke')
    rows = [line for line in table.splitlines() if line.startswith('| ') and '---' not in line]
    names = {row.split(' | ')[0][2:] for row in rows}
    assert set(bench.CONTROLLERS) <= names
    assert len(rows) == 2 * (len(bench.CONTROLLERS) + 2)  # + header and initial mu, per task
    for row in rows:
        if row.split(' | ')[0][2:] in bench.CONTROLLERS:
            assert 0.0 < float(row.split(' | ')[1].split(' ')[0]) <= 0.8
