"""0/1 masks as floats, for the hot paths of the surrogates (plain torch)."""
from typing import Callable, Optional

import torch

__all__ = ['indicator']


def indicator(compare: Callable, a: torch.Tensor, b,
              dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``compare(a, b)`` (e.g. ``torch.gt``, broadcasting) as 0/1 floats
    (``dtype``, default ``a``'s).

    Written straight into a float tensor: on a CPU a bool result, its
    conversion and ``torch.where`` on it each cost several float ops, and a
    0/1 float weight selects exactly by product or ``lerp``.
    """
    shape = torch.broadcast_shapes(a.shape, b.shape) if isinstance(b, torch.Tensor) else a.shape
    return compare(a, b, out=a.new_empty(shape, dtype=dtype or a.dtype))
