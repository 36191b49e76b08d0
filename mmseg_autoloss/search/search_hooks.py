"""Hook points of the search loop (``search.hooks``), through mmengine's hooks.

A search hook is an mmengine :class:`~mmengine.hooks.Hook` registered in
MMSeg's ``HOOKS``; :class:`LossSearchRunner` builds ``search.hooks``
(sorted by ``priority`` as mmengine's Runner sorts its hooks) and calls, on
every rank::

    before_round(runner, round_idx)          # before the round's samples
    after_round(runner, round_idx, best)     # after update, state and outputs

``best`` is the ``best_loss.json`` content after the round. A hook may call
``runner.request_stop(reason)``: the search stops cleanly after that round
(state, ledger and outputs written) and ``--resume`` continues it.
"""
from typing import Dict, Optional

from mmengine.hooks import Hook

__all__ = ['SearchHook']


class SearchHook(Hook):
    """Base of the hooks of :class:`LossSearchRunner` (no-ops by default)."""

    def before_round(self, runner, round_idx: int) -> None:
        """Called before round ``round_idx`` (0-based) samples its thetas."""

    def after_round(self, runner, round_idx: int, best: Optional[Dict]) -> None:
        """Called once round ``round_idx`` is finished and saved."""
