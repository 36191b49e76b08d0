"""Typed sub-sections of ``search=dict(...)``, built and checked once.

``proxy`` (with its ``warm_start``), ``workers``, ``dist``, ``hold_out`` and
``fidelity`` keep their config keys; :class:`~.settings.SearchSettings`
turns each into a frozen dataclass here, so the rest of ``search/`` reads
attributes whose defaults are written once (the dataclass fields) instead of
``dict.get(key, default)`` at every use. Errors name the config key and the
value. Needs nothing else of ``search/``.
"""
import dataclasses
import math
import os.path as osp
import re
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

from .registry import FIDELITY_SCHEDULES
from .splits import hold_out_split

__all__ = ['WARM_START_KEY', 'check_warm_start', 'WarmStartSettings', 'ProxySettings',
           'WorkerSettings', 'DistSettings', 'HoldOutSettings', 'FidelitySettings']

WARM_START_KEY = 'search.proxy.warm_start'

T = TypeVar('T')


def _err(key: str, value: Any, why: str) -> ValueError:
    return ValueError(f'{key}={value!r}: {why}')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(key: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise _err(key, value, 'must be a positive integer')
    return value


def _fields(cls: Type[T], section: str, value: Optional[Mapping]) -> Dict[str, Any]:
    """The keys of one config section, refusing unknown ones."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _err(section, value, 'must be a dict')
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    bad = sorted(set(value) - set(names))
    if bad:
        raise _err(section, dict(value), f'unknown key(s) {bad}; valid: {sorted(names)}')
    return dict(value)


@dataclass(frozen=True)
class WarmStartSettings:
    """``search.proxy.warm_start`` (see :mod:`.warm_start`).

    Args:
        checkpoint: A user checkpoint every proxy loads (None: a shared run).
        iters: Iterations K of the shared run (0 with a checkpoint).
        loss: Loss of the shared run: 'CE' or a loss config dict.
    """
    checkpoint: Optional[str] = None
    iters: int = 0
    loss: Union[str, Dict] = 'CE'

    @property
    def shared(self) -> bool:
        """A shared run trained once per search (not a user checkpoint)."""
        return self.checkpoint is None

    def to_cfg(self) -> Union[str, Dict]:
        """The value as the config writes it (for ``best_loss.json``)."""
        return self.checkpoint if not self.shared else dict(iters=self.iters, loss=self.loss)

    @classmethod
    def from_cfg(cls, value: Any, max_iters: int) -> Optional['WarmStartSettings']:
        """None when ``value`` is None (proxies start from scratch)."""
        check_warm_start(value, max_iters)
        if value is None:
            return None
        if isinstance(value, str):
            return cls(checkpoint=value)
        return cls(**value)


def check_warm_start(value: Any, max_iters: int) -> None:
    """Validate ``search.proxy.warm_start`` without building anything.

    Args:
        value: None, a checkpoint path, or ``dict(iters=K, loss='CE' | loss cfg)``.
        max_iters: ``search.proxy.max_iters``.

    Raises:
        ValueError: naming the key and the value.
    """
    key = WARM_START_KEY
    if value is None:
        return
    if isinstance(value, str):
        if '://' not in value and not osp.isfile(value):
            raise _err(key, value, 'no such checkpoint file')
        return
    if not isinstance(value, Mapping):
        raise _err(key, value, "must be None, a checkpoint path or dict(iters=K, loss='CE')")
    bad = sorted(set(value) - {'iters', 'loss'})
    if bad:
        raise _err(key, dict(value), f"unknown key(s) {bad}; valid: ['iters', 'loss']")
    iters = value.get('iters')
    if not _is_int(iters) or iters < 1:
        raise _err(f'{key}.iters', iters, 'must be a positive integer')
    if iters >= max_iters:
        raise _err(f'{key}.iters', iters, f'must be below search.proxy.max_iters={max_iters} '
                   "(the shared run is part of every proxy's iterations; the proxies train "
                   'the remaining ones with their theta)')
    loss = value.get('loss', WarmStartSettings.loss)
    if not (loss == 'CE' or (isinstance(loss, Mapping) and 'type' in loss)):
        raise _err(f'{key}.loss', loss, "must be 'CE' or a loss config dict with a 'type'")


@dataclass(frozen=True)
class ProxySettings:
    """``search.proxy``: the schedule of one proxy training.

    Args:
        max_iters: Iterations of a proxy (the shared warm-start run's
            included).
        batch_size: Train batch size (None = the config's).
        lr: Optimizer lr (None = the config's).
        crop_size: Train crop (None = the config's).
        val_batch_size: Hold-out batch size (None = the config's val one).
        log_level: Log level inside proxies.
        warm_start: None, a checkpoint path or ``dict(iters=K, loss='CE')``;
            built into a :class:`WarmStartSettings` (None when off).
    """
    max_iters: int = 1000
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    crop_size: Optional[Sequence[int]] = None
    val_batch_size: Optional[int] = None
    log_level: str = 'WARNING'
    warm_start: Optional[WarmStartSettings] = None

    @property
    def theta_iters(self) -> int:
        """Iterations each proxy trains with its theta (after a shared run's K)."""
        ws = self.warm_start
        return self.max_iters - ws.iters if ws is not None and ws.shared else self.max_iters

    @classmethod
    def from_cfg(cls, value: Optional[Mapping]) -> 'ProxySettings':
        args = _fields(cls, 'search.proxy', value)
        max_iters = _positive_int('search.proxy.max_iters', args.get('max_iters', cls.max_iters))
        for key in ('batch_size', 'val_batch_size'):
            if args.get(key) is not None:
                _positive_int(f'search.proxy.{key}', args[key])
        args['warm_start'] = WarmStartSettings.from_cfg(args.get('warm_start'), max_iters)
        return cls(**args)


@dataclass(frozen=True)
class WorkerSettings:
    """``search.workers``: the proxy processes of each search process.

    Args:
        num_workers: Workers (None = one per GPU times ``models_per_device``,
            or cores // ``threads_per_worker`` on CPU; 0 = proxies in this
            process).
        models_per_device: Proxies sharing one GPU.
        threads_per_worker: Torch threads of each worker.
        max_retries: Re-runs of a proxy that lost its worker before the
            search stops.
    """
    num_workers: Optional[int] = None
    models_per_device: int = 1
    threads_per_worker: int = 1
    max_retries: int = 2

    @classmethod
    def from_cfg(cls, value: Optional[Mapping]) -> 'WorkerSettings':
        args = _fields(cls, 'search.workers', value)
        out = cls(**args)
        if out.num_workers is not None and (not _is_int(out.num_workers) or out.num_workers < 0):
            raise _err('search.workers.num_workers', out.num_workers,
                       'must be None or an integer >= 0')
        for key in ('models_per_device', 'threads_per_worker'):
            _positive_int(f'search.workers.{key}', getattr(out, key))
        if not _is_int(out.max_retries) or out.max_retries < 0:
            raise _err('search.workers.max_retries', out.max_retries, 'must be an integer >= 0')
        return out


@dataclass(frozen=True)
class DistSettings:
    """``search.dist``: distributed runs.

    Args:
        timeout_s: How long a rank waits for the others' proxies of a round
            (None = 3x the longest round so far, at least 600 s).
        report_s: How often a waiting rank logs the ranks that have not
            reported.
    """
    timeout_s: Optional[float] = None
    report_s: float = 60

    @classmethod
    def from_cfg(cls, value: Optional[Mapping]) -> 'DistSettings':
        out = cls(**_fields(cls, 'search.dist', value))
        for key in ('timeout_s', 'report_s'):
            v = getattr(out, key)
            if v is None and key == 'timeout_s':
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
                raise _err(f'search.dist.{key}', v, 'must be a positive number of seconds'
                           + (' or None' if key == 'timeout_s' else ''))
        return out


@dataclass(frozen=True)
class HoldOutSettings:
    """``search.hold_out``: the split of the training set that gives rewards
    (:func:`~.splits.hold_out_split`).

    Args:
        size: Hold-out images (exactly one of ``size``, ``fraction`` and,
            with ``group``, ``groups``).
        fraction: Hold-out share of the training set, in (0, 1).
        seed: Seed of the split.
        group: A regular expression whose first capture group is an image
            name's group (e.g. ``'^([^_]+)_'``, CamVid's sequence): whole
            groups are held out, since neighbouring video frames are
            near-duplicates.
        groups: With ``group``: exactly these groups are held out.
    """
    size: Optional[int] = None
    fraction: Optional[float] = None
    seed: int = 0
    group: Optional[str] = None
    groups: Optional[Tuple[str, ...]] = None

    def to_cfg(self) -> Dict[str, Any]:
        """Only the keys the config set (for ``best_loss.json``)."""
        out = dict(size=self.size) if self.size is not None else \
            dict(fraction=self.fraction) if self.fraction is not None else {}
        out['seed'] = self.seed
        if self.group is not None:
            out['group'] = self.group
        if self.groups is not None:
            out['groups'] = list(self.groups)
        return out

    def split(self, names: Sequence[str]) -> Dict[str, List[str]]:
        """``{'train': [...], 'hold_out': [...]}`` of image ``names``."""
        return hold_out_split(names, size=self.size, fraction=self.fraction, seed=self.seed,
                              group=self.group, groups=self.groups)

    @classmethod
    def from_cfg(cls, value: Optional[Mapping]) -> 'HoldOutSettings':
        out = cls(**_fields(cls, 'search.hold_out', value))
        given = [k for k in ('size', 'fraction', 'groups') if getattr(out, k) is not None]
        if len(given) != 1:
            raise _err('search.hold_out', dict(value or {}),
                       "give exactly one of 'size', 'fraction' or (with 'group') 'groups' (a "
                       "base config's hold_out merges into yours unless you write "
                       'hold_out=dict(_delete_=True, ...))')
        if out.size is not None:
            _positive_int('search.hold_out.size', out.size)
        if out.fraction is not None and (isinstance(out.fraction, bool)
                                         or not isinstance(out.fraction, (int, float))
                                         or not 0 < out.fraction < 1):
            raise _err('search.hold_out.fraction', out.fraction, 'must be in (0, 1)')
        if not _is_int(out.seed):
            raise _err('search.hold_out.seed', out.seed, 'must be an integer')
        if out.group is not None:
            try:
                groups = re.compile(out.group).groups if isinstance(out.group, str) else 0
            except re.error:
                groups = 0
            if not groups:
                raise _err('search.hold_out.group', out.group,
                           'must be a regular expression with one capture group')
        if out.groups is not None:
            if out.group is None:
                raise _err('search.hold_out.groups', out.groups, "needs 'group' (the pattern)")
            if isinstance(out.groups, str) or not isinstance(out.groups, (list, tuple)) \
                    or not out.groups or not all(isinstance(g, str) for g in out.groups):
                raise _err('search.hold_out.groups', out.groups,
                           'must be a non-empty list of group names')
            out = replace(out, groups=tuple(out.groups))
        return out


@dataclass(frozen=True)
class FidelitySettings:
    """``search.fidelity`` (None = every proxy trains in full; see :mod:`.fidelity`).

    Args:
        type: A schedule registered in :data:`~.registry.FIDELITY_SCHEDULES`.
        eta: Each rung keeps the best ``1/eta`` (>= 2).
        min_fraction: The first rung's share of the proxy iterations, in (0, 1].
    """
    type: str = 'SuccessiveHalving'
    eta: int = 2
    min_fraction: float = 0.25

    def to_cfg(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_cfg(cls, value: Any) -> Optional['FidelitySettings']:
        key = 'search.fidelity'
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise _err(key, value, "must be None or dict(type='SuccessiveHalving', eta=2, "
                       'min_fraction=0.25)')
        args = _fields(cls, key, value)
        types = sorted(FIDELITY_SCHEDULES.module_dict)
        if args.get('type') not in types:
            raise _err(f'{key}.type', args.get('type'), f'unknown fidelity type; choose from '
                       f'{types}, or {key}=None for full proxies')
        out = cls(**args)
        if not _is_int(out.eta) or out.eta < 2:
            raise _err(f'{key}.eta', out.eta, 'must be an integer >= 2 (each rung keeps the '
                       'best 1/eta)')
        frac = out.min_fraction
        if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac <= 1:
            raise _err(f'{key}.min_fraction', frac, "must be in (0, 1] (the first rung's share "
                       'of the proxy iterations)')
        return out

