"""Compare finished training runs (one work dir per seed): candidate vs baseline.

Reads each run's final metrics as ``FinalMetricsHook`` writes them
(``test_final_metrics.json`` after ``tools/test.py``; ``--split val``:
``final_metrics.json``, the last validation) and prints per metric the mean
± std of each group and Welch's t-test of the difference (a win or a loss
only at p < 0.05, else a tie). The check of a searched surrogate on a
dataset of your own (docs/search.md, "Checking the search on your data")::

    python tools/compare_runs.py --baseline work_dirs/voc_ce_s{0,1,2} \\
        --candidate work_dirs/voc_searched_s{0,1,2} --metrics mIoU mAcc --out compare.md
"""
import argparse
import json
import math
import os.path as osp
import sys
from typing import Dict, List, Sequence

from mmseg_autoloss.utils.fileio import atomic_write_text
from mmseg_autoloss.utils.stats import mean_std, welch_verdict

FILES = {'test': 'test_final_metrics.json', 'val': 'final_metrics.json'}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n', 1)[1])
    p.add_argument('--baseline', nargs='+', required=True, metavar='WORK_DIR',
                   help='work dirs of the baseline runs (e.g. CE), one per seed')
    p.add_argument('--candidate', nargs='+', required=True, metavar='WORK_DIR',
                   help='work dirs of the candidate runs (e.g. the searched loss)')
    p.add_argument('--metrics', nargs='+', default=['mIoU'], help='metric names (default mIoU)')
    p.add_argument('--split', choices=list(FILES), default='test',
                   help=f'which final metrics to read (test: {FILES["test"]}, val: '
                   f'{FILES["val"]})')
    p.add_argument('--names', nargs=2, default=('baseline', 'candidate'),
                   metavar=('BASELINE', 'CANDIDATE'), help='column names in the table')
    p.add_argument('--out', default=None, help='also write the table to this markdown file')
    return p.parse_args(argv)


def read_runs(work_dirs: Sequence[str], split: str, metrics: Sequence[str]
              ) -> List[Dict[str, float]]:
    """The ``metrics`` of each work dir's final-metrics file; raise naming
    the run and the file or metric that is missing."""
    runs = []
    for wd in work_dirs:
        path = osp.join(wd, FILES[split])
        if not osp.isfile(path):
            how = ('run tools/test.py on its checkpoint with FinalMetricsHook in the config'
                   if split == 'test' else 'train it with FinalMetricsHook in the config')
            raise ValueError(f'{wd}: no {FILES[split]} ({how}: custom_hooks = '
                             "[dict(type='FinalMetricsHook')])")
        try:
            with open(path) as f:
                found = json.load(f)['metrics']
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f'{path}: not a FinalMetricsHook file ({e})') from e
        missing = [m for m in metrics if m not in found]
        if missing:
            raise ValueError(f'{path}: no metric {missing}; it has {sorted(found)}')
        bad = [m for m in metrics if not math.isfinite(float(found[m]))]
        if bad:
            raise ValueError(f'{path}: metric {bad} is not a finite number '
                             f'({[found[m] for m in bad]})')
        runs.append({m: float(found[m]) for m in metrics})
    return runs


def _mean_std(values: Sequence[float]) -> str:
    return '{:.2f} ± {:.2f}'.format(*mean_std(values))


def compare(baseline: List[Dict[str, float]], candidate: List[Dict[str, float]],
            metrics: Sequence[str], names: Sequence[str]) -> str:
    """The markdown table: both groups per metric and the Welch verdict."""
    lines = [f'| metric | {names[0]} (n={len(baseline)}) | {names[1]} (n={len(candidate)}) | '
             f'{names[1]} − {names[0]} (Welch) |', '|---|---|---|---|']
    for m in metrics:
        a, b = [r[m] for r in candidate], [r[m] for r in baseline]
        lines.append(f'| {m} | {_mean_std(b)} | {_mean_std(a)} | {welch_verdict(a, b)} |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        baseline = read_runs(args.baseline, args.split, args.metrics)
        candidate = read_runs(args.candidate, args.split, args.metrics)
    except ValueError as e:
        print(f'compare_runs: {e}', file=sys.stderr)
        return 2
    table = compare(baseline, candidate, args.metrics, args.names)
    if min(len(baseline), len(candidate)) < 2:
        table += '\nFewer than 2 runs in a group: no test, the difference only.\n'
    print(table, end='')
    if args.out:
        atomic_write_text(args.out, table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
