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
    store = tmp_path / 'runs.jsonl'
    common = ['--smoke', '--plateau', '--store', str(store), '--data-root', str(tmp_path / 'data')]
    proc = _run(common + ['--out', str(out), '--work-dir', str(tmp_path / 'runs')], tmp_path)
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
    assert sorted(r['arm'] for r in runs) == sorted(list(labels) + ['ce@2x'])
    assert all(r['lr'] == 0.05 and r['seed'] == 0 for r in runs)  # the smoke grid
    assert {r['arm']: r['iters'] for r in runs} == dict(ce=4, autoseg_identity=4, **{'ce@2x': 8})
    # --plateau: CE twice as long, its gain in the report is the runs' difference
    ce, ce2 = (next(r['test']['mIoU'] for r in runs if r['arm'] == a) for a in ('ce', 'ce@2x'))
    assert f'{ce:.2f} ± 0.00 at 4 iterations, {ce2:.2f} ± 0.00 at 8 iterations' in text
    assert f'doubling gains {ce2 - ce:+.2f} mIoU' in text
    runs = [r for r in runs if r['arm'] != 'ce@2x']
    # --store kept every run: a rerun trains nothing and writes the same table
    assert len(store.read_text().splitlines()) == 3
    again = _run(common + ['--out', str(tmp_path / 'b.md'), '--work-dir', str(tmp_path / 'runs2')],
                 tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (tmp_path / 'runs2').exists() and len(store.read_text().splitlines()) == 3
    strip = lambda t: t[t.index('Setting:'):t.index('Plot:')]  # noqa: E731  (the file names differ)
    assert strip((tmp_path / 'b.md').read_text()) == strip(text)
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
    assert compare_losses.verdicts(test, 'a', ['mIoU'])[0].startswith('+10.00 (win')
    assert compare_losses.verdicts(test, 'b', ['mIoU'])[0].startswith('+0.50 (tie')
    lower = {'ce': test['a'], 'a': test['ce']}
    assert compare_losses.verdicts(lower, 'a', ['mIoU'])[0].startswith('-10.00 (lose')


def test_each_searched_file_is_an_arm_of_its_own(tmp_path):
    files = [str(tmp_path / f's{k}.json') for k in range(3)]
    args = compare_losses.parse_args(['--losses', 'ce', 'autoseg_searched', 'lovasz',
                                      '--searched', *files])
    keys = [f'autoseg_searched@{k}' for k in range(3)]
    assert args.arms == ['ce', *keys, 'lovasz']
    assert args.searched_for == dict(zip(keys, files))
    assert [compare_losses.arm(k).label for k in keys] == [
        f'AutoSeg mIoU, searched here #{k}' for k in (1, 2, 3)]
    one = compare_losses.parse_args(['--losses', 'autoseg_searched', '--searched', files[0]])
    assert one.arms == ['autoseg_searched'] and one.searched_for == {'autoseg_searched': files[0]}
    with pytest.raises(SystemExit):
        compare_losses.parse_args(['--losses', 'lovasz', '--plateau'])
    with pytest.raises(SystemExit):
        compare_losses.parse_args(['--searched', files[0], files[0]])
