"""Load mmengine checkpoints under torch >= 2.6 (``weights_only=True``).

torch 2.6 made ``torch.load`` default to the restricted unpickler, which
refuses the few non-tensor objects mmengine 0.10 writes into every
checkpoint: the message hub's ``HistoryBuffer`` objects, the numpy arrays,
dtypes and scalars inside them, and ``getattr(HistoryBuffer, 'mean')`` style
references to its statistics methods. We allow-list exactly those, and the
``getattr`` only for HistoryBuffer's statistics methods, so ``--resume`` and
``tools/test.py`` work while arbitrary pickled code is still refused.
"""
import os
import os.path as osp
import pickle
import zipfile
from typing import Any, List

import numpy as np
import torch

__all__ = ['register_checkpoint_safe_globals', 'checkpoint_safe_globals', 'check_checkpoint_file']

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


def check_checkpoint_file(path: str) -> None:
    """Refuse a checkpoint torch cannot read, naming the file, before loading.

    Catches what otherwise surfaces as a bare ``EOFError`` or a zip-reader
    error deep inside ``torch.load``: a missing or empty file, and a zip
    archive (torch's format since 1.6) cut short. Only the file's head and
    directory are read. A remote path (``s3://``, ``http://``) is left to
    mmengine's loaders.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty, truncated or not a checkpoint.
    """
    if '://' in path:
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(f'checkpoint {path!r} is empty (0 bytes): the run that wrote it was '
                         'probably killed while saving; use an earlier iter_*.pth')
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK'):
        if not zipfile.is_zipfile(path):
            raise ValueError(f'checkpoint {path!r} ({size} bytes) is a truncated or damaged '
                             'zip archive: the run that wrote it was probably killed while '
                             'saving; use an earlier iter_*.pth')
        return
    if not head.startswith(b'\x80'):  # the legacy format starts with a pickle protocol byte
        raise ValueError(f'checkpoint {path!r} is not a PyTorch checkpoint (it starts with '
                         f'{head!r}, neither a zip archive nor a pickle)')
