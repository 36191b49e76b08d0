"""What every registered controller promises (the runner relies on it).

Parametrized over :data:`CONTROLLERS`, so a newly registered controller is
checked without editing this file: same proposals for the same seed, an
exact resume from its ``state_dict`` (through ``torch.save``/``torch.load``
with ``weights_only=True``, as the runner stores it) and ``init_mu`` (the
runner's ``search.init_theta``) honoured.
"""
import io
from typing import List

import pytest
import torch

from mmseg_autoloss.search.controllers import CONTROLLERS, BaseController, build_controller

D, M = 5, 4
TARGET = torch.tensor([0.2, 0.8, 0.5, 0.3, 0.9], dtype=torch.float64)
INIT = [0.3, 0.6, 0.4, 0.5, 0.7]
NAMES = sorted(CONTROLLERS.module_dict)


def _reward(samples: torch.Tensor) -> torch.Tensor:
    return -((samples - TARGET)**2).sum(1)


def _build(name: str, seed: int = 0, init_mu=INIT) -> BaseController:
    try:
        # small settings where a controller has them: quick rounds
        extra = dict(updates_per_round=5) if name == 'PPO2Controller' else {}
        return build_controller(dict(type=name, **extra), D, init_mu=init_mu,
                                samples_per_round=M, seed=seed)
    except ImportError as err:  # Optuna's samplers without Optuna
        pytest.skip(str(err))


def _run(ctrl: BaseController, rounds: int) -> List[torch.Tensor]:
    proposals = []
    for _ in range(rounds):
        samples = ctrl.sample()
        proposals.append(samples)
        ctrl.update(samples, _reward(samples))
    return proposals


def test_every_builtin_controller_is_registered():
    assert {'PPO2Controller', 'RandomSearchController', 'TPEController',
            'CMAESController'} <= set(NAMES)


@pytest.mark.parametrize('name', NAMES)
def test_same_seed_same_proposals(name):
    a, b = _run(_build(name), 3), _run(_build(name), 3)
    for x, y in zip(a, b):
        assert x.shape == (M, D) and x.dtype == torch.float64
        assert bool(((x >= 0) & (x <= 1)).all())
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    # a sample() repeated before update() proposes the same points
    ctrl = _build(name)
    torch.testing.assert_close(ctrl.sample(), ctrl.sample(), rtol=0, atol=0)


@pytest.mark.parametrize('name', NAMES)
def test_exact_resume_from_state(name):
    full = _build(name)
    expected = _run(full, 4)
    first = _build(name)
    _run(first, 2)
    first.sample()  # a pending round is part of the state
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    resumed = _build(name)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    assert resumed.round == 2
    got = _run(resumed, 2)
    for x, y in zip(expected[2:], got):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    torch.testing.assert_close(resumed.best_mu, full.best_mu, rtol=0, atol=0)
    assert resumed.best_reward == full.best_reward
    assert resumed.history == full.history


@pytest.mark.parametrize('name', NAMES)
def test_init_theta_honoured(name):
    ctrl = _build(name)
    init = torch.tensor(INIT, dtype=torch.float64)
    torch.testing.assert_close(ctrl.init_mu, init, rtol=0, atol=0)
    # before any reward the controller's point is the initial one
    torch.testing.assert_close(ctrl.mu, init, rtol=0, atol=1e-9)
    # and it steers the first proposals: another start proposes elsewhere
    other = _build(name, init_mu=[0.9] * D)
    assert not torch.equal(ctrl.sample(), other.sample())
    # an explicit init_mu in the controller config wins over the runner's
    explicit = build_controller(dict(type=name, init_mu=[0.1] * D), D, init_mu=INIT,
                                samples_per_round=M)
    torch.testing.assert_close(explicit.init_mu, torch.full((D, ), 0.1, dtype=torch.float64))
