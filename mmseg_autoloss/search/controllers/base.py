"""Base of the search controllers, their registry and :func:`build_controller`.

A controller proposes ``M`` parameter vectors per round (:meth:`sample`),
receives their rewards (:meth:`update`) and keeps track of the best output.
Nothing here trains a network: the rewards come from the caller (the
:class:`LossSearchRunner` in practice, a synthetic function in the tests).
A new controller subclasses :class:`BaseController` (or
:class:`BestSampleController`), registers itself in :data:`CONTROLLERS` and
is imported by ``controllers/__init__.py`` (see docs/contributing.md).
"""
import copy
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.registry import Registry
from torch import Tensor

__all__ = ['CONTROLLERS', 'build_controller', 'BaseController', 'BestSampleController',
           'ArrayLike']

CONTROLLERS = Registry('controller')

ArrayLike = Union[Tensor, Sequence[float]]

_STATE_VERSION = 1


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
