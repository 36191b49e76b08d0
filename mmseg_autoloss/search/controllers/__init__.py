"""Search controllers for the surrogate parameters Theta in [0, 1]^D.

* :class:`PPO2Controller` (:mod:`.ppo2`) -- the Auto Seg-Loss policy
  (method.md §5), a truncated normal (:mod:`.truncnorm`) whose mean Adam
  moves on PPO's clipped surrogate objective.
* :class:`RandomSearchController` (:mod:`.random_search`) -- uniform
  samples, the baseline of the paper's Fig. 3.
* :class:`TPEController` and :class:`CMAESController`
  (:mod:`.optuna_samplers`) -- Optuna's samplers, when Optuna is installed.

All are registered in :data:`CONTROLLERS` (importing a module registers its
controller, as ``mmseg_autoloss.losses`` does for losses) and built with
:func:`build_controller`; all are deterministic given ``seed`` and resume
exactly from :meth:`~BaseController.state_dict`.
"""
from . import optuna_samplers, ppo2, random_search  # noqa: F401
from .base import (CONTROLLERS, ArrayLike, BaseController, BestSampleController,
                   build_controller)
from .optuna_samplers import OPTUNA_INSTALL, CMAESController, TPEController, require_packages
from .ppo2 import PPO2Controller
from .random_search import RandomSearchController

__all__ = ['CONTROLLERS', 'build_controller', 'BaseController', 'BestSampleController',
           'ArrayLike', 'PPO2Controller', 'RandomSearchController', 'TPEController',
           'CMAESController', 'OPTUNA_INSTALL', 'require_packages']
