"""An exclusive lock on a search work dir: one search writes a work dir at a time.

The lock file ``search.lock`` names its holder (pid, host, start time,
command, torchrun run id) and is held with ``flock`` while the search runs,
so the kernel frees it when the holder dies however it dies. Where the file
system has no ``flock``, the holder's pid is checked instead (same host) or
its torchrun attempt (an earlier attempt of the same job is gone). A free
lock file that still names a holder was left by a killed search: it is
taken over with a warning.
"""
import errno
import fcntl
import json
import os
import os.path as osp
import socket
import sys
import time
from typing import Dict, Optional

from . import defaults

__all__ = ['WorkDirLock', 'WorkDirLocked', 'LOCK_FILE']

LOCK_FILE = 'search.lock'


class WorkDirLocked(RuntimeError):
    """Another live search holds the work dir."""


def _proc_stat(pid: int):
    try:
        with open(f'/proc/{pid}/stat') as f:
            # the command name (field 2) may contain spaces and parentheses
            return f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: Optional[str]) -> bool:
    """Whether ``pid`` (started at ``start`` clock ticks) still runs here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: trust kill(0)
    if stat[0] == 'Z':
        return False  # exited, not yet reaped
    return start is None or stat[19] == start  # else the pid was reused


def _me() -> Dict:
    stat = _proc_stat(os.getpid())
    return dict(pid=os.getpid(), host=socket.gethostname(), start=stat[19] if stat else None,
                since=time.strftime('%Y-%m-%d %H:%M:%S'), argv=' '.join(sys.argv),
                run_id=os.environ.get('TORCHELASTIC_RUN_ID'),
                restart=int(os.environ.get('TORCHELASTIC_RESTART_COUNT', defaults.RESTART_COUNT)))


def describe_holder(holder: Dict) -> str:
    return (f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('since')} "
            f"(command: {holder.get('argv')})")


class WorkDirLock:
    """Exclusive lock on ``work_dir``.

    Args:
        work_dir (str): The search work dir (must exist).
    """

    def __init__(self, work_dir: str) -> None:
        self.path = osp.join(work_dir, LOCK_FILE)
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _refuse(self, holder: Dict) -> WorkDirLocked:
        return WorkDirLocked(
            f'{osp.dirname(self.path)} is in use by another search: {describe_holder(holder)}; '
            'wait for it to finish, stop it, or choose another --work-dir')

    def acquire(self) -> Optional[str]:
        """Take the lock or raise :class:`WorkDirLocked` naming the holder.

        Returns:
            str or None: A warning to log when a stale lock was taken over.
        """
        me = _me()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            flock = True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise self._refuse(self._read(fd) or {}) from None
                flock = False  # e.g. ENOLCK on a network file system
            holder = self._read(fd)
            warning = None
            if holder:
                why = 'its process is gone'
                if not flock:
                    why = self._stale(holder, me)
                    if why is None:
                        raise self._refuse(holder)
                warning = (f'taking over the lock {self.path} left by {describe_holder(holder)}: '
                           f'{why}')
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return warning

    @staticmethod
    def _stale(holder: Dict, me: Dict) -> Optional[str]:
        """Why ``holder`` no longer holds the lock (no flock), or None."""
        if holder.get('run_id') and holder.get('run_id') == me['run_id'] \
                and int(holder.get('restart', defaults.RESTART_COUNT)) < me['restart']:
            return f"it was attempt {holder.get('restart')} of this torchrun job"
        if holder.get('host') == me['host'] and isinstance(holder.get('pid'), int) \
                and not _alive(holder['pid'], holder.get('start')):
            return 'its process is gone'
        return None

    @staticmethod
    def _read(fd: int) -> Optional[Dict]:
        try:
            data = os.pread(fd, 1 << 16, 0)
            holder = json.loads(data) if data.strip() else None
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    def release(self) -> None:
        """Free the lock (the file stays, empty: removing it would race with
        a search that opened it a moment before)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # also drops the flock

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
