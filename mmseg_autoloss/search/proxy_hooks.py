"""Hooks that every proxy run gets."""
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class FiniteLossGuardHook(Hook):
    """Stop a run whose loss became NaN/Inf (a diverged proxy carries no
    information; finishing it only burns search time).

    Like mmdet's ``CheckInvalidLossHook`` the total loss is checked every
    ``interval`` iterations (a check reads the loss back to the host), and
    also at the last one, so no diverged run reaches validation unnoticed.

    Args:
        interval (int): Check every ``interval`` training iterations.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 50) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'FiniteLossGuardHook: interval must be a positive integer, '
                             f'got {interval!r}')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs or 'loss' not in outputs:
            return
        if not (self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner)):
            return
        loss = torch.as_tensor(outputs['loss']).detach()
        if not bool(torch.isfinite(loss).all()):
            raise FloatingPointError(f'loss is {loss.float().mean().item()} at iteration '
                                     f'{runner.iter + 1} (checked every {self.interval})')
