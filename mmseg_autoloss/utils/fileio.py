"""Atomic file writes: a reader (or a resumed run) never sees a partial file."""
import json
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import IO, Any, Iterator

__all__ = ['atomic_open', 'atomic_write_text', 'atomic_write_json']


@contextmanager
def atomic_open(path: str, mode: str = 'w') -> Iterator[IO]:
    """Open a temporary file next to ``path``; on a clean exit it is flushed,
    fsynced and renamed over ``path``, on an error it is removed.

    Args:
        path: The file to (re)write.
        mode: 'w' (text) or 'wb' (binary, e.g. for ``torch.save``).
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path) as f:
        f.write(text)


def atomic_write_json(path: str, obj: Any, indent: int = 1) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (NaN is written as NaN)."""
    atomic_write_text(path, json.dumps(obj, indent=indent) + '\n')
