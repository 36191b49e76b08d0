"""tools/compare_runs.py: final metrics of finished runs, compared with Welch's test."""
import json
import subprocess
import sys

import pytest

from conftest import REPO, subprocess_env


def _run_dirs(tmp_path, name, values, metric='mIoU'):
    dirs = []
    for i, v in enumerate(values):
        d = tmp_path / f'{name}_s{i}'
        d.mkdir()
        # the format FinalMetricsHook writes
        (d / 'test_final_metrics.json').write_text(json.dumps(
            dict(iter=100, epoch=0, metrics={metric: v, 'aAcc': 90.0})))
        dirs.append(str(d))
    return dirs


def _tool(*args):
    return subprocess.run([sys.executable, 'tools/compare_runs.py', *args], cwd=REPO,
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)


def test_table_and_verdict(tmp_path):
    ce = _run_dirs(tmp_path, 'ce', [50.0, 51.0, 49.0])
    searched = _run_dirs(tmp_path, 'searched', [60.0, 61.0, 59.0])
    out = tmp_path / 'cmp.md'
    proc = _tool('--baseline', *ce, '--candidate', *searched, '--metrics', 'mIoU', 'aAcc',
                 '--names', 'CE', 'searched', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    rows = [r.split(' | ') for r in proc.stdout.splitlines() if r.startswith('| m') or
            r.startswith('| a')]
    assert rows[0][0] == '| metric' and 'CE (n=3)' in rows[0][1]
    assert rows[1][:3] == ['| mIoU', '50.00 ± 1.00', '60.00 ± 1.00']
    assert rows[1][3].startswith('+10.00 (win, p=')
    assert rows[2][3].startswith('+0.00 (tie')
    assert out.read_text() == proc.stdout


@pytest.mark.parametrize('make,says', [
    (lambda d: (d / 'test_final_metrics.json').unlink(), 'no test_final_metrics.json'),
    (lambda d: (d / 'test_final_metrics.json').write_text('{"metrics": {"aAcc": 1}}'),
     "no metric ['mIoU']; it has ['aAcc']"),
    (lambda d: (d / 'test_final_metrics.json').write_text('{"metrics": {"mIoU": NaN}}'),
     'not a finite number'),
    (lambda d: (d / 'test_final_metrics.json').write_text('[1, 2'), 'not a FinalMetricsHook'),
])
def test_bad_runs_are_named(tmp_path, make, says):
    ce = _run_dirs(tmp_path, 'ce', [50.0, 51.0])
    searched = _run_dirs(tmp_path, 'searched', [60.0, 61.0])
    make(tmp_path / 'searched_s1')
    proc = _tool('--baseline', *ce, '--candidate', *searched)
    assert proc.returncode == 2
    assert 'searched_s1' in proc.stderr and says in proc.stderr, proc.stderr
