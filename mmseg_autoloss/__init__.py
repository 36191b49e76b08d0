"""mmseg-autoloss: train segmentation models for the metric they are judged on.

Importing the package registers every component into MMSegmentation's
registries (MODELS, METRICS, HOOKS, RUNNERS, DATASETS), so a config only needs::

    custom_imports = dict(imports=['mmseg_autoloss'], allow_failed_imports=False)
"""
from .version import __version__
from .utils.checkpoint import register_checkpoint_safe_globals

# torch >= 2.6 loads with weights_only=True; allow what mmengine saves.
register_checkpoint_safe_globals()

from . import datasets, evaluation, hooks, losses, search, surrogates  # noqa: E402,F401
from .utils import amp  # noqa: E402,F401  (CPUAmpOptimWrapper)

__all__ = ['__version__', 'register_checkpoint_safe_globals']
