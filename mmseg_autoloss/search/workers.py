"""Run proxy trainings in this process or in a pool of worker processes."""
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Dict, Iterator, List, Optional, Sequence

import torch
import torch.multiprocessing as mp

from .proxy import run_proxy

__all__ = ['ProxyPool', 'default_num_workers']

_DIST_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'GROUP_RANK',
              'MASTER_ADDR', 'MASTER_PORT', 'TORCHELASTIC_RUN_ID')


def default_num_workers(models_per_device: int, threads_per_worker: int,
                        local_world_size: int = 1) -> int:
    """One worker per GPU × models_per_device, or cores // threads on CPU,
    shared between the processes of one node."""
    if torch.cuda.is_available():
        return max(1, torch.cuda.device_count() // local_world_size) * models_per_device
    return max(1, (os.cpu_count() or 1) // threads_per_worker // local_world_size)


def _init_worker(threads: int, devices) -> None:
    # Proxies are plain single-process runs: hide torchrun's variables so
    # nothing in the child believes it is distributed.
    for key in _DIST_VARS:
        os.environ.pop(key, None)
    torch.set_num_threads(threads)
    if devices is not None:
        torch.cuda.set_device(devices.get())


class ProxyPool:
    """Executes proxy tasks and yields their records as they finish.

    Args:
        num_workers (int): Worker processes; 0 runs every proxy in this
            process (no start-up cost; not allowed under torch.distributed).
        threads_per_worker (int): torch threads per proxy.
        models_per_device (int): Proxies sharing one GPU.
        local_rank (int), local_world_size (int): This process's share of
            the node's GPUs.
    """

    def __init__(self, num_workers: int, threads_per_worker: int = 1, models_per_device: int = 1,
                 local_rank: int = 0, local_world_size: int = 1) -> None:
        self.num_workers = num_workers
        self.threads = threads_per_worker
        self._executor: Optional[ProcessPoolExecutor] = None
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
                                                 initargs=(self.threads, queue))
        return self._executor

    def run(self, tasks: Sequence[Dict]) -> Iterator[Dict]:
        """Yield one record per task, in completion order."""
        if self.num_workers == 0:
            for task in tasks:
                yield run_proxy(dict(task, threads=self.threads))
            return
        executor = self._executor_or_new()
        futures = {executor.submit(run_proxy, dict(task, threads=self.threads)): task
                   for task in tasks}
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                yield fut.result()
            except BrokenProcessPool as e:
                # A worker died (segfault, OOM kill): record it, start afresh.
                self.close()
                yield dict(round=task['round'], index=task['index'], seed=task['seed'],
                           theta=task['theta'], control_points=task['control_points'],
                           status='failed', reward=None, metrics=None,
                           error=f'worker process died: {e}', rank=task.get('rank', 0),
                           worker=None, wall_time=0.0)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
