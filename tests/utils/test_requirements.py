"""The import-time message when mmcv or its compiled ops are missing."""
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO, subprocess_env
from mmseg_autoloss.utils.requirements import MMCV_INSTALL, check_mmcv_ops, mmseg_available

MODULE = osp.join(REPO, 'mmseg_autoloss', 'utils', 'requirements.py')


def test_this_environment_passes():
    check_mmcv_ops()
    assert mmseg_available()


@pytest.mark.parametrize('blocked, says', [
    ('mmcv', 'mmcv is not installed'),
    ('mmcv.ops', "mmcv's compiled ops (mmcv.ops)"),
    ('mmcv._ext', "mmcv's compiled ops (mmcv.ops)"),  # what mmcv-lite lacks
])
def test_missing_mmcv_names_the_install_command(blocked, says):
    # None in sys.modules is Python's own "this module cannot be imported";
    # the module is loaded by path, as the package's __init__ runs it before
    # anything imports mmseg.
    code = (f'import sys, importlib.util; sys.modules[{blocked!r}] = None\n'
            f"spec = importlib.util.spec_from_file_location('req', {MODULE!r})\n"
            'mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n'
            'mod.mmseg_available()\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert says in proc.stderr and MMCV_INSTALL in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize('blocked', ['mmcv', 'mmcv.ops'])
def test_importing_the_plugin_without_mmcv_ops_names_the_install_command(blocked):
    """What a user sees: `import mmseg_autoloss` (custom_imports does this)."""
    code = f'import sys; sys.modules[{blocked!r}] = None\nimport mmseg_autoloss\n'
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert MMCV_INSTALL in proc.stderr, proc.stderr[-2000:]
