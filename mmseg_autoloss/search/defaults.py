"""Fallbacks for values the search reads from outside its own settings, named once.

The search settings' own defaults are the fields of
:mod:`.proxy_settings` and :class:`~.settings.SearchSettings`; the values
below are what a missing key means in an mmengine config, the environment
or a file an earlier run wrote, so that no ``dict.get(key, literal)`` in
``search/`` repeats (or contradicts) them.
"""
__all__ = [
    'LAUNCHER', 'LOG_LEVEL', 'SCHEDULER_BY_EPOCH', 'SCHEDULER_BEGIN', 'DATALOADER_BATCH_SIZE',
    'DATALOADER_NUM_WORKERS', 'LOSS_WEIGHT', 'RESTART_COUNT', 'LOCAL_RANK', 'TASK_RANK',
    'FIRST_ATTEMPT', 'ELAPSED_S', 'ROUND_TIMES'
]

#: mmengine Runner: no launcher, INFO logs.
LAUNCHER = 'none'
LOG_LEVEL = 'INFO'
#: mmengine's parameter schedulers count epochs and start at 0 by default.
SCHEDULER_BY_EPOCH = True
SCHEDULER_BEGIN = 0
#: torch's DataLoader: batch 1, loading in the main process.
DATALOADER_BATCH_SIZE = 1
DATALOADER_NUM_WORKERS = 0
#: MMSeg losses' ``loss_weight``.
LOSS_WEIGHT = 1.0
#: torchrun: no restart yet; a process without LOCAL_RANK is local rank 0.
RESTART_COUNT = 0
LOCAL_RANK = 0
#: A pool task without ``rank`` belongs to the single process; without
#: ``attempt`` it is its first run.
TASK_RANK = 0
FIRST_ATTEMPT = 0
#: search_state.json of a search that has not finished a round yet.
ELAPSED_S = 0.0
ROUND_TIMES = ()
