"""Run proxy trainings in this process or in a pool of worker processes.

A worker that dies (a segfault, ``kill -9``, the out-of-memory killer) says
nothing about the theta it was training: the pool records an
infrastructure event, starts afresh and re-runs the proxies it lost, a
bounded number of times. Workers die with the process that started them.
"""
import ctypes
import os
import os.path as osp
import signal
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.multiprocessing as mp

from . import defaults
from .proxy import read_attempt, run_proxy

__all__ = ['ProxyPool', 'InfrastructureError', 'default_num_workers', 'die_with_parent']

_DIST_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'GROUP_RANK',
              'MASTER_ADDR', 'MASTER_PORT', 'TORCHELASTIC_RUN_ID')
_PR_SET_PDEATHSIG = 1


class InfrastructureError(RuntimeError):
    """A proxy kept losing its worker: the machine, not theta, is at fault."""


def default_num_workers(models_per_device: int, threads_per_worker: int,
                        local_world_size: int = 1) -> int:
    """One worker per GPU × models_per_device, or cores // threads on CPU,
    shared between the processes of one node."""
    if torch.cuda.is_available():
        return max(1, torch.cuda.device_count() // local_world_size) * models_per_device
    return max(1, (os.cpu_count() or 1) // threads_per_worker // local_world_size)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def die_with_parent(parent: int, prctl: bool = True) -> None:
    """End this process when ``parent`` ends: ``PR_SET_PDEATHSIG`` on Linux
    (the kernel sends SIGKILL), else a thread watching the parent pid.

    The death signal follows the parent *thread* that started this process:
    use ``prctl=False`` (the watchdog) where that thread may end first. The
    pool starts its workers from the caller's thread (the search's main
    thread), which lives as long as the search does.
    """
    if os.getppid() != parent:  # the parent is already gone
        os._exit(1)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if prctl and libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass
    threading.Thread(target=_watch_parent, args=(parent, ), daemon=True,
                     name='parent-watchdog').start()


def _init_worker(threads: int, devices, parent: int) -> None:
    die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the search's main process
    # decides what happens to the workers, not the signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Proxies are plain single-process runs: hide torchrun's variables so
    # nothing in the child believes it is distributed.
    for key in _DIST_VARS:
        os.environ.pop(key, None)
    torch.set_num_threads(threads)
    if devices is not None:
        torch.cuda.set_device(devices.get())


def describe_exit(code: Optional[int]) -> str:
    """A worker's exit code in words."""
    if code is None:
        return 'exit status unknown'
    if code == -signal.SIGKILL:
        return 'killed by SIGKILL (kill -9 or the out-of-memory killer)'
    if code < 0:
        try:
            return f'killed by {signal.Signals(-code).name}'
        except ValueError:
            return f'killed by signal {-code}'
    return f'exited with code {code}'


def _key(task: Dict):
    return task['round'], task['index']


class ProxyPool:
    """Executes proxy tasks and yields their records as they finish.

    Args:
        num_workers (int): Worker processes; 0 runs every proxy in this
            process (no start-up cost; not allowed under torch.distributed).
        threads_per_worker (int): torch threads per proxy.
        models_per_device (int): Proxies sharing one GPU.
        local_rank (int), local_world_size (int): This process's share of
            the node's GPUs.
        max_retries (int): How often one proxy is re-run after losing its
            worker before the search stops with :class:`InfrastructureError`.
    """

    def __init__(self, num_workers: int, threads_per_worker: int = 1, models_per_device: int = 1,
                 local_rank: int = 0, local_world_size: int = 1, max_retries: int = 2) -> None:
        self.num_workers = num_workers
        self.threads = threads_per_worker
        self.max_retries = max_retries
        self._executor: Optional[ProcessPoolExecutor] = None
        self._procs: Dict = {}  # pid -> Process of the current pool (see _exit_codes)
        self._devices: Optional[List[int]] = None
        if torch.cuda.is_available() and num_workers > 0:
            n = torch.cuda.device_count()
            mine = [d for d in range(n) if d % local_world_size == local_rank] or [local_rank % n]
            self._devices = [mine[i % len(mine)] for i in range(num_workers)]

    def _executor_or_new(self) -> ProcessPoolExecutor:
        if self._executor is None:
            ctx = mp.get_context('spawn')
            queue = None
            if self._devices is not None:
                queue = ctx.Queue()
                for d in self._devices:
                    queue.put(d)
            self._executor = ProcessPoolExecutor(self.num_workers, mp_context=ctx,
                                                 initializer=_init_worker,
                                                 initargs=(self.threads, queue, os.getpid()))
        return self._executor

    def _exit_codes(self, broken: bool) -> Dict[int, Optional[int]]:
        # ProcessPoolExecutor keeps its Process objects until shutdown; after a
        # break they tell which worker died and how (the pool is terminating
        # the others at this moment).
        # The executor may already have dropped them from its own table when
        # this runs; the ones seen at submit time are kept in self._procs.
        procs = dict(self._procs)
        procs.update(getattr(self._executor, '_processes', None) or {})
        deadline = time.monotonic() + 5.0
        codes = {}
        for pid, proc in list(procs.items()):
            code = proc.exitcode
            # The executor's thread reaps its workers at the same time: a join
            # that loses that race returns before the winner has stored the
            # exit code, so ask again (sleeping lets the winner store it).
            while broken and code is None and time.monotonic() < deadline:
                proc.join(timeout=0.1)
                code = proc.exitcode
                if code is None:
                    time.sleep(0.02)
            codes[pid] = code
        return codes

    def run(self, tasks: Sequence[Dict],
            on_event: Optional[Callable[[Dict], None]] = None) -> Iterator[Dict]:
        """Yield one record per task, in completion order.

        Proxies lost to the infrastructure are re-run and reported to
        ``on_event`` (one event dict each), never yielded as records.
        """
        attempts = {_key(t): 0 for t in tasks}
        pending = list(tasks)
        while pending:
            lost: Dict = {}  # key -> (task, error of the record or None)
            for task, rec in self._run_once(pending, attempts):
                if rec is None or rec['status'] == 'infra':
                    lost[_key(task)] = (task, None if rec is None else rec['error'])
                else:
                    yield rec
            if not lost:
                return
            broken = any(err is None for _, err in lost.values())
            codes = self._exit_codes(broken) if self._executor is not None else {}
            self.close()
            pending = self._charge(lost, attempts, codes, on_event)

    def _run_once(self, tasks: Sequence[Dict], attempts: Dict):
        """(task, record) pairs; record None where the pool broke under it."""
        def prepared(task):
            return dict(task, threads=self.threads, attempt=attempts[_key(task)])

        if self.num_workers == 0:
            for task in tasks:
                yield task, run_proxy(prepared(task))
            return
        executor = self._executor_or_new()
        futures = {executor.submit(run_proxy, prepared(t)): t for t in tasks}
        self._procs.update(getattr(executor, '_processes', None) or {})
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result()
            except BrokenProcessPool:
                yield futures[fut], None

    def _charge(self, lost: Dict, attempts: Dict, codes: Dict[int, Optional[int]],
                on_event) -> List[Dict]:
        """Record the lost proxies, count a try against those whose worker
        died (or every started one when that cannot be told), and return the
        tasks to re-run; raise once one has used up its retries."""
        started = {}
        for key, (task, _) in lost.items():
            mark = read_attempt(osp.dirname(task['config']))
            if mark is not None and mark.get('attempt') == attempts[key]:
                started[key] = mark.get('pid')
        # the pool SIGTERMs its surviving workers once one has died
        dead = {pid for pid, c in codes.items() if c not in (None, 0, -signal.SIGTERM)}
        charged = {k for k, pid in started.items() if pid in dead} or set(started) or set(lost)
        failed = []
        for key in sorted(lost):
            task, error = lost[key]
            if key not in started and key not in charged:
                continue  # never started: simply queued again
            pid = started.get(key)
            if error is None:
                error = (f'worker {pid} {describe_exit(codes.get(pid))}' if key in charged and
                         pid is not None else 'the pool was restarted after another worker died')
            if key in charged:
                attempts[key] += 1
            give_up = attempts[key] > self.max_retries
            event = dict(event='proxy_lost', round=task['round'], index=task['index'],
                         attempt=attempts[key] if key in charged else None, error=error,
                         worker=pid, exit_code=codes.get(pid),
                         rank=task.get('rank', defaults.TASK_RANK),
                         host=socket.gethostname(), time=time.strftime('%Y-%m-%d %H:%M:%S'),
                         action='stop' if give_up else 're-run')
            if on_event is not None:
                on_event(event)
            if give_up:
                failed.append(f"r{task['round']:02d}_p{task['index']:02d} ({error})")
        if failed:
            raise InfrastructureError(
                f'proxies {", ".join(failed)} lost their worker {self.max_retries + 1} times; '
                'this is a fault of the machine (memory, device, killed processes), not of the '
                'sampled theta. The finished proxies are in the ledger; fix the cause and rerun '
                'with --resume (search.workers.max_retries sets the number of retries)')
        return [lost[k][0] for k in sorted(lost)]

    def terminate(self) -> None:
        """Stop every worker now (an interrupted search), without waiting for
        their proxies."""
        if self._executor is None:
            return
        procs = getattr(self._executor, '_processes', None) or {}
        for proc in list(procs.values()):
            if proc.is_alive():
                proc.kill()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for proc in list(procs.values()):
            proc.join(timeout=5.0)
        self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._procs = {}
