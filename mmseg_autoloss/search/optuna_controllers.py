"""Kept for imports written before the ``controllers`` package: Optuna's
samplers live in :mod:`mmseg_autoloss.search.controllers.optuna_samplers`."""
from .controllers.optuna_samplers import (OPTUNA_INSTALL, CMAESController, TPEController,
                                          require_packages)

__all__ = ['OPTUNA_INSTALL', 'require_packages', 'TPEController', 'CMAESController']
