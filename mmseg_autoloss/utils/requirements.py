"""The import-time check for what pip cannot install for the user: mmcv's ops.

As OpenMMLab's own packages, mmseg-autoloss leaves mmcv out of its
requirements: its compiled ops must match the user's torch and CUDA, which
``mim`` (or a source build) picks. Without them ``import mmseg.models`` fails
deep inside mmseg with ``No module named 'mmcv._ext'``; this check says what
to install instead. Only the standard library is imported here.
"""
import importlib

__all__ = ['MMCV_INSTALL', 'check_mmcv_ops', 'mmseg_available']

# The mmcv range MMSegmentation 1.x accepts (mmseg/__init__.py).
MMCV_SPEC = 'mmcv>=2.0.0rc4,<2.2.0'
MMCV_INSTALL = f'pip install -U openmim && mim install "{MMCV_SPEC}"'


def check_mmcv_ops() -> None:
    """Raise ``ImportError`` naming the install command when mmcv or its
    compiled ops (``mmcv.ops``) cannot be imported.

    Raises:
        ImportError: mmcv is missing, is mmcv-lite, or its ops do not load
            (built for another torch).
    """
    try:
        mmcv = importlib.import_module('mmcv')
    except ImportError as err:
        raise ImportError(
            f'mmseg_autoloss needs mmcv with its compiled ops, as MMSegmentation 1.x does, and '
            f'mmcv is not installed ({err}). Install it with: {MMCV_INSTALL}') from err
    try:
        importlib.import_module('mmcv.ops')
    except ImportError as err:
        version = getattr(mmcv, '__version__', '?')
        raise ImportError(
            f"mmseg_autoloss needs mmcv's compiled ops (mmcv.ops), which MMSegmentation 1.x "
            f'imports, and they do not load from mmcv {version} ({type(err).__name__}: {err}); '
            'mmcv-lite has none, and a full mmcv built for another torch fails here. '
            f'Install a full mmcv for this torch with: pip uninstall -y mmcv mmcv-lite && '
            f'{MMCV_INSTALL} (on a CPU-only machine mim builds it from source, ~15 min)') from err


def mmseg_available() -> bool:
    """Whether the MMSeg half of the plugin can load.

    ``False`` when mmseg or mmengine is not installed (the plain-torch parts
    still work); when both are, :func:`check_mmcv_ops` runs first, before
    anything imports mmseg, so a missing mmcv is reported with the install
    command instead of mmseg's ``No module named 'mmcv._ext'``.
    """
    import importlib.util
    try:
        found = all(importlib.util.find_spec(name) is not None for name in ('mmseg', 'mmengine'))
    except ImportError:  # a finder that refuses them: as good as not installed
        found = False
    if not found:
        return False
    check_mmcv_ops()
    return True
