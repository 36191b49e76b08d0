"""The registry of target metrics: one :class:`TargetMetric` per searchable metric.

Plain torch, no mmseg import. The built-in entries are in
:mod:`.metric_table`; everything that needs to know a metric (the
parameterization, the relaxed metrics, the search settings, the evaluator,
the warm start and the runner) reads it here. A user's ``custom_imports``
module adds a metric with::

    from mmseg_autoloss.surrogates import TargetMetric, register_target_metric

    register_target_metric(TargetMetric(name='mIoU_sq', num_g=2, relaxed=my_fn,
                                        evaluator='mIoU'))

``relaxed`` has the signature of the built-in relaxed metrics
(:mod:`.relaxed_metrics`)::

    fn(probs, label, gs, ignore_index=255, weight=None, class_reduction='all',
       eps=1e-6, from_logits=False, sync=False[, tol=5, drop_bg=False]) -> 0-d

(``tol``/``drop_bg`` only for a ``boundary`` metric).
"""
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from ..utils.validate import DEFAULT_TOL, check_tol

__all__ = ['TargetMetric', 'register_target_metric', 'remove_target_metric',
           'get_target_metric', 'target_metric_names', 'boundary_evaluator_names',
           'TargetMetricNames', 'TargetMetricView']


@dataclass(frozen=True)
class TargetMetric:
    """One target metric of the search and of ``AutoSegLoss``.

    Args:
        name: The ``target_metric`` name (case-sensitive).
        num_g: g functions of its surrogate: one per logical operation
            (AND, OR; BF1: the four operands of XOR), method.md §2.
        relaxed: The relaxed metric (see the module docstring).
        num_pieces: Default pieces n of each g.
        evaluator: ``SegMetric`` metric that scores it (the search's reward);
            None = ``name``.
        result_key: Key of that metric in ``SegMetric``'s results; None =
            ``evaluator``.
        boundary: Takes ``tol`` and ``drop_bg`` (loss, reward and the
            loss-params files carry them).
        tol: Default boundary tolerance of a boundary metric (None otherwise).
    """
    name: str
    num_g: int
    relaxed: Callable
    num_pieces: int = 2
    evaluator: Optional[str] = None
    result_key: Optional[str] = None
    boundary: bool = False
    tol: Optional[int] = None

    def __post_init__(self) -> None:
        # frozen: fill the derived defaults through object.__setattr__
        if self.evaluator is None:
            object.__setattr__(self, 'evaluator', self.name)
        if self.result_key is None:
            object.__setattr__(self, 'result_key', self.evaluator)
        if self.boundary and self.tol is None:
            object.__setattr__(self, 'tol', DEFAULT_TOL)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field and the value."""
        def bad(field: str, why: str) -> ValueError:
            return ValueError(f'TargetMetric {self.name!r}: {field}={getattr(self, field)!r} '
                              f'{why}')

        if not isinstance(self.name, str) or not self.name:
            raise bad('name', 'must be a non-empty string')
        for field in ('num_g', 'num_pieces'):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(field, 'must be an integer >= 1')
        if not callable(self.relaxed):
            raise bad('relaxed', 'must be callable')
        for field in ('evaluator', 'result_key'):
            if not isinstance(getattr(self, field), str):
                raise bad(field, 'must be a string')
        if not isinstance(self.boundary, bool):
            raise bad('boundary', 'must be a bool')
        if self.boundary:
            check_tol(self.tol, f'TargetMetric {self.name!r}: ')
        elif self.tol is not None:
            raise bad('tol', 'must be None for a metric without boundary')


_TABLE: Dict[str, TargetMetric] = {}
# Names registered by mmseg_autoloss itself: they cannot be removed.
_BUILTIN: set = set()


def register_target_metric(entry: TargetMetric, force: bool = False,
                           builtin: bool = False) -> TargetMetric:
    """Add ``entry`` to the table and return it.

    Args:
        entry: The metric.
        force: Replace a user metric of the same name (never a built-in).
        builtin: Internal: an entry of :mod:`.metric_table`.

    Raises:
        KeyError: the name is taken (a built-in always, a user one unless
            ``force``).
    """
    if not isinstance(entry, TargetMetric):
        raise TypeError(f'register_target_metric expects a TargetMetric, got {entry!r}')
    name = entry.name
    if name in _BUILTIN or (name in _TABLE and not force):
        raise KeyError(f'target metric {name!r} is already registered'
                       + ('' if name in _BUILTIN else '; pass force=True to replace it'))
    _TABLE[name] = entry
    if builtin:
        _BUILTIN.add(name)
    return entry


def remove_target_metric(name: str) -> TargetMetric:
    """Remove a user-registered metric (e.g. at the end of a test)."""
    if name in _BUILTIN:
        raise KeyError(f'target metric {name!r} is built in and cannot be removed')
    return _TABLE.pop(name)


def get_target_metric(name: Any) -> TargetMetric:
    """The entry of ``name``; ``ValueError`` listing the valid (case-sensitive) names."""
    entry = _TABLE.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValueError(f'target_metric={name!r} is not supported; valid names '
                         f'(case-sensitive): {list(_TABLE)}')
    return entry


def target_metric_names() -> Tuple[str, ...]:
    """Every registered name, built-ins first, in registration order."""
    return tuple(_TABLE)


def boundary_evaluator_names() -> Tuple[str, ...]:
    """``SegMetric`` metrics that need the boundary statistics."""
    return tuple(dict.fromkeys(e.evaluator for e in _TABLE.values() if e.boundary))


class TargetMetricNames(Sequence):
    """Read-only, live sequence of the registered names (``METRICS``)."""

    def __getitem__(self, index):
        return target_metric_names()[index]

    def __len__(self) -> int:
        return len(_TABLE)

    def __eq__(self, other: Any) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


class TargetMetricView(Mapping):
    """Read-only, live mapping name -> one field of each entry
    (``METRIC_NUM_G``, ``DEFAULT_NUM_PIECES``)."""

    def __init__(self, read: Callable[[TargetMetric], Any]) -> None:
        self._read = read

    def __getitem__(self, name: str) -> Any:
        if name not in _TABLE:
            raise KeyError(name)
        return self._read(_TABLE[name])

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_TABLE))

    def __len__(self) -> int:
        return len(_TABLE)

    def __repr__(self) -> str:
        return repr(dict(self))
