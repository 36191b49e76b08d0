"""Search controllers for the surrogate parameters Theta in [0, 1]^D.

A controller proposes ``M`` parameter vectors per round (:meth:`sample`),
receives their rewards (:meth:`update`) and keeps track of the best output.
Nothing here trains a network: the rewards come from the caller (the
:class:`LossSearchRunner` in practice, a synthetic function in the tests).

* :class:`PPO2Controller` -- the Auto Seg-Loss policy (method.md §5): a truncated
  normal ``N_trunc[0,1](mu, sigma^2 I)``, ``mu = sigmoid(w)`` with free
  variables ``w`` optimised by Adam on PPO's clipped surrogate objective.
* :class:`RandomSearchController` -- uniform samples, the baseline of the
  paper's Fig. 3.
* ``TPEController`` and ``CMAESController`` (:mod:`.optuna_controllers`) --
  Optuna's TPE and CMA-ES samplers, when Optuna is installed.

All are registered in :data:`CONTROLLERS` and built with
:func:`build_controller`; all are deterministic given ``seed`` (PPO2 and
random search own a ``torch.Generator`` and never touch the global RNG, the
Optuna samplers are seeded) and can be checkpointed with
:meth:`~BaseController.state_dict` and resumed exactly.
"""
import copy
import math
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.registry import Registry
from torch import Tensor

from . import truncnorm

__all__ = ['CONTROLLERS', 'build_controller', 'BaseController', 'BestSampleController',
           'PPO2Controller', 'RandomSearchController']

CONTROLLERS = Registry('controller')

ArrayLike = Union[Tensor, Sequence[float]]

_STATE_VERSION = 1
# init_mu on a bound would need an infinite free variable; stay this close.
_MU_EPS = 1e-6
# Bounds of a learnable sigma: below 1e-3 the policy is a point mass for any
# proxy-training noise, above 10 it is uniform on [0, 1] anyway.
_SIGMA_MIN, _SIGMA_MAX = 1e-3, 10.0
# exp() of a joint log-ratio over many dimensions can overflow; beyond e^50
# every ratio is far outside any clip range, so capping it changes nothing
# but keeps 0 * inf out of the backward pass.
_MAX_LOG_RATIO = 50.0


def _to_float(value: Tensor) -> float:
    return float(value.detach().item())


def _unit_vector(value: Optional[ArrayLike], num_params: int, name: str) -> Tensor:
    """Check and convert a vector in [0, 1]^num_params (None -> 0.5 everywhere)."""
    if value is None:
        return torch.full((num_params, ), 0.5, dtype=torch.float64)
    vec = torch.as_tensor(value, dtype=torch.float64).detach().clone().cpu()
    if vec.dim() == 0:
        vec = vec.expand(num_params).clone()
    if vec.shape != (num_params, ):
        raise ValueError(f'{name} must have {num_params} entries (num_params), got shape '
                         f'{tuple(vec.shape)}')
    if not bool(torch.isfinite(vec).all()) or bool(((vec < 0) | (vec > 1)).any()):
        raise ValueError(f'{name} must lie in [0, 1], got {vec.tolist()}')
    return vec


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f'{name} must be an integer >= {minimum}, got {value!r}')
    return value


def _check_choice(name: str, value: Any, choices: Tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')
    return value


class BaseController:
    """Common interface and bookkeeping of the search controllers.

    Subclasses implement :meth:`_draw` (the round's samples),
    :meth:`_step` (learn from the rewards) and the ``mu``/``sigma``
    properties, plus :meth:`_extra_state`/:meth:`_load_extra_state` for
    their own checkpoint entries.

    Args:
        num_params: Dimension D of Theta.
        samples_per_round: Samples M drawn per round.
        init_mu: Initial mean in [0, 1]^D (the runner passes the identity
            theta of method.md §3); None = 0.5 everywhere.
        seed: Seed of the controller's own ``torch.Generator``.
    """

    #: Smallest allowed ``samples_per_round``.
    min_samples: int = 1

    def __init__(self, num_params: int, samples_per_round: int = 8,
                 init_mu: Optional[ArrayLike] = None, seed: int = 0) -> None:
        self.num_params = _check_int('num_params', num_params, 1)
        self.samples_per_round = _check_int('samples_per_round', samples_per_round,
                                            self.min_samples)
        self.seed = _check_int('seed', seed, 0)
        self.init_mu = _unit_vector(init_mu, num_params, 'init_mu')
        self._generator = torch.Generator(device='cpu')
        self._generator.manual_seed(seed)
        self._round = 0
        # Samples of the current round, kept until update() so that calling
        # sample() twice (e.g. after a crash between sample and update) gives
        # the same proposals.
        self._pending: Optional[Tensor] = None
        self._best_mu: Optional[Tensor] = None
        self._best_reward: Optional[float] = None
        self._best_round: Optional[int] = None
        self._history: List[Dict[str, Any]] = []

    # ------------------------------------------------------------ interface
    @property
    def mu(self) -> Tensor:
        """Current mean (D, ) float64."""
        raise NotImplementedError

    @property
    def sigma(self) -> Optional[Tensor]:
        """Current standard deviation per dimension (D, ), or None."""
        raise NotImplementedError

    @property
    def round(self) -> int:
        """Number of completed rounds (index of the next update)."""
        return self._round

    @property
    def best_mu(self) -> Optional[Tensor]:
        """The output so far (D, ), None before the first update."""
        return None if self._best_mu is None else self._best_mu.clone()

    @property
    def best_reward(self) -> Optional[float]:
        """Score of :attr:`best_mu`, None before the first update."""
        return self._best_reward

    @property
    def best_round(self) -> Optional[int]:
        """Round in which :attr:`best_mu` was scored."""
        return self._best_round

    @property
    def history(self) -> List[Dict[str, Any]]:
        """One JSON-serialisable dict per completed round (a copy)."""
        return copy.deepcopy(self._history)

    def sample(self) -> Tensor:
        """Proposals of the current round.

        Returns:
            Tensor (M, D) float64 in [0, 1]. Repeated calls before
            :meth:`update` return the same tensor (values).
        """
        if self._pending is None:
            self._pending = self._draw().to(torch.float64)
        return self._pending.clone()

    def update(self, samples: ArrayLike, rewards: ArrayLike) -> Dict[str, Any]:
        """Learn from one round of rewards and advance the round.

        Non-finite rewards (failed proxies) are replaced by the worst finite
        reward of the round.

        Args:
            samples: (N, D) parameter vectors that were evaluated, normally
                the output of :meth:`sample`.
            rewards: (N, ) rewards, higher is better.

        Returns:
            Scalars for logging (None where not applicable).

        Raises:
            ValueError: on shapes, samples outside [0, 1] or no finite reward.
        """
        samples, rewards = self._check_round_inputs(samples, rewards)
        finite = torch.isfinite(rewards)
        num_bad = int((~finite).sum())
        if num_bad == rewards.numel():
            raise ValueError(f'round {self._round}: all {num_bad} rewards are non-finite '
                             f'({rewards.tolist()}); nothing to learn from')
        if num_bad:
            rewards = torch.where(finite, rewards, rewards[finite].min())
        mu_before = self.mu
        stats, candidate, score = self._step(samples, rewards)
        if self._best_reward is None or score > self._best_reward:
            self._best_mu = candidate.detach().clone().to(torch.float64)
            self._best_reward = float(score)
            self._best_round = self._round
        record: Dict[str, Any] = dict(
            round=self._round,
            mean_reward=_to_float(rewards.mean()),
            std_reward=_to_float(rewards.std(unbiased=False)),
            max_reward=_to_float(rewards.max()),
            min_reward=_to_float(rewards.min()),
            num_samples=int(rewards.numel()),
            num_nonfinite=num_bad,
        )
        record.update(stats)
        record.update(best_reward=self._best_reward, best_round=self._best_round)
        logged = dict(record)
        record['mu'] = mu_before.tolist()
        sigma = self.sigma
        record['sigma'] = None if sigma is None else sigma.tolist()
        self._history.append(record)
        self._round += 1
        self._pending = None
        return logged

    # ------------------------------------------------------------ checkpoint
    def _config(self) -> Dict[str, Any]:
        """Hyper-parameters, stored to detect a mismatching resume."""
        return dict(num_params=self.num_params, samples_per_round=self.samples_per_round,
                    seed=self.seed)

    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to continue bit-identically.

        Only tensors, numbers, strings, None, lists and dicts: loadable with
        ``torch.load(..., weights_only=True)``.
        """
        return dict(
            type=type(self).__name__,
            version=_STATE_VERSION,
            config=self._config(),
            init_mu=self.init_mu.clone(),
            generator=self._generator.get_state(),
            round=self._round,
            pending=None if self._pending is None else self._pending.clone(),
            best_mu=None if self._best_mu is None else self._best_mu.clone(),
            best_reward=self._best_reward,
            best_round=self._best_round,
            history=copy.deepcopy(self._history),
            extra=self._extra_state(),
        )

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` of the same controller type and D.

        Raises:
            ValueError: if the type or ``num_params`` differ. Other differing
                hyper-parameters only warn (the new ones are used).
        """
        if not isinstance(state, dict) or 'type' not in state:
            raise ValueError('controller state must be a dict from state_dict()')
        if state['type'] != type(self).__name__:
            raise ValueError(f"controller state is for {state['type']}, cannot load into "
                             f'{type(self).__name__}')
        if state.get('version') != _STATE_VERSION:
            raise ValueError(f"controller state version {state.get('version')!r} is not "
                             f'{_STATE_VERSION}')
        saved = state['config']
        if saved['num_params'] != self.num_params:
            raise ValueError(f"controller state has num_params={saved['num_params']}, this "
                             f'controller has {self.num_params}')
        changed = {k: (saved.get(k), v) for k, v in self._config().items()
                   if saved.get(k) != v}
        if changed:
            warnings.warn(f'{type(self).__name__}.load_state_dict: hyper-parameters differ '
                          f'from the checkpoint (saved, now): {changed}; using the new ones')
        self.init_mu = state['init_mu'].clone().to(torch.float64)
        self._generator.set_state(state['generator'].clone())
        self._round = int(state['round'])
        pending = state['pending']
        self._pending = None if pending is None else pending.clone().to(torch.float64)
        best_mu = state['best_mu']
        self._best_mu = None if best_mu is None else best_mu.clone().to(torch.float64)
        self._best_reward = state['best_reward']
        self._best_round = state['best_round']
        self._history = copy.deepcopy(state['history'])
        self._load_extra_state(state['extra'])

    # ------------------------------------------------------------ hooks
    def _draw(self) -> Tensor:
        raise NotImplementedError

    def _step(self, samples: Tensor, rewards: Tensor
              ) -> Tuple[Dict[str, Any], Tensor, float]:
        """Learn from finite rewards.

        Returns:
            ``(stats, candidate, score)``: scalars to log, the output candidate
            of this round and its score (it replaces the best if higher).
        """
        raise NotImplementedError

    def _extra_state(self) -> Dict[str, Any]:
        return {}

    def _load_extra_state(self, extra: Dict[str, Any]) -> None:
        pass

    def _check_round_inputs(self, samples: ArrayLike, rewards: ArrayLike
                            ) -> Tuple[Tensor, Tensor]:
        samples = torch.as_tensor(samples, dtype=torch.float64).detach().cpu()
        rewards = torch.as_tensor(rewards, dtype=torch.float64).detach().cpu().flatten()
        if samples.dim() != 2 or samples.shape[1] != self.num_params:
            raise ValueError(f'samples must be (N, {self.num_params}), got shape '
                             f'{tuple(samples.shape)}')
        if samples.shape[0] != rewards.numel():
            raise ValueError(f'got {samples.shape[0]} samples but {rewards.numel()} rewards')
        if samples.shape[0] < self.min_samples:
            raise ValueError(f'{type(self).__name__} needs at least {self.min_samples} '
                             f'samples per update, got {samples.shape[0]}')
        inside = torch.isfinite(samples) & (samples >= 0) & (samples <= 1)
        if not bool(inside.all()):
            rows = torch.nonzero(~inside.all(1)).flatten().tolist()
            raise ValueError(f'samples must lie in [0, 1]; rows {rows[:8]} do not')
        return samples, rewards

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self._config().items())
        return f'{type(self).__name__}({args})'


@CONTROLLERS.register_module()
class PPO2Controller(BaseController):
    """PPO2 over a truncated-normal policy (Auto Seg-Loss, method.md §5).

    Round t samples ``Theta_i ~ N_trunc[0,1](mu_t, sigma^2 I)`` (with
    ``baseline='mu'`` row 0 is ``mu_t`` itself), and after the rewards
    ``xi_i`` arrive maximises, for ``updates_per_round`` Adam steps on the
    free variables ``w`` (``mu = sigmoid(w)``)::

        joint:   1/M sum_i min(r_i A_i, clip(r_i, 1-eps, 1+eps) A_i),
                 r_i = p(Theta_i; mu) / p(Theta_i; mu_t)           (paper)
        per_dim: sum_d 1/M sum_i min(r_id A_i, clip(r_id, 1-eps, 1+eps) A_i),
                 r_id = p_d(Theta_id; mu_d) / p_d(Theta_id; mu_t,d)  (release)

    with ``A_i = xi_i - b``, ``b`` = the reward of ``mu_t`` (``'mu'``) or the
    round's mean (``'mean'``). The Adam state persists across rounds, like the
    authors' release.

    Defaults: the authors' release (sigma 0.2, Adam lr 0.2, 60 steps, eps 0.2,
    per-dimension ratio) except ``baseline='mean'`` (the paper's text; the
    release uses ``'mu'``) and ``normalize_advantages=True`` (see below).
    Near a maximum the reward is concave, so by Jensen the reward of ``mu_t``
    exceeds most samples' rewards: with ``baseline='mu'`` nearly every
    advantage is negative and the update mostly pushes ``mu`` away from all
    samples. On the synthetic benchmark (``benchmarks/controller_benchmark.py``)
    ``'mean'`` is clearly better. Note that with ``'mean'`` the output
    ``mu_t`` itself is never evaluated; a caller wanting its reward must
    evaluate it separately.

    Reward scale: with ``normalize_advantages=True`` (default) the advantages
    are divided by the round's reward std, so the update is invariant to any
    positive affine transform of the rewards (fractions or percent give the
    same ``mu`` up to rounding) and each round's step does not depend on how
    spread that round's rewards are. With ``False`` (the release) a global
    scale ``c`` multiplies every gradient by ``c``, which Adam's
    ``m / sqrt(v)`` cancels only up to its ``eps`` (1e-8): invariance is
    approximate, and Adam's second moment, carried across rounds, shrinks the
    steps as rewards concentrate. On the synthetic benchmark both give the
    same quality; the clipped objective itself is unchanged.

    Output: :attr:`best_mu` = the ``mu_t`` whose round had the highest mean
    reward (``select_by='mean'``, the paper) or the highest reward of
    ``mu_t`` itself (``select_by='mu'``, needs ``baseline='mu'``).

    Args:
        num_params: Dimension D.
        samples_per_round: Samples M per round (>= 2).
        sigma: Standard deviation of the parent normal (> 0).
        learn_sigma: Also optimise a per-dimension ``log sigma`` (kept in
            [1e-3, 10]).
        mu_lr: Adam learning rate.
        updates_per_round: Adam steps per round.
        clip_eps: PPO clip range, in (0, 1).
        baseline: 'mean' (round mean) or 'mu' (row 0 of every round is
            ``mu_t``, its reward is the baseline).
        ratio: 'per_dim' (authors' release) or 'joint' (paper).
        normalize_advantages: Divide advantages by the round's reward std
            (False = raw advantages, as in the release).
        select_by: 'mean' or 'mu'.
        target_kl: Stop a round's Adam steps once the sample estimate of
            KL(old || new) of the joint policy exceeds it (PPO's early
            stopping; None = always ``updates_per_round`` steps, as the
            release). Clipping alone does not bound the step: samples whose
            ratio is clipped stop pulling, the rest keep pushing mu, and
            with few, noisy rewards mu can leave the region the round
            measured.
        init_mu: Initial mean in [0, 1]^D (None = 0.5).
        seed: Seed of the sampling generator.
    """

    min_samples = 2

    def __init__(self, num_params: int, samples_per_round: int = 32, sigma: float = 0.2,
                 learn_sigma: bool = False, mu_lr: float = 0.2, updates_per_round: int = 60,
                 clip_eps: float = 0.2, baseline: str = 'mean', ratio: str = 'per_dim',
                 normalize_advantages: bool = True, select_by: str = 'mean',
                 target_kl: Optional[float] = None,
                 init_mu: Optional[ArrayLike] = None, seed: int = 0) -> None:
        super().__init__(num_params, samples_per_round, init_mu, seed)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) \
                or not math.isfinite(sigma) or not _SIGMA_MIN <= sigma <= _SIGMA_MAX:
            raise ValueError(f'sigma must be a number in [{_SIGMA_MIN}, {_SIGMA_MAX}], '
                             f'got {sigma!r}')
        if isinstance(mu_lr, bool) or not isinstance(mu_lr, (int, float)) \
                or not math.isfinite(mu_lr) or mu_lr <= 0:
            raise ValueError(f'mu_lr must be a positive number, got {mu_lr!r}')
        if isinstance(clip_eps, bool) or not isinstance(clip_eps, (int, float)) \
                or not 0 < clip_eps < 1:
            raise ValueError(f'clip_eps must be in (0, 1), got {clip_eps!r}')
        if target_kl is not None and (isinstance(target_kl, bool) or
                                      not isinstance(target_kl, (int, float)) or
                                      not target_kl > 0):
            raise ValueError(f'target_kl must be None or a positive number, got {target_kl!r}')
        self.target_kl = None if target_kl is None else float(target_kl)
        self.updates_per_round = _check_int('updates_per_round', updates_per_round, 1)
        self.baseline = _check_choice('baseline', baseline, ('mu', 'mean'))
        self.ratio = _check_choice('ratio', ratio, ('joint', 'per_dim'))
        self.select_by = _check_choice('select_by', select_by, ('mean', 'mu'))
        if select_by == 'mu' and baseline != 'mu':
            raise ValueError("select_by='mu' needs baseline='mu' (otherwise mu is never "
                             'evaluated)')
        self.learn_sigma = bool(learn_sigma)
        self.normalize_advantages = bool(normalize_advantages)
        self.mu_lr = float(mu_lr)
        self.clip_eps = float(clip_eps)
        self.init_sigma = float(sigma)

        init = self.init_mu.clamp(_MU_EPS, 1 - _MU_EPS)
        self._free = torch.logit(init).requires_grad_(True)
        self._log_sigma = torch.full((num_params, ), math.log(sigma), dtype=torch.float64,
                                     requires_grad=self.learn_sigma)
        params = [self._free] + ([self._log_sigma] if self.learn_sigma else [])
        self._optimizer = torch.optim.Adam(params, lr=self.mu_lr)

    @property
    def mu(self) -> Tensor:
        return torch.sigmoid(self._free.detach())

    @property
    def sigma(self) -> Tensor:
        return self._sigma_of(self._log_sigma.detach())

    @staticmethod
    def _sigma_of(log_sigma: Tensor) -> Tensor:
        return log_sigma.exp().clamp(_SIGMA_MIN, _SIGMA_MAX)

    def _config(self) -> Dict[str, Any]:
        cfg = super()._config()
        cfg.update(sigma=self.init_sigma, learn_sigma=self.learn_sigma, mu_lr=self.mu_lr,
                   updates_per_round=self.updates_per_round, clip_eps=self.clip_eps,
                   baseline=self.baseline, ratio=self.ratio,
                   normalize_advantages=self.normalize_advantages, select_by=self.select_by,
                   target_kl=self.target_kl)
        return cfg

    def _draw(self) -> Tensor:
        mu, sigma = self.mu, self.sigma
        num_random = self.samples_per_round - (1 if self.baseline == 'mu' else 0)
        draws = truncnorm.sample(mu, sigma, self._generator, (num_random, ))
        if self.baseline == 'mu':
            draws = torch.cat([mu[None], draws], dim=0)
        return draws

    def _objective(self, log_ratio: Tensor, adv: Tensor) -> Tensor:
        """Clipped surrogate; ``log_ratio`` (N, D), ``adv`` (N, )."""
        if self.ratio == 'joint':
            log_ratio = log_ratio.sum(1)
        else:
            adv = adv[:, None]
        ratio = log_ratio.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO).exp()
        clipped = ratio.clamp(1 - self.clip_eps, 1 + self.clip_eps)
        per_sample = torch.minimum(ratio * adv, clipped * adv)
        # joint: mean over samples; per_dim: mean over samples, sum over dims.
        return per_sample.mean(0).sum()

    def _step(self, samples: Tensor, rewards: Tensor
              ) -> Tuple[Dict[str, Any], Tensor, float]:
        mu_old, sigma_old = self.mu, self.sigma
        if self.baseline == 'mu':
            if not torch.allclose(samples[0], mu_old, rtol=0, atol=1e-6):
                raise ValueError("baseline='mu' expects row 0 of samples to be the current "
                                 f'mu {mu_old.tolist()}, got {samples[0].tolist()}')
            base = rewards[0]
        else:
            base = rewards.mean()
        adv = rewards - base
        if self.normalize_advantages:
            # All-equal rewards give adv == 0 exactly, so the floor only
            # avoids 0/0.
            adv = adv / rewards.std(unbiased=False).clamp_min(1e-12)
        log_p_old = truncnorm.log_prob(samples, mu_old, sigma_old)

        def objective() -> Tensor:
            mu = torch.sigmoid(self._free)
            sigma = self._sigma_of(self._log_sigma) if self.learn_sigma else sigma_old
            log_p = truncnorm.log_prob(samples, mu, sigma)
            return self._objective(log_p - log_p_old, adv)

        def joint_kl() -> float:
            # Sample estimate of KL(old || new) of the joint density.
            log_ratio = truncnorm.log_prob(samples, self.mu, self.sigma) - log_p_old
            return _to_float(-log_ratio.sum(1).mean())

        with torch.no_grad():
            obj_before = _to_float(objective())
        steps = 0
        for _ in range(self.updates_per_round):
            self._optimizer.zero_grad(set_to_none=True)
            loss = -objective()
            loss.backward()
            self._optimizer.step()
            steps += 1
            if self.target_kl is not None:
                with torch.no_grad():
                    if joint_kl() > self.target_kl:
                        break
        self._optimizer.zero_grad(set_to_none=True)

        with torch.no_grad():
            obj_after = _to_float(objective())
            mu_new, sigma_new = self.mu, self.sigma
            log_ratio = truncnorm.log_prob(samples, mu_new, sigma_new) - log_p_old
            if self.ratio == 'joint':
                log_ratio = log_ratio.sum(1)
            clip_frac = _to_float(((log_ratio.exp() - 1).abs() > self.clip_eps).double().mean())
            # Sample-based estimate of KL(old || new) of the joint density.
            approx_kl = _to_float(-log_ratio.mean() if self.ratio == 'joint'
                                  else -log_ratio.sum(1).mean())
        mu_reward = _to_float(rewards[0]) if self.baseline == 'mu' else None
        stats = dict(
            mu_reward=mu_reward,
            objective_before=obj_before,
            objective=obj_after,
            approx_kl=approx_kl,
            clip_frac=clip_frac,
            mean_abs_dmu=_to_float((mu_new - mu_old).abs().mean()),
            mean_sigma=_to_float(sigma_new.mean()),
            update_steps=steps,
        )
        score = mu_reward if self.select_by == 'mu' else _to_float(rewards.mean())
        return stats, mu_old, score

    def _extra_state(self) -> Dict[str, Any]:
        return dict(free=self._free.detach().clone(),
                    log_sigma=self._log_sigma.detach().clone(),
                    optimizer=copy.deepcopy(self._optimizer.state_dict()))

    def _load_extra_state(self, extra: Dict[str, Any]) -> None:
        with torch.no_grad():
            self._free.copy_(extra['free'])
            self._log_sigma.copy_(extra['log_sigma'])
        self._optimizer.load_state_dict(extra['optimizer'])


class BestSampleController(BaseController):
    """Base of the controllers whose output is the best sample seen.

    :attr:`best_mu` is the single sample with the highest reward so far;
    :attr:`mu` returns it too, or ``init_mu`` before any reward. No policy
    standard deviation (:attr:`sigma` is None).
    """

    @property
    def mu(self) -> Tensor:
        return self.init_mu.clone() if self._best_mu is None else self._best_mu.clone()

    @property
    def sigma(self) -> None:
        return None

    def _step(self, samples: Tensor, rewards: Tensor
              ) -> Tuple[Dict[str, Any], Tensor, float]:
        idx = int(torch.argmax(rewards))
        return dict(round_best_index=idx), samples[idx], _to_float(rewards[idx])


@CONTROLLERS.register_module()
class RandomSearchController(BestSampleController):
    """Random search: M fresh uniform samples in [0, 1]^D per round.

    Output: the best sample seen (:class:`BestSampleController`). Apart from the warm start below every proposal is a new uniform
    draw, so at equal budget it evaluates as many distinct points as PPO2.

    Args:
        num_params: Dimension D.
        samples_per_round: Samples M per round (>= 1).
        include_init_mu: Make row 0 of the first round ``init_mu`` (the warm
            start from a preset: it is evaluated and competes for the
            output).
        init_mu: Initial point in [0, 1]^D (None = 0.5).
        seed: Seed of the sampling generator.
    """

    def __init__(self, num_params: int, samples_per_round: int = 32,
                 include_init_mu: bool = True, init_mu: Optional[ArrayLike] = None,
                 seed: int = 0) -> None:
        super().__init__(num_params, samples_per_round, init_mu, seed)
        self.include_init_mu = bool(include_init_mu)

    def _config(self) -> Dict[str, Any]:
        cfg = super()._config()
        cfg.update(include_init_mu=self.include_init_mu)
        return cfg

    def _draw(self) -> Tensor:
        draws = torch.rand((self.samples_per_round, self.num_params),
                           generator=self._generator, dtype=torch.float64)
        if self.include_init_mu and self._round == 0:
            draws[0] = self.init_mu
        return draws


def build_controller(cfg: Dict[str, Any], num_params: int,
                     init_mu: Optional[ArrayLike] = None,
                     **default_args: Any) -> BaseController:
    """Build a controller from ``dict(type=..., **kwargs)`` (``search.controller``).

    Args:
        cfg: ``type`` is a registered name ('PPO2Controller',
            'RandomSearchController', 'TPEController', 'CMAESController') or a
            class; the other keys are its arguments. Not modified.
        num_params: Dimension D.
        init_mu: Initial mean / preset used when ``cfg`` has no ``init_mu``
            (an explicit one in ``cfg`` wins).
        **default_args: Further arguments used where ``cfg`` does not set
            them (e.g. ``samples_per_round``, ``seed`` from the runner).

    Returns:
        The controller.

    Raises:
        KeyError: unknown ``type``.
        ImportError: an Optuna controller without Optuna (or cmaes) installed.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f"search.controller must be a dict with a 'type', got {cfg!r}")
    args = dict(cfg)
    ctype = args.pop('type')
    if isinstance(ctype, str):
        # Registry.get, not Registry.build: build would switch to the current
        # DefaultScope ('mmseg' inside a runner) and warn that this registry
        # is not in its tree.
        cls = CONTROLLERS.get(ctype)
        if cls is None:
            raise KeyError(f'search.controller.type={ctype!r} is not a registered controller; '
                           f'choose from {sorted(CONTROLLERS.module_dict)}')
    elif isinstance(ctype, type) and issubclass(ctype, BaseController):
        cls = ctype
    else:
        raise TypeError(f'search.controller.type must be a registered name or a '
                        f'BaseController subclass, got {ctype!r}')
    if 'num_params' in args and args['num_params'] != num_params:
        raise ValueError(f"search.controller.num_params={args['num_params']} contradicts "
                         f'num_params={num_params} of the search space')
    args['num_params'] = num_params
    if init_mu is not None:
        args.setdefault('init_mu', init_mu)
    for key, value in default_args.items():
        args.setdefault(key, value)
    try:
        return cls(**args)
    except TypeError as err:
        raise TypeError(f'cannot build {cls.__name__} from search.controller={cfg!r}: '
                        f'{err}') from None


# Registers TPEController and CMAESController; importing that module needs
# no Optuna (building one of them does), and it imports this one, hence last.
from . import optuna_controllers  # noqa: E402,F401
