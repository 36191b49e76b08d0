"""The ``search=dict(...)`` section of a loss-search config, validated."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ['SearchSettings', 'REWARD_KEYS']

# target_metric -> (SegMetric metric name, key of the result dict). The
# reward is that value / 100 (SegMetric reports percent).
REWARD_KEYS: Dict[str, Tuple[str, str]] = {
    'mIoU': ('mIoU', 'mIoU'),
    'FWIoU': ('FWIoU', 'FWIoU'),
    'mAcc': ('mAcc', 'mAcc'),
    'gAcc': ('aAcc', 'aAcc'),
    'BIoU': ('BIoU', 'BIoU'),
    'BF1': ('BF1', 'BF1'),
    'mDice': ('mDice', 'mDice'),
    'mIoU_I': ('mIoU_I', 'mIoU_I'),
    'mIoU_C': ('mIoU_C', 'mIoU_C'),
}


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
        proxy: Proxy schedule: ``max_iters``, ``batch_size``, optional
            ``lr``, ``crop_size``, ``val_batch_size``, ``log_level``,
            ``warm_start`` (None = from scratch, a checkpoint path, or
            ``dict(iters=K, loss='CE')``: a shared run, see
            :mod:`.warm_start`).
        hold_out: Hold-out split of the training set: ``size`` (images) or
            ``fraction``, and ``seed``.
        workers: ``num_workers`` per process (None = one per GPU times
            ``models_per_device``, or cores // ``threads_per_worker`` on
            CPU; 0 = run proxies in this process), ``models_per_device``,
            ``threads_per_worker``, ``max_retries`` (re-runs of a proxy
            that lost its worker before the search stops; default 2).
        dist: Distributed runs: ``timeout_s`` (how long a rank waits for
            the others' proxies of a round; None = 3x the longest round so
            far, at least 600 s) and ``report_s`` (how often a waiting rank
            logs the ranks that have not reported; default 60).
        seed: Seed of the controller, the split and every proxy.
        tol, drop_bg: Boundary settings for BIoU/BF1 (loss and reward).
        deterministic: Ask torch for deterministic kernels in proxies.
        proxy_custom_hooks: Extra hooks for every proxy run.
        init_theta: Initial mu: None = identity g (the paper's start), a
            preset name (e.g. 'voc_miou': warm start from the authors'
            parameters) or an explicit theta list.
        fidelity: None (every proxy trains in full) or
            ``dict(type='SuccessiveHalving', eta=2, min_fraction=0.25)``:
            successive halving inside each round (see :mod:`.fidelity`).
    """
    target_metric: str = 'mIoU'
    parameterization: str = 'bezier'
    num_pieces: Optional[int] = None
    heads: Sequence[str] = ('decode_head', 'auxiliary_head')
    controller: Dict = field(default_factory=lambda: dict(type='PPO2Controller'))
    rounds: int = 12
    samples_per_round: int = 32
    proxy: Dict = field(default_factory=dict)
    hold_out: Dict = field(default_factory=lambda: dict(fraction=0.2, seed=0))
    workers: Dict = field(default_factory=dict)
    dist: Dict = field(default_factory=dict)
    seed: int = 0
    tol: int = 5
    drop_bg: bool = False
    deterministic: bool = False
    proxy_custom_hooks: List[Dict] = field(default_factory=list)
    init_theta: Optional[object] = None
    fidelity: Optional[Dict] = None

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
        from mmseg_autoloss.surrogates import DEFAULT_NUM_PIECES, METRIC_NUM_G
        if self.target_metric not in METRIC_NUM_G or self.target_metric not in REWARD_KEYS:
            raise _err('target_metric', self.target_metric,
                       f'unknown metric; choose from {sorted(set(METRIC_NUM_G) & set(REWARD_KEYS))}')
        if self.parameterization not in ('bezier', 'linear'):
            raise _err('parameterization', self.parameterization, "must be 'bezier' or 'linear'")
        if self.num_pieces is None:
            self.num_pieces = DEFAULT_NUM_PIECES.get(self.target_metric, 2) \
                if isinstance(DEFAULT_NUM_PIECES, dict) else DEFAULT_NUM_PIECES
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
        proxy_keys = {'max_iters', 'batch_size', 'lr', 'crop_size', 'val_batch_size', 'log_level',
                      'warm_start'}
        bad = sorted(set(self.proxy) - proxy_keys)
        if bad:
            raise _err('proxy', dict(self.proxy), f'unknown key(s) {bad}; valid: {sorted(proxy_keys)}')
        it = self.proxy.get('max_iters', 1000)
        if not isinstance(it, int) or it <= 0:
            raise _err('proxy.max_iters', it, 'must be a positive integer')
        from .fidelity import check_fidelity
        from .warm_start import check_warm_start
        check_warm_start(self.proxy.get('warm_start'), it)
        check_fidelity(self.fidelity)
        bs = self.proxy.get('batch_size')
        if bs is not None and (not isinstance(bs, int) or bs <= 0):
            raise _err('proxy.batch_size', bs, 'must be a positive integer')
        size, frac = self.hold_out.get('size'), self.hold_out.get('fraction')
        if (size is None) == (frac is None):
            raise _err('hold_out', dict(self.hold_out), "give exactly one of 'size' or 'fraction'")
        if size is not None and (not isinstance(size, int) or size < 1):
            raise _err('hold_out.size', size, 'must be a positive integer')
        if frac is not None and not 0 < frac < 1:
            raise _err('hold_out.fraction', frac, 'must be in (0, 1)')
        if int(self.tol) != self.tol or self.tol < 0:
            raise _err('tol', self.tol, 'must be a non-negative integer')
        w = self.workers
        bad = sorted(set(w) - {'num_workers', 'models_per_device', 'threads_per_worker',
                               'max_retries'})
        if bad:
            raise _err('workers', dict(w), f'unknown key(s) {bad}')
        retries = w.get('max_retries', 2)
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise _err('workers.max_retries', retries, 'must be an integer >= 0')
        bad = sorted(set(self.dist) - {'timeout_s', 'report_s'})
        if bad:
            raise _err('dist', dict(self.dist), f"unknown key(s) {bad}; valid: ['report_s', "
                       "'timeout_s']")
        for key, default in (('timeout_s', None), ('report_s', 60)):
            v = self.dist.get(key, default)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not 0 < v < float('inf')):
                raise _err(f'dist.{key}', v, 'must be a positive number of seconds'
                           + (' or None' if key == 'timeout_s' else ''))
        for key in ('models_per_device', 'threads_per_worker'):
            v = w.get(key, 1)
            if not isinstance(v, int) or v < 1:
                raise _err(f'workers.{key}', v, 'must be a positive integer')
        nw = w.get('num_workers')
        if nw is not None and (not isinstance(nw, int) or nw < 0):
            raise _err('workers.num_workers', nw, 'must be None or an integer >= 0')

    def initial_theta(self) -> List[float]:
        """The controller's initial mu as a theta list (validated)."""
        from mmseg_autoloss.surrogates import identity_theta
        from mmseg_autoloss.surrogates.presets import get_preset, normalize_loss_params
        if self.init_theta is None:
            return identity_theta(self.target_metric, self.num_pieces)
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
        return [float(t) for t in params['theta']]

    @property
    def reward_metric(self) -> str:
        return REWARD_KEYS[self.target_metric][0]

    @property
    def reward_key(self) -> str:
        return REWARD_KEYS[self.target_metric][1]
