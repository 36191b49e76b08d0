"""Load mmengine checkpoints under torch >= 2.6 (``weights_only=True``).

torch 2.6 made ``torch.load`` default to the restricted unpickler, which
refuses the few non-tensor objects mmengine 0.10 writes into every
checkpoint: the message hub's ``HistoryBuffer`` objects, the numpy arrays,
dtypes and scalars inside them, and ``getattr(HistoryBuffer, 'mean')`` style
references to its statistics methods. We allow-list exactly those, and the
``getattr`` only for HistoryBuffer's statistics methods, so ``--resume`` and
``tools/test.py`` work while arbitrary pickled code is still refused.
"""
import pickle
from typing import Any, List

import numpy as np
import torch

__all__ = ['register_checkpoint_safe_globals', 'checkpoint_safe_globals']

_REGISTERED = False


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to mmengine HistoryBuffer's statistics methods."""
    from mmengine.logging import HistoryBuffer
    allowed = set(HistoryBuffer._statistics_methods) | {'min', 'max', 'current', 'mean'}
    if obj is HistoryBuffer and name in allowed and callable(getattr(obj, name, None)):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only the statistics methods of '
        "mmengine's HistoryBuffer are allowed")


def _numpy_core():
    # numpy 2 moved numpy.core to numpy._core; checkpoints name either.
    return getattr(np, '_core', None) or np.core


def checkpoint_safe_globals() -> List[Any]:
    """The globals mmengine 0.10 checkpoints need, for ``add_safe_globals``."""
    from mmengine.logging import HistoryBuffer
    core = _numpy_core().multiarray
    items: List[Any] = [HistoryBuffer, np.ndarray, np.dtype]
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        items.append((core._reconstruct, f'{mod}._reconstruct'))
        items.append((core.scalar, f'{mod}.scalar'))
    # dtype classes (numpy >= 1.25 pickles e.g. numpy.dtypes.Float64DType).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        items += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    items.append((_history_buffer_getattr, 'builtins.getattr'))
    return items


def register_checkpoint_safe_globals() -> None:
    """Allow-list mmengine's checkpoint contents for ``weights_only`` loads.

    Idempotent; a no-op on torch versions without ``add_safe_globals``.
    """
    global _REGISTERED
    if _REGISTERED or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
    _REGISTERED = True
