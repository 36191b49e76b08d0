"""Optuna's TPE and CMA-ES samplers behind the :class:`BaseController` interface.

Optuna is optional (``pip install optuna cmaes``, or the ``[optuna]`` extra);
building one of these controllers without it raises an ``ImportError`` that
names the controller type and the install command, before any training.

Each round asks the study for M trials (one batch, ask/tell) and tells them
the M rewards. The search space is ``theta_00 .. theta_{D-1}``, each a
``FloatDistribution(0, 1)``; the study maximises the reward.

Checkpoint: the Optuna study is not stored. The state holds the told rounds
(proposals, evaluated samples, rewards) as tensors, and
:meth:`load_state_dict` replays them into a fresh, identically seeded study.
Optuna's samplers are deterministic given their seed and the ask/tell order,
so the replayed study proposes exactly what the uninterrupted one would.
Should the replay not reproduce the stored proposals (another Optuna
version), TPE's study is rebuilt from the told trials with a warning, and
CMA-ES (whose optimizer state only the replay restores) raises an error that
names the Optuna version of the checkpoint.
"""
import contextlib
import functools
import importlib
import math
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .base import CONTROLLERS, ArrayLike, BestSampleController

__all__ = ['OPTUNA_INSTALL', 'require_packages', 'TPEController', 'CMAESController']

OPTUNA_INSTALL = "pip install optuna cmaes  (or: pip install 'mmseg_autoloss[optuna]')"
# What may sit in sampler_kwargs: it is part of the checkpointed config,
# which must load with torch.load(weights_only=True).
_PLAIN = (bool, int, float, str, type(None))


def require_packages(controller: str, packages: Sequence[str]) -> None:
    """Raise ``ImportError`` naming ``controller`` and the install command
    when one of ``packages`` cannot be imported."""
    for name in packages:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ImportError(
                f"search.controller.type={controller!r} needs the package '{name}', which is "
                f'not installed ({err}); install it with: {OPTUNA_INSTALL}',
                name=name) from err


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's INFO lines (one per study) without changing its
    verbosity for the caller's own studies."""
    import optuna
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


@functools.lru_cache(maxsize=None)
def _fixed_space_cmaes_sampler() -> type:
    """``CmaEsSampler`` that knows its search space before any trial finishes.

    Optuna infers CMA-ES's space from finished trials, so a first batch asked
    at once would be sampled independently (uniformly) and the start point
    ``x0`` ignored for a whole round. Here the space is fixed, so the first
    round already samples ``N(x0, sigma0^2 I)``.
    """
    import optuna

    class FixedSpaceCmaEsSampler(optuna.samplers.CmaEsSampler):

        def __init__(self, search_space: Dict[str, Any], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._fixed_space = dict(search_space)

        def infer_relative_search_space(self, study, trial) -> Dict[str, Any]:
            return dict(self._fixed_space)

    return FixedSpaceCmaEsSampler


class _OptunaController(BestSampleController):
    """Shared ask/tell, replay and checkpoint logic of the Optuna controllers.

    Output: the best sample seen, as in random search
    (:class:`BestSampleController`).
    """

    #: Packages that must be importable.
    packages: Tuple[str, ...] = ('optuna', )
    #: sampler_kwargs keys the controller sets itself.
    reserved_kwargs: Tuple[str, ...] = ('seed', )
    #: Whether the sampler learns from trials it did not propose (added as
    #: finished trials). CMA-ES does not: it tells its optimizer only the
    #: trials of the current generation, which added trials are not part of.
    learns_from_added_trials: bool = True

    def __init__(self, num_params: int, samples_per_round: int = 32,
                 include_init_mu: bool = True, sampler_kwargs: Optional[Dict[str, Any]] = None,
                 init_mu: Optional[ArrayLike] = None, seed: int = 0) -> None:
        require_packages(type(self).__name__, self.packages)
        super().__init__(num_params, samples_per_round, init_mu, seed)
        if self.seed >= 2**32:
            raise ValueError(f'seed must be < 2**32 for an Optuna sampler, got {seed!r}')
        sampler_kwargs = {} if sampler_kwargs is None else sampler_kwargs
        if not isinstance(sampler_kwargs, dict):
            raise ValueError(f'sampler_kwargs must be a dict, got {sampler_kwargs!r}')
        reserved = sorted(set(sampler_kwargs) & set(self.reserved_kwargs))
        if reserved:
            raise ValueError(f'sampler_kwargs may not set {reserved}: they come from the '
                             f"controller's own arguments ({', '.join(self.reserved_kwargs)})")
        bad = sorted(k for k, v in sampler_kwargs.items() if not isinstance(v, _PLAIN))
        if bad:
            raise ValueError(f'sampler_kwargs{bad} must be numbers, strings, booleans or None '
                             f'(they are checkpointed), got {sampler_kwargs!r}')
        self.include_init_mu = bool(include_init_mu)
        self.sampler_kwargs = dict(sampler_kwargs)
        import optuna
        self._optuna = optuna
        self._names = [f'theta_{i:02d}' for i in range(num_params)]
        self._space = {n: optuna.distributions.FloatDistribution(0.0, 1.0) for n in self._names}
        # Told rounds: dict(asked=(M, D) or None, samples=(N, D), rewards=(N, )).
        self._rounds: List[Dict[str, Optional[Tensor]]] = []
        # Optuna trials behind the pending proposals (None: none asked).
        self._asked: Optional[list] = None
        self._study = self._new_study()

    # ------------------------------------------------------------ to define
    def _make_sampler(self) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------ interface
    def _config(self) -> Dict[str, Any]:
        cfg = super()._config()
        cfg.update(include_init_mu=self.include_init_mu, sampler_kwargs=dict(self.sampler_kwargs))
        return cfg

    def _new_study(self, enqueue: bool = True) -> Any:
        with _quiet_optuna(), warnings.catch_warnings():
            # Optuna 4.x flags multivariate TPE / constant liar as experimental.
            warnings.simplefilter('ignore', self._optuna.exceptions.ExperimentalWarning)
            study = self._optuna.create_study(direction='maximize', sampler=self._make_sampler())
        if enqueue and self.include_init_mu:
            # The preset is the first proposal of round 0 (a warm start that
            # is also evaluated).
            study.enqueue_trial(dict(zip(self._names, self.init_mu.tolist())))
        return study

    def _ask(self, num: int) -> Tuple[list, Tensor]:
        with _quiet_optuna():
            trials = [self._study.ask(self._space) for _ in range(num)]
        values = torch.tensor([[t.params[n] for n in self._names] for t in trials],
                              dtype=torch.float64)
        return trials, values

    def _tell(self, trials: Optional[list], asked: Optional[Tensor], samples: Tensor,
              rewards: Tensor) -> None:
        optuna = self._optuna
        with _quiet_optuna():
            if trials is not None and asked is not None and torch.equal(samples, asked):
                for trial, reward in zip(trials, rewards.tolist()):
                    self._study.tell(trial, reward)
                return
            # The caller evaluated other points than proposed (or none were
            # asked): close the proposals as failed and add what was measured.
            if not self.learns_from_added_trials:
                raise ValueError(f'{type(self).__name__} learns only from its own proposals '
                                 '(the samples of sample()); got other samples')
            for trial in trials or []:
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self._study.add_trials([
                optuna.trial.create_trial(params=dict(zip(self._names, row)),
                                          distributions=self._space, value=reward)
                for row, reward in zip(samples.tolist(), rewards.tolist())])

    def _draw(self) -> Tensor:
        self._asked, values = self._ask(self.samples_per_round)
        return values

    def _step(self, samples: Tensor, rewards: Tensor
              ) -> Tuple[Dict[str, Any], Tensor, float]:
        asked = self._pending
        self._tell(self._asked, asked, samples, rewards)
        self._asked = None
        self._rounds.append(dict(asked=None if asked is None else asked.clone(),
                                 samples=samples.clone(), rewards=rewards.clone()))
        return super()._step(samples, rewards)

    # ------------------------------------------------------------ checkpoint
    def _extra_state(self) -> Dict[str, Any]:
        rounds = [{k: (None if v is None else v.clone()) for k, v in r.items()}
                  for r in self._rounds]
        return dict(rounds=rounds, optuna_version=self._optuna.__version__)

    def _load_extra_state(self, extra: Dict[str, Any]) -> None:
        self._rounds = [{k: (None if v is None else v.clone().to(torch.float64))
                         for k, v in r.items()} for r in extra['rounds']]
        self._study = self._new_study()
        self._asked = None
        for i, rec in enumerate(self._rounds):
            trials = None
            if rec['asked'] is not None:
                trials, values = self._ask(rec['asked'].shape[0])
                if not torch.equal(values, rec['asked']):
                    return self._rebuild_diverged(i, extra.get('optuna_version'))
            self._tell(trials, rec['asked'], rec['samples'], rec['rewards'])
        if self._pending is not None:
            trials, values = self._ask(self._pending.shape[0])
            if not torch.equal(values, self._pending):
                return self._rebuild_diverged(len(self._rounds), extra.get('optuna_version'))
            self._asked = trials

    def _rebuild_diverged(self, round_idx: int, saved_version: Optional[str]) -> None:
        if not self.learns_from_added_trials:
            raise RuntimeError(
                f'{type(self).__name__}.load_state_dict: replaying the checkpoint with Optuna '
                f'{self._optuna.__version__} did not reproduce the proposals of round '
                f'{round_idx}; it was written with Optuna {saved_version}: install that version '
                '(pip install optuna==<version>) to resume this search')
        warnings.warn(
            f'{type(self).__name__}.load_state_dict: replaying the checkpoint with Optuna '
            f'{self._optuna.__version__} did not reproduce the proposals of round {round_idx} '
            f'(checkpoint written with Optuna {saved_version}); the study is rebuilt from the '
            'told trials, so the next proposals differ from an uninterrupted search')
        # No preset is enqueued: it is a told trial already, or among the
        # pending proposals, which update() adds as measured.
        self._study = self._new_study(enqueue=False)
        self._asked = None
        for rec in self._rounds:
            self._tell(None, None, rec['samples'], rec['rewards'])


@CONTROLLERS.register_module()
class TPEController(_OptunaController):
    """Optuna's Tree-structured Parzen Estimator (``TPESampler``), M trials per round.

    The first round is random (``n_startup_trials = M``), with the preset
    ``init_mu`` as its first trial (``include_init_mu``); later rounds sample
    from multivariate TPE, with the constant-liar strategy so that the M
    trials of one batch spread out instead of piling onto one mode.

    Args:
        num_params: Dimension D.
        samples_per_round: Trials M per round (>= 1).
        include_init_mu: Enqueue ``init_mu`` as round 0's first trial (the
            warm start from a preset).
        sampler_kwargs: Further ``TPESampler`` arguments (plain values; they
            override ``n_startup_trials``, ``multivariate``, ``constant_liar``).
        init_mu: Preset in [0, 1]^D (None = 0.5; the runner passes
            ``search.init_theta``).
        seed: Seed of the sampler.
    """

    def _make_sampler(self) -> Any:
        kwargs = dict(n_startup_trials=self.samples_per_round, multivariate=True,
                      constant_liar=True)
        kwargs.update(self.sampler_kwargs)
        return self._optuna.samplers.TPESampler(seed=self.seed, **kwargs)


@CONTROLLERS.register_module()
class CMAESController(_OptunaController):
    """Optuna's CMA-ES (``CmaEsSampler``): one generation of M trials per round.

    CMA-ES starts at the preset (``x0 = init_mu``) with step size ``sigma0``
    and population size M, so round 0 already samples ``N(init_mu,
    sigma0^2 I)`` clipped to [0, 1]^D; each round's rewards update the mean,
    step size and covariance.

    Optuna 4.9 deprecated ``x0``/``sigma0`` (removal planned for 6.0). They
    are the only way to start Optuna's CMA-ES at a single point, so they are
    used with that warning silenced; the ``[optuna]`` extra pins
    ``optuna<6``.

    Args:
        num_params: Dimension D.
        samples_per_round: Population size M (>= 4).
        sigma0: Initial step size, in (0, 1] (0.2 = PPO2's sigma).
        include_init_mu: Also evaluate ``init_mu`` itself as round 0's first
            trial (CMA-ES counts it as one of the generation's solutions).
        sampler_kwargs: Further ``CmaEsSampler`` arguments (plain values,
            e.g. ``lr_adapt=True`` for noisy rewards).
        init_mu: Start point in [0, 1]^D (None = 0.5).
        seed: Seed of the sampler.
    """

    packages = ('optuna', 'cmaes')
    reserved_kwargs = ('seed', 'x0', 'sigma0', 'popsize')
    learns_from_added_trials = False
    # With fewer, CMA-ES keeps one parent and its rank-mu weights divide by zero.
    min_samples = 4

    def __init__(self, num_params: int, samples_per_round: int = 32, sigma0: float = 0.2,
                 include_init_mu: bool = False, sampler_kwargs: Optional[Dict[str, Any]] = None,
                 init_mu: Optional[ArrayLike] = None, seed: int = 0) -> None:
        if isinstance(sigma0, bool) or not isinstance(sigma0, (int, float)) \
                or not math.isfinite(sigma0) or not 0 < sigma0 <= 1:
            raise ValueError(f'sigma0 must be a number in (0, 1], got {sigma0!r}')
        self.sigma0 = float(sigma0)
        super().__init__(num_params, samples_per_round, include_init_mu, sampler_kwargs,
                         init_mu, seed)

    def _config(self) -> Dict[str, Any]:
        cfg = super()._config()
        cfg.update(sigma0=self.sigma0)
        return cfg

    def _make_sampler(self) -> Any:
        kwargs = dict(n_startup_trials=0, warn_independent_sampling=False)
        kwargs.update(self.sampler_kwargs)
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message=r'.*`(x0|sigma0)`', category=FutureWarning)
            return _fixed_space_cmaes_sampler()(
                self._space, x0=dict(zip(self._names, self.init_mu.tolist())),
                sigma0=self.sigma0, popsize=self.samples_per_round, seed=self.seed, **kwargs)
