"""Hooks that every proxy run gets."""
import math

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class FiniteLossGuardHook(Hook):
    """Stop a run as soon as its loss is NaN/Inf (a diverged proxy carries
    no information; finishing it only burns search time)."""

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs:
            return
        for name, value in outputs.items():
            v = float(value.detach().float().mean()) if hasattr(value, 'detach') else float(value)
            if not math.isfinite(v):
                raise FloatingPointError(f'{name} is {v} at iteration {runner.iter + 1}')
