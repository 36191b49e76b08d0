"""Validators shared by the losses, the metrics and the search (plain torch).

One rule each, so that a value one component accepts no other rejects:

- ``tol`` (boundary tolerance in pixels) is an integer >= 0 (``int`` or a
  numpy integer); a bool is never a tol and neither is a float, even an
  integral one (SegMetric and the losses document ``tol (int)``).
- a label map holds class indices in ``[0, num_classes)`` or ``ignore_index``.
"""
import numbers
from typing import Any

import torch

__all__ = ['DEFAULT_TOL', 'DEFAULT_MIX_WEIGHT', 'check_tol', 'bad_label_values', 'label_range_error',
           'check_label_range', 'check_share']

#: Boundary tolerance of BIoU/BF1 (the authors' tol=5, SPEC §4).
DEFAULT_TOL = 5
#: Share b of a second metric's surrogate (``mix_metric``) when none is given.
DEFAULT_MIX_WEIGHT = 0.5


def check_tol(tol: Any, owner: str = '') -> int:
    """Return ``tol`` as int or raise unless it is an integer >= 0.

    Args:
        tol: The value to check.
        owner: Prefix of the message (e.g. ``'SegMetric: '``).
    """
    if isinstance(tol, bool) or not isinstance(tol, numbers.Integral) or tol < 0:
        raise ValueError(f'{owner}tol must be a non-negative integer (an int, not a bool or a '
                         f'float), got {tol!r}')
    return int(tol)


def bad_label_values(label: torch.Tensor, num_classes: int, ignore_index: int) -> list:
    """Up to 10 distinct label values outside ``[0, num_classes)`` that are not
    ``ignore_index`` (reads the labels on the host)."""
    bad = ((label < 0) | (label >= num_classes)) & (label != ignore_index)
    if not bool(bad.any()):  # the common case: no unique() over the map
        return []
    return torch.unique(label[bad]).tolist()[:10]


def label_range_error(label: torch.Tensor, num_classes: int, ignore_index: int,
                      owner: str = '') -> ValueError:
    """The error naming the offending label values (see :func:`check_label_range`)."""
    values = bad_label_values(label, num_classes, ignore_index)
    return ValueError(f'{owner}label values {values} are outside [0, {num_classes - 1}] '
                      f'(num_classes={num_classes}) and not ignore_index={ignore_index}')


def check_label_range(label: torch.Tensor, num_classes: int, ignore_index: int,
                      owner: str = '') -> None:
    """Raise naming the label values outside ``[0, num_classes)`` and not
    ``ignore_index``.

    Reads the labels on the host (a device sync): callers check once or on
    request, not on every step.
    """
    if bad_label_values(label, num_classes, ignore_index):
        raise label_range_error(label, num_classes, ignore_index, owner)


def check_share(value, owner: str = '', field: str = 'ce_weight') -> float:
    """A share of a convex mix (the CE share w of ``w·CE + (1 − w)·surrogate``,
    the ``mix_weight`` b of a second surrogate): a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f'{owner}{field} must be a number in [0, 1], got {value!r}')
    return float(value)
