"""How long must the comparison train? Test mIoU against training iterations.

A loss comparison is honest only where cross-entropy is near its plateau:
an undertrained CE inflates every IoU-style loss's lead. For each loss and
each schedule in ``--iters`` this picks the learning rate from ``--lrs`` on
the VAL split (first seed), trains the other seeds at it and reports the TEST
mIoU, the gain over the schedule half as long, and whether the chosen rate
sits at an end of the grid (then the grid is too narrow). Runs go through
:mod:`compare_losses` (same models, losses and protocol); every finished run
is kept in ``--store``, so an interrupted study resumes.

    python benchmarks/schedule_plateau.py                        # CE, 400/800/1600
    python benchmarks/schedule_plateau.py --losses ce lovasz autoseg_voc_miou --iters 800 1600
"""
import argparse
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Optional

from _common import REPO, Job, ResultStore, ensure_dataset, mean_std, run_jobs
from compare_losses import ARMS, SIZES, _progress, choose_lr, make_job


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--losses', nargs='+', choices=list(ARMS), default=['ce'])
    p.add_argument('--model', choices=['deeplabv3plus', 'pspnet', 'hrnet'], default='deeplabv3plus')
    p.add_argument('--iters', type=int, nargs='+', default=[400, 800, 1600])
    p.add_argument('--lrs', type=float, nargs='+', default=[0.02, 0.05, 0.1, 0.2])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--searched', default=None,
                   help='best_loss.json of the autoseg_searched arm (required with it)')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--data-root', default=None, help='synthetic dataset root (made if missing)')
    p.add_argument('--sizes', type=int, nargs=3, default=list(SIZES['default']['sizes']),
                   metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--store', default=osp.join(REPO, 'benchmarks', 'results',
                                               'schedule_plateau.jsonl'))
    p.add_argument('--out', default=osp.join(REPO, 'benchmarks', 'results', 'schedule_plateau.md'))
    args = p.parse_args(argv)
    bad = [(k, v) for k, v in (('--iters', args.iters), ('--seeds', args.seeds))
           if len(set(v)) != len(v)]
    if bad:
        p.error(f'{bad[0][0]} must be distinct, got {bad[0][1]}')
    if min(args.iters) < 1 or min(args.lrs) <= 0 or args.workers < 0 or args.batch_size < 1:
        p.error(f'--iters ({args.iters}) and --batch-size must be >= 1, --lrs ({args.lrs}) > 0, '
                f'--workers ({args.workers}) >= 0')
    if 'autoseg_searched' in args.losses and not (args.searched and osp.isfile(args.searched)):
        p.error(f'--losses autoseg_searched needs --searched FILE, got {args.searched!r}')
    args.iters = sorted(args.iters)
    args.lrs = sorted(args.lrs)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def run(args: argparse.Namespace) -> Dict:
    data_root = args.data_root or osp.join(REPO, 'data', 'synthetic_shapes')
    ensure_dataset(data_root, args.sizes)
    store = ResultStore(args.store)
    base = tempfile.mkdtemp(prefix='schedule_plateau_')
    first, rest = args.seeds[0], args.seeds[1:]

    def job(n: int, arm_key: str, lr: float, seed: int, splits) -> Job:
        j = make_job(argparse.Namespace(iters=n, batch_size=args.batch_size), args.model,
                     arm_key, lr, seed, splits, data_root, base, args.searched)
        # one run dir per schedule (work_dir is not in the store key, the name is)
        j.name += f'_{n}it'
        j.work_dir += f'_{n}it'
        return j

    rows = []
    for n in args.iters:
        grid = [job(n, a, lr, first, ('val', 'test')) for a in args.losses for lr in args.lrs]
        grid_res = run_jobs(grid, args.workers, _progress, store=store)
        for a in args.losses:
            val = {j.tag['lr']: r['val'] for j, r in zip(grid, grid_res) if j.tag['arm'] == a}
            lr = choose_lr(val, ARMS[a].select_on)
            more = [job(n, a, lr, s, ('test', )) for s in rest]
            more_res = run_jobs(more, args.workers, _progress, store=store)
            tests = [r['test'] for j, r in zip(grid, grid_res)
                     if j.tag['arm'] == a and j.tag['lr'] == lr] + [r['test'] for r in more_res]
            rows.append(dict(loss=a, iters=n, lr=lr, val={k: v['mIoU'] for k, v in val.items()},
                             test=[t['mIoU'] for t in tests]))
        write_report(args, rows)
    return dict(rows=rows)


def write_report(args: argparse.Namespace, rows: List[Dict]) -> None:
    lrs = ' | '.join(f'val lr {lr:g}' for lr in args.lrs)
    lines = ['# Training schedule: test mIoU against iterations', '',
             f'Command: `python benchmarks/schedule_plateau.py {" ".join(args.argv)}`'.rstrip(),
             '', f'Tiny {args.model} from scratch on the synthetic shapes, batch '
             f'{args.batch_size}, SGD with poly lr over the whole schedule; learning rate chosen '
             f'per loss and schedule on the VAL split with seed {args.seeds[0]} from '
             f'{args.lrs} (an edge choice is marked "edge": the grid should be wider); test mIoU '
             f'mean ± std over seeds {args.seeds}; "gain" = test mIoU minus that of the '
             'schedule half as long (when it is in the table).', '',
             f'| loss | iters | {lrs} | chosen lr | test mIoU | gain |',
             '|---|---|' + '---|' * len(args.lrs) + '---|---|---|']
    by = {(r['loss'], r['iters']): r for r in rows}
    for r in rows:
        m, s = mean_std(r['test'])
        half = by.get((r['loss'], r['iters'] // 2))
        gain = f'{m - mean_std(half["test"])[0]:+.2f}' if half and r['iters'] % 2 == 0 else ''
        edge = ' (edge)' if r['lr'] in (args.lrs[0], args.lrs[-1]) else ''
        vals = ' | '.join(f'{r["val"][lr]:.2f}' for lr in args.lrs)
        lines.append(f'| {ARMS[r["loss"]].label} | {r["iters"]} | {vals} | {r["lr"]:g}{edge} | '
                     f'{m:.2f} ± {s:.2f} | {gain} |')
    lines.append('')
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))
    print('\n'.join(lines), flush=True)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    t0 = time.time()
    run(args)
    print(f'done in {(time.time() - t0) / 60:.1f} min: {args.out}')


if __name__ == '__main__':
    main()
