"""The ``search=dict(...)`` section of a loss-search config, validated."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from mmseg_autoloss.surrogates.presets import get_preset, normalize_loss_params
from mmseg_autoloss.surrogates.target_metrics import (TargetMetric, TargetMetricView,
                                                      get_target_metric, target_metric_names)
from mmseg_autoloss.surrogates.relaxed_metrics import CLASS_REDUCTIONS
from mmseg_autoloss.utils.validate import DEFAULT_MIX_WEIGHT, DEFAULT_TOL, check_share, check_tol
from .proxy_settings import (DistSettings, FidelitySettings, HoldOutSettings, ProxySettings,
                             WorkerSettings)
from .search_space import SearchSpace

__all__ = ['SearchSettings', 'REWARD_KEYS']

# target_metric -> (SegMetric metric name, key of the result dict), read from
# the target-metric table. The reward is that value / 100 (SegMetric reports
# percent).
REWARD_KEYS = TargetMetricView(lambda entry: (entry.evaluator, entry.result_key))


def _err(key: str, value, why: str) -> ValueError:
    return ValueError(f'search.{key}={value!r}: {why}')


@dataclass
class SearchSettings:
    """Settings of :class:`LossSearchRunner` (keys of ``cfg.search``).

    Args:
        target_metric: Metric to search a surrogate for (and the reward).
        parameterization: 'bezier' or 'linear'.
        num_pieces: Pieces n of g; None = the metric's default.
        heads: Model heads whose AutoSegLoss(es) get the sampled theta.
        controller: Controller config (``type`` = 'PPO2Controller' or
            'RandomSearchController' plus its arguments).
        rounds: Rounds T.
        samples_per_round: Proxies M per round.
        proxy: ``search.proxy`` (:class:`~.proxy_settings.ProxySettings`:
            ``max_iters``, ``batch_size``, ``lr``, ``crop_size``,
            ``val_batch_size``, ``log_level``, ``warm_start``).
        hold_out: ``search.hold_out``
            (:class:`~.proxy_settings.HoldOutSettings`: ``size`` or
            ``fraction``, and ``seed``).
        workers: ``search.workers`` (:class:`~.proxy_settings.WorkerSettings`).
        dist: ``search.dist`` (:class:`~.proxy_settings.DistSettings`).
        seed: Seed of the controller, the split and every proxy.
        tol, drop_bg: Boundary settings for BIoU/BF1 (loss and reward).
        deterministic: Ask torch for deterministic kernels in proxies.
        proxy_custom_hooks: Extra hooks for every proxy run.
        init_theta: Initial mu: None = identity g (the paper's start), a
            preset name (e.g. 'voc_miou': warm start from the authors'
            parameters) or an explicit theta list.
        fidelity: ``search.fidelity``: None (every proxy trains in full) or
            ``dict(type='SuccessiveHalving', eta=2, min_fraction=0.25)``
            (:class:`~.proxy_settings.FidelitySettings`, :mod:`.fidelity`).
        hooks: Hooks of the search loop (``before_round``/``after_round``,
            :mod:`.search_hooks`), configs of MMSeg's ``HOOKS``.
        class_reduction: The surrogate's class mean, 'all' (the paper) or
            'present' (the classes in the batch, as JDT averages).
        mix_ce: None (the paper's space), or the start of one more searched
            number w in [0, 1]: the loss becomes the convex mix
            ``w·CE + (1 − w)·(1 − surrogate)`` (``AutoSegLoss(ce_weight=w)``).
        mix_metric: None, or a second target metric (e.g. 'BF1') whose naive
            surrogate joins with a searched share b, one more number:
            ``(1 − b)·(1 − surrogate) + b·(1 − mix surrogate)``
            (``AutoSegLoss(mix_metric=..., mix_weight=b)``).
        mix_weight: The start of b (with a ``mix_metric``).
        reward: None (the target metric), or target metric names whose
            hold-out values are averaged into the reward, e.g.
            ``('mIoU', 'BF1')`` for a boundary search that must keep mIoU.

    The dict sections are given as config dicts and become their frozen
    dataclasses in :meth:`validate`.
    """
    target_metric: str = 'mIoU'
    parameterization: str = 'bezier'
    num_pieces: Optional[int] = None
    heads: Sequence[str] = ('decode_head', 'auxiliary_head')
    controller: Dict = field(default_factory=lambda: dict(type='PPO2Controller'))
    rounds: int = 12
    samples_per_round: int = 32
    proxy: ProxySettings = field(default_factory=ProxySettings)
    hold_out: HoldOutSettings = field(default_factory=lambda: HoldOutSettings(fraction=0.2))
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    dist: DistSettings = field(default_factory=DistSettings)
    seed: int = 0
    tol: int = DEFAULT_TOL
    drop_bg: bool = False
    deterministic: bool = False
    proxy_custom_hooks: List[Dict] = field(default_factory=list)
    init_theta: Optional[object] = None
    fidelity: Optional[FidelitySettings] = None
    hooks: List[Dict] = field(default_factory=list)
    class_reduction: str = 'all'
    mix_ce: Optional[float] = None
    mix_metric: Optional[str] = None
    mix_weight: float = DEFAULT_MIX_WEIGHT
    reward: Optional[Sequence[str]] = None

    @classmethod
    def from_cfg(cls, search: Optional[Dict]) -> 'SearchSettings':
        if search is None:
            raise ValueError('a LossSearchRunner config needs a search=dict(...) section')
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(search) - known)
        if unknown:
            raise ValueError(f'unknown key(s) in search: {unknown}; valid keys: {sorted(known)}')
        settings = cls(**{k: (dict(v) if isinstance(v, dict) else v) for k, v in search.items()})
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.target_metric not in target_metric_names():
            raise _err('target_metric', self.target_metric,
                       f'unknown metric; choose from {sorted(target_metric_names())}')
        if self.parameterization not in ('bezier', 'linear'):
            raise _err('parameterization', self.parameterization, "must be 'bezier' or 'linear'")
        if self.num_pieces is None:
            self.num_pieces = self.metric.num_pieces
        if not isinstance(self.num_pieces, int) or self.num_pieces < 1:
            raise _err('num_pieces', self.num_pieces, 'must be a positive integer')
        for key in ('rounds',):
            v = getattr(self, key)
            if not isinstance(v, int) or v <= 0:
                raise _err(key, v, 'must be a positive integer')
        if not isinstance(self.samples_per_round, int) or self.samples_per_round < 2:
            raise _err('samples_per_round', self.samples_per_round,
                       'must be an integer >= 2 (the controller needs a baseline)')
        if isinstance(self.heads, str):
            self.heads = (self.heads, )
        self.heads = tuple(self.heads)
        if not self.heads:
            raise _err('heads', self.heads, 'name at least one head')
        if not isinstance(self.controller, dict) or 'type' not in self.controller:
            raise _err('controller', self.controller, "must be a dict with a 'type'")
        self._build_sections()
        self.tol = check_tol(self.tol, 'search.')
        if self.class_reduction not in CLASS_REDUCTIONS:
            raise _err('class_reduction', self.class_reduction,
                       f'must be one of {list(CLASS_REDUCTIONS)}')
        if self.mix_ce is not None:
            self.mix_ce = check_share(self.mix_ce, 'search.mix_ce: ')
        if self.mix_metric is not None and self.mix_metric not in target_metric_names():
            raise _err('mix_metric', self.mix_metric,
                       f'unknown metric; choose from {sorted(target_metric_names())}')
        self.mix_weight = check_share(self.mix_weight, 'search.', 'mix_weight')
        self._check_reward()
        if not isinstance(self.hooks, (list, tuple)) or not all(
                isinstance(h, dict) and 'type' in h for h in self.hooks):
            raise _err('hooks', self.hooks, "must be a list of hook configs with a 'type'")
        self.hooks = [dict(h) for h in self.hooks]

    def _check_reward(self) -> None:
        if self.reward is None:
            return
        names = (self.reward, ) if isinstance(self.reward, str) else tuple(self.reward)
        bad = [n for n in names if n not in target_metric_names()]
        if not names or bad or len(set(names)) != len(names):
            raise _err('reward', self.reward, 'must name distinct target metrics, from '
                       f'{sorted(target_metric_names())}')
        self.reward = names

    def _build_sections(self) -> None:
        """Config dicts -> their dataclasses (each checks its own keys)."""
        sections = dict(proxy=ProxySettings, hold_out=HoldOutSettings, workers=WorkerSettings,
                        dist=DistSettings)
        for key, cls in sections.items():
            value = getattr(self, key)
            if not isinstance(value, cls):
                setattr(self, key, cls.from_cfg(value))
        if not isinstance(self.fidelity, (FidelitySettings, type(None))):
            self.fidelity = FidelitySettings.from_cfg(self.fidelity)

    def initial_theta(self) -> List[float]:
        """The controller's initial mu as a theta list (validated)."""
        if self.init_theta is None:
            return self.space.default()
        if isinstance(self.init_theta, str):
            params = get_preset(self.init_theta)
        else:
            params = normalize_loss_params(
                dict(target_metric=self.target_metric, num_pieces=self.num_pieces,
                     theta=list(self.init_theta)), source='search.init_theta')
        if (params['target_metric'], params['num_pieces']) != (self.target_metric, self.num_pieces):
            raise _err('init_theta', self.init_theta,
                       f"is for target_metric={params['target_metric']!r} with num_pieces="
                       f"{params['num_pieces']}, the search is for {self.target_metric!r} with "
                       f'num_pieces={self.num_pieces}')
        return self.space.with_extras(params['theta'])

    @property
    def metric(self) -> TargetMetric:
        """The target metric's table entry (:mod:`mmseg_autoloss.surrogates.metric_table`)."""
        return get_target_metric(self.target_metric)

    @property
    def reward_entries(self) -> List[TargetMetric]:
        """The table entries of the metrics averaged into the reward."""
        return [get_target_metric(n) for n in (self.reward or (self.target_metric, ))]

    @property
    def reward_metrics(self) -> List[str]:
        """``SegMetric`` metrics that give the reward."""
        return list(dict.fromkeys(e.evaluator for e in self.reward_entries))

    @property
    def reward_keys(self) -> List[str]:
        """Keys of the rewarded values in ``SegMetric``'s results (averaged)."""
        return [e.result_key for e in self.reward_entries]

    def reward_task(self) -> Dict[str, object]:
        """What a proxy task carries to score itself: ``reward_key``, and
        ``reward_keys`` where several metrics are averaged."""
        keys = self.reward_keys
        return dict(reward_key=self.reward_key, **({'reward_keys': keys} if len(keys) > 1 else {}))

    @property
    def reward_key(self) -> str:
        """The reward's name: its key, or the averaged keys joined by '+'."""
        return '+'.join(self.reward_keys)

    @property
    def space(self) -> SearchSpace:
        """The search space of theta (layout, names, start, loss arguments)."""
        return SearchSpace(self.target_metric, self.parameterization, self.num_pieces,
                           tol=self.tol, drop_bg=self.drop_bg,
                           class_reduction=self.class_reduction, mix_ce=self.mix_ce,
                           mix_metric=self.mix_metric, mix_weight=self.mix_weight)

    def loss_params(self, theta: List[float]) -> Dict:
        """Loss parameters of one theta (a proxy's, the warm start's or the
        best one): ``tol``/``drop_bg`` only for a boundary metric."""
        return self.space.loss_params(theta)
