"""benchmarks/compare_losses.py: the smoke run writes its table, plot and JSON."""
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'benchmarks', 'compare_losses.py')
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

import compare_losses  # noqa: E402

COLUMNS = ['gAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1', 'mIoU^I', 'mIoU^C', 'mIoU^C_5']


def _run(args, tmp_path):
    return subprocess.run([sys.executable, SCRIPT] + args, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_smoke_writes_table_plot_and_runs(tmp_path):
    out = tmp_path / 'cmp.md'
    proc = _run(['--smoke', '--out', str(out), '--work-dir', str(tmp_path / 'runs')], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    # The first table (up to its blank line) is the results table.
    first = text[text.index('| loss | lr |'):]
    rows = [line for line in first[:first.index('\n\n')].splitlines()]
    header = rows[0].strip('| ').split(' | ')
    assert header == ['loss', 'lr'] + COLUMNS
    assert set(rows[1]) <= set('|-')
    body = {r.split(' | ')[0].strip('| '): r.strip('| ').split(' | ') for r in rows[2:]}
    assert len(body) == 2
    for label in ('CE', 'AutoSeg mIoU, identity g'):
        cells = body[label]
        assert len(cells) == 2 + len(COLUMNS)
        assert float(cells[1]) == 0.05  # the only lr of the smoke grid
        values = [float(c.strip('*')) for c in cells[2:]]
        assert all(0 <= v <= 100 for v in values), values
    # Best per metric is bolded in at least one row of every column.
    for j in range(len(COLUMNS)):
        assert any(body[k][2 + j].startswith('**') for k in ('CE', 'AutoSeg mIoU, identity g'))
    assert 'Command: `python benchmarks/compare_losses.py --smoke' in text
    assert (tmp_path / 'cmp.png').stat().st_size > 1000
    runs = json.loads((tmp_path / 'cmp.json').read_text())['runs']
    assert sorted(r['arm'] for r in runs) == ['autoseg_identity', 'ce']
    assert all(set(r) >= {'val', 'test', 'seed', 'lr'} for r in runs)
    # The table's numbers are the runs' test numbers (one seed: no std).
    ce = next(r for r in runs if r['arm'] == 'ce')
    assert float(body['CE'][2 + COLUMNS.index('mIoU')].strip('*')) == pytest.approx(
        ce['test']['mIoU'], abs=0.005)


def test_missing_searched_file_says_how_to_make_it(tmp_path):
    proc = _run(['--smoke', '--losses', 'autoseg_searched', '--searched',
                 str(tmp_path / 'nope.json'), '--out', str(tmp_path / 'x.md')], tmp_path)
    assert proc.returncode != 0
    assert 'does not exist' in proc.stderr and 'tools/search.py' in proc.stderr
    assert '--run-search' in proc.stderr
    assert not (tmp_path / 'x.md').exists()


def test_choose_lr_uses_the_val_metric_and_prefers_smaller_lr_on_ties():
    val = {0.01: dict(mIoU=50.0, BF1=30.0), 0.05: dict(mIoU=60.0, BF1=20.0),
           0.1: dict(mIoU=60.0, BF1=10.0)}
    assert compare_losses.choose_lr(val, 'mIoU') == 0.05
    assert compare_losses.choose_lr(val, 'BF1') == 0.01


@pytest.mark.parametrize('bad', [['--lrs', '0'], ['--seeds', '1', '1'], ['--iters', '0'],
                                 ['--search-budget', '1', '1', '5']])
def test_bad_arguments_are_rejected(bad):
    with pytest.raises(SystemExit):
        compare_losses.parse_args(['--smoke'] + bad)
