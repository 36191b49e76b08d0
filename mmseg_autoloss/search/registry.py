"""Registries of the search's own parts (mmengine's ``Registry``).

Controllers have theirs in :mod:`.controllers`; fidelity schedules
(``search.fidelity.type``) register here, e.g. ``SuccessiveHalving`` in
:mod:`.fidelity`. A schedule is built as
``cls(fidelity_settings, theta_iters, work_dir, rank)`` and drives a round
through ``finished``/``run_round``/``cleanup``.
"""
from mmengine.registry import Registry

__all__ = ['FIDELITY_SCHEDULES']

FIDELITY_SCHEDULES = Registry('fidelity schedule')
