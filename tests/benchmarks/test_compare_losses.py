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
@pytest.mark.benchmark
def test_smoke_report_is_the_runs_numbers(tmp_path):
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
    labels = {'ce': 'CE', 'autoseg_identity': 'AutoSeg mIoU, identity g'}
    assert sorted(body) == sorted(labels.values())
    runs = json.loads((tmp_path / 'cmp.json').read_text())['runs']
    assert sorted(r['arm'] for r in runs) == sorted(labels)
    assert all(r['lr'] == 0.05 and r['seed'] == 0 for r in runs)  # the smoke grid
    keys = list(compare_losses.ALL_KEYS)
    assert [compare_losses.HEADERS[k] for k in keys] == COLUMNS
    # Every cell is its run's TEST number (one seed: no std), and the bold
    # one is the column's maximum.
    for arm, label in labels.items():
        run = next(r for r in runs if r['arm'] == arm)
        cells = body[label]
        assert float(cells[1]) == run['lr']
        for j, key in enumerate(keys):
            cell = cells[2 + j]
            assert float(cell.strip('*')) == pytest.approx(run['test'][key], abs=0.005), key
            best = max(r['test'][key] for r in runs)
            assert cell.startswith('**') == (run['test'][key] == best), key
        assert run['val'] != run['test']  # val and test are different splits
    assert 'Command: `python benchmarks/compare_losses.py --smoke' in text
    assert (tmp_path / 'cmp.png').stat().st_size > 1000


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


@pytest.mark.parametrize('bad, says', [
    (['--lrs', '0'], '--lrs must be > 0, got [0.0]'),
    (['--seeds', '1', '1'], '--seeds must be distinct, got [1, 1]'),
    (['--iters', '0'], '--iters (0)'),
    (['--search-budget', '1', '1', '5'], 'proxies >= 2'),
])
def test_bad_arguments_are_rejected(bad, says, capsys):
    with pytest.raises(SystemExit):
        compare_losses.parse_args(['--smoke'] + bad)
    assert says in capsys.readouterr().err
    compare_losses.parse_args(['--smoke'])  # the smoke arguments themselves are fine


def test_verdicts_call_a_win_only_on_a_significant_difference():
    test = {'ce': [dict(mIoU=m) for m in (50.0, 51.0, 49.0)],
            'a': [dict(mIoU=m) for m in (60.0, 61.0, 59.0)],
            'b': [dict(mIoU=m) for m in (50.5, 49.0, 52.0)]}
    summary = {k: {'mIoU': compare_losses.mean_std([r['mIoU'] for r in v])}
               for k, v in test.items()}
    assert compare_losses.verdicts(summary, test, 'a', ['mIoU'])[0].startswith('+10.00 (win')
    assert compare_losses.verdicts(summary, test, 'b', ['mIoU'])[0].startswith('+0.50 (tie')
    lower = {'ce': test['a'], 'a': test['ce']}
    lower_summary = {'ce': summary['a'], 'a': summary['ce']}
    assert compare_losses.verdicts(lower_summary, lower, 'a', ['mIoU'])[0].startswith(
        '-10.00 (lose')
