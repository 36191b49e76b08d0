"""``FinalMetricsHook``: the last validation (and test) metrics as JSON."""
import math
import os
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop

from mmseg.registry import HOOKS

from mmseg_autoloss.utils.fileio import atomic_write_json


@HOOKS.register_module()
class FinalMetricsHook(Hook):
    """Record the latest validation metrics to ``work_dir/out_file``.

    Each validation overwrites the file, so after training it holds the final
    values: ``{"iter": int, "epoch": int, "metrics": {name: float}}``. Test
    metrics go to ``test_<out_file>`` the same way; in a test-only run
    (``tools/test.py``) iter and epoch are the loaded checkpoint's (None
    without one), and the train loop is never built. Only rank 0 writes; the
    write is atomic (temporary file + ``os.replace``). Undefined metrics are
    written as ``NaN`` (read back by Python's ``json`` as ``float('nan')``).

    Args:
        out_file (str): File name (or path) relative to the work dir.
    """

    priority = 'LOW'

    def __init__(self, out_file: str = 'final_metrics.json') -> None:
        if not isinstance(out_file, str) or not out_file or out_file.endswith(('/', os.sep)):
            raise ValueError(f'FinalMetricsHook: out_file must be a file name, got {out_file!r}')
        self.out_file = out_file
        self._loaded = (None, None)  # (iter, epoch) of the checkpoint loaded

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        meta = checkpoint.get('meta') or {}
        self._loaded = (meta.get('iter'), meta.get('epoch'))

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._write(runner, self.out_file, metrics)

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        head, tail = osp.split(self.out_file)
        self._write(runner, osp.join(head, 'test_' + tail), metrics)

    def _write(self, runner, out_file: str, metrics: Optional[Dict[str, float]]) -> None:
        if not is_main_process():
            return
        values = {}
        for key, val in (metrics or {}).items():
            try:
                values[str(key)] = float(val)
            except (TypeError, ValueError):
                print_log(f'FinalMetricsHook: metric {key!r} is not a number ({type(val).__name__})'
                          '; left out', logger='current')
        # runner.iter would build the train loop (and the train dataset) in a
        # test-only run
        loop = getattr(runner, '_train_loop', None)
        if isinstance(loop, BaseLoop):
            it, epoch = int(loop.iter), int(loop.epoch)
        else:
            it, epoch = (None if v is None else int(v) for v in self._loaded)
        record = {'iter': it, 'epoch': epoch, 'metrics': values}
        path = osp.join(runner.work_dir, out_file)
        atomic_write_json(path, record, indent=2)
        nan = sorted(k for k, v in values.items() if math.isnan(v))
        if nan:
            print_log(f'FinalMetricsHook: {nan} are NaN in {path}', logger='current')
