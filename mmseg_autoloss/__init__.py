"""mmseg-autoloss: train segmentation models for the metric they are judged on.

Where MMSegmentation is installed, importing the package registers every
component into its registries (MODELS, METRICS, HOOKS, RUNNERS, DATASETS), so
a config only needs::

    custom_imports = dict(imports=['mmseg_autoloss'], allow_failed_imports=False)

Without mmseg/mmengine only the plain-torch parts import
(``mmseg_autoloss.surrogates``, ``mmseg_autoloss.boundary``).
"""
from .utils.requirements import mmseg_available
from .version import __version__

# False without mmseg/mmengine (the math alone); with them, a missing or
# op-less mmcv raises here, naming the install command.
HAS_MMSEG = mmseg_available()

if HAS_MMSEG:
    from .utils.checkpoint import register_checkpoint_safe_globals

    # torch >= 2.6 loads with weights_only=True; allow what mmengine saves.
    register_checkpoint_safe_globals()

    from . import datasets, evaluation, hooks, losses, search, surrogates  # noqa: F401
    from .utils import amp  # noqa: F401  (CPUAmpOptimWrapper)

__all__ = ['__version__', 'HAS_MMSEG']
