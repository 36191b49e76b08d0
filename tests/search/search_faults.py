"""Faults for the search's resilience tests, importable by proxy workers
(``custom_imports=dict(imports=['search_faults'])``, tests/search on the path)."""
import os
import os.path as osp
import signal

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module(force=True)
class KillWorkerHook(Hook):
    """``kill -9`` of the worker process training proxy ``target`` at
    iteration ``at_iter``: once (a marker file remembers it), or every time."""

    def __init__(self, target: str, at_iter: int = 1, once: bool = True) -> None:
        self.target, self.at_iter, self.once = target, at_iter, once

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter != self.at_iter or not runner.work_dir.endswith(self.target):
            return
        marker = osp.join(runner.work_dir, 'killed_once')
        if self.once and osp.exists(marker):
            return
        open(marker, 'w').close()
        os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module(force=True)
class InjectFailureHook(Hook):
    """Breaks the proxies whose work dir ends with ``target`` before
    iteration ``at_iter``: raises, or turns the weights into NaN."""

    def __init__(self, target: str, mode: str, at_iter: int = 2) -> None:
        self.target, self.mode, self.at_iter = target, mode, at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if not runner.work_dir.endswith(self.target) or runner.iter != self.at_iter:
            return
        if self.mode == 'raise':
            raise RuntimeError('injected failure')
        with torch.no_grad():
            for p in runner.model.parameters():
                p.fill_(float('nan'))
