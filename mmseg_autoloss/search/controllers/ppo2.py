"""PPO2: the Auto Seg-Loss policy (method.md §5).

A truncated normal ``N_trunc[0,1](mu, sigma^2 I)`` (:mod:`.truncnorm`),
``mu = sigmoid(w)`` with free variables ``w`` optimised by Adam on PPO's
clipped surrogate objective.
"""
import copy
import math
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from . import truncnorm
from .base import CONTROLLERS, ArrayLike, BaseController, _check_choice, _check_int, _to_float

__all__ = ['PPO2Controller']

# init_mu on a bound would need an infinite free variable; stay this close.
_MU_EPS = 1e-6
# Bounds of a learnable sigma: below 1e-3 the policy is a point mass for any
# proxy-training noise, above 10 it is uniform on [0, 1] anyway.
_SIGMA_MIN, _SIGMA_MAX = 1e-3, 10.0
# exp() of a joint log-ratio over many dimensions can overflow; beyond e^50
# every ratio is far outside any clip range, so capping it changes nothing
# but keeps 0 * inf out of the backward pass.
_MAX_LOG_RATIO = 50.0


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
            moved = self._update_stats(samples, log_p_old, mu_old)
        mu_reward = _to_float(rewards[0]) if self.baseline == 'mu' else None
        stats = dict(mu_reward=mu_reward, objective_before=obj_before, objective=obj_after,
                     **moved, update_steps=steps)
        score = mu_reward if self.select_by == 'mu' else _to_float(rewards.mean())
        return stats, mu_old, score

    def _update_stats(self, samples: Tensor, log_p_old: Tensor, mu_old: Tensor
                      ) -> Dict[str, float]:
        """How far the round's update moved the policy (for the log)."""
        mu_new, sigma_new = self.mu, self.sigma
        log_ratio = truncnorm.log_prob(samples, mu_new, sigma_new) - log_p_old
        if self.ratio == 'joint':
            log_ratio = log_ratio.sum(1)
        clip_frac = _to_float(((log_ratio.exp() - 1).abs() > self.clip_eps).double().mean())
        # Sample-based estimate of KL(old || new) of the joint density.
        approx_kl = _to_float(-log_ratio.mean() if self.ratio == 'joint'
                              else -log_ratio.sum(1).mean())
        return dict(approx_kl=approx_kl, clip_frac=clip_frac,
                    mean_abs_dmu=_to_float((mu_new - mu_old).abs().mean()),
                    mean_sigma=_to_float(sigma_new.mean()))

    def _extra_state(self) -> Dict[str, Any]:
        return dict(free=self._free.detach().clone(),
                    log_sigma=self._log_sigma.detach().clone(),
                    optimizer=copy.deepcopy(self._optimizer.state_dict()))

    def _load_extra_state(self, extra: Dict[str, Any]) -> None:
        with torch.no_grad():
            self._free.copy_(extra['free'])
            self._log_sigma.copy_(extra['log_sigma'])
        self._optimizer.load_state_dict(extra['optimizer'])
