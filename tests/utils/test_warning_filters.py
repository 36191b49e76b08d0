"""pytest.ini silences named third-party messages only: a warning of ours shows."""
import os.path as osp
import subprocess
import sys

from conftest import REPO, subprocess_env

TEST = '''
import warnings


def test_emits():
    warnings.warn('compile=True: falling back to the eager surrogate', UserWarning)
    warnings.warn('old_key is deprecated, use new_key', DeprecationWarning)
    warnings.warn('Default ``avg_non_ignore`` is False, if you would like ...', UserWarning)
'''


def test_project_warnings_show_and_named_third_party_ones_do_not(tmp_path):
    (tmp_path / 'test_emits.py').write_text(TEST)
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-c', osp.join(REPO, 'pytest.ini'),
                           '--rootdir', str(tmp_path), '-q', str(tmp_path / 'test_emits.py')],
                          cwd=str(tmp_path), env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    assert 'UserWarning: compile=True: falling back to the eager surrogate' in out, out[-2000:]
    assert 'DeprecationWarning: old_key is deprecated' in out
    assert 'avg_non_ignore' not in out
    assert '2 warnings' in out
