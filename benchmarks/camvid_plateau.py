"""Where cross-entropy plateaus on CamVid: hold-out mIoU against iterations.

Tiny DeepLabV3+ from scratch on CamVid's selection split (train minus
sequence 0006R0; ``configs/_base_/datasets/camvid_select.py``). For each
schedule length of ``--iters``: CE's learning rate is bracketed on the
ladder ``--lrs`` by hold-out mIoU with the first seed (a length starts at the
lr chosen for the length before it and its neighbours, and steps along the
ladder until the best lr's neighbours both scored lower), the other seeds
train at it, and the table gives the hold-out mIoU (mean ± std), its gain
over the length half as long and CamVid val mIoU beside it (reported, never
used to choose); the plot beside it (same stem, ``.png``) draws both
against the length. CE is at its plateau from the first length whose doubling
gains < 1 hold-out mIoU.

Every finished run goes to ``--store`` at once and every run keeps a
checkpoint every 500 iterations under ``--work-dir``, so a killed study
resumes where it stopped (``--workers`` runs at a time, one thread each)::

    python benchmarks/camvid_plateau.py --iters 2000 4000 8000 16000 --lrs 0.1 0.2 0.4 0.8 1.6
"""
import argparse
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from _camvid import (LEGACY_ROOTS, SPLIT_NAMES, add_ladder_args, add_study_args, around,
                     bracket_lr, camvid_job, check_distinct, check_ladder, ensure_camvid)
from _common import Job, ResultStore, command_line, mean_std, quiet, run_adaptive
from compare_losses import best_lr

PLATEAU_GAIN = 1.0  # hold-out mIoU points: doubling gains less -> plateau


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--iters', type=int, nargs='+', default=[2000, 4000, 8000, 16000])
    p.add_argument('--lrs', type=float, nargs='+', default=[0.05, 0.1, 0.2, 0.4, 0.8],
                   help='the lr ladder (ascending); each length brackets its lr on it')
    p.add_argument('--start-lr', type=float, default=None,
                   help='where the first length starts on the ladder (default: its middle)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    add_study_args(p, 'camvid_plateau')
    args = p.parse_args(argv)
    check_distinct(p, args, ('iters', 'lrs', 'seeds'))
    if min(args.iters) < 1 or args.workers < 1:
        p.error(f'--iters ({args.iters}) and --workers ({args.workers}) must be >= 1')
    args.iters = sorted(args.iters)
    check_ladder(p, args)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def grid_job(args, n: int, lr: float, seed: int) -> Job:
    return camvid_job('deeplabv3plus', 'ce', n, lr, seed, args.data_root, args.work_dir,
                      tag=dict(arm='ce'))


def choices(args, results: Dict[tuple, Dict]) -> Dict[int, Dict]:
    """Per length: its first-seed hold-out scores, the bracketed lr (or None)
    and the lrs still to run. A length starts around the lr chosen for the
    length before it (around that length's best so far while it is still
    open, so no worker waits), the first around ``--start-lr``."""
    out: Dict[int, Dict] = {}
    prev: Optional[float] = args.start_lr
    for n in args.iters:
        scores = {lr: r['val']['mIoU'] for (n_, lr, s), r in results.items()
                  if n_ == n and s == args.seeds[0]}
        if prev is None:
            break
        lr, need = bracket_lr(args.lrs, scores, around(args.lrs, prev))
        out[n] = dict(scores=scores, lr=lr, need=need)
        on_ladder = {k: v for k, v in scores.items() if k in args.lrs}
        prev = lr if lr is not None else (best_lr(on_ladder) if on_ladder else None)
    return out


def wanted(args, results: Dict[tuple, Dict]) -> List[Job]:
    """The runs the results so far call for, shortest schedule first: the lrs
    a length still needs, or its other seeds at its chosen lr."""
    jobs = []
    for n, c in choices(args, results).items():
        if c['lr'] is None:
            jobs += [grid_job(args, n, lr, args.seeds[0]) for lr in c['need']]
        else:
            jobs += [grid_job(args, n, c['lr'], s) for s in args.seeds[1:]
                     if (n, c['lr'], s) not in results]
    return jobs


def follow_up(args, results: Dict[tuple, Dict]):
    def then(job: Job, result: Dict) -> List[Job]:
        t = job.tag
        results[(t['iters'], t['lr'], t['seed'])] = result
        return wanted(args, results)
    return then


def rows_of(args, results: Dict[tuple, Dict]) -> List[Dict]:
    """One row per length whose lr is chosen (seeds so far)."""
    rows = []
    for n, c in choices(args, results).items():
        if c['lr'] is None:
            continue
        runs = [results[(n, c['lr'], s)] for s in args.seeds if (n, c['lr'], s) in results]
        rows.append(dict(iters=n, lr=c['lr'], grid=c['scores'],
                         holdout=[r['val']['mIoU'] for r in runs],
                         val=[r['test']['mIoU'] for r in runs],
                         train_s=[r['train_s'] for r in runs]))
    return rows


def report(args, rows: List[Dict], complete: bool,
           scores: Optional[Dict[int, Dict[float, float]]] = None,
           others: Optional[Dict[int, List[str]]] = None) -> str:
    """The table; ``scores``: first-seed hold-out mIoU per length and lr so
    far, ``others``: the other seeds' runs per length (the lengths still
    bracketing their lr are listed under the table with both)."""
    scores, others = scores or {}, others or {}
    head = ' | '.join(f'lr {lr:g}' for lr in args.lrs)
    lines = ['# Where CE plateaus on CamVid' + ('' if complete else ' (PARTIAL: study running)'),
             '', f'Command: `{command_line(__file__, args.argv)}`', '',
             'Tiny DeepLabV3+ (ResNetV1c-18, 16 base channels) from scratch, cross-entropy, '
             'SGD momentum 0.9, poly lr over the whole schedule, batch 8 of 128×128 crops of '
             'frames randomly resized by 0.75–1.5 (CamVid at 240×180), one torch thread per '
             f'run. Trained on the selection split (train minus 0006R0, 266 frames); the '
             f'learning rate is chosen per length by {SPLIT_NAMES["val"]} mIoU with seed '
             f'{args.seeds[0]} on the ladder {args.lrs}: a length starts at the lr chosen for '
             'the length before it and its two neighbours, and steps along the ladder until '
             "the best lr's neighbours both ran and scored lower (— : not run); the other "
             f'seeds of {args.seeds} train at it. '
             f'"gain": hold-out mIoU minus that of the length half as long; CE is at its '
             f'plateau where doubling gains < {PLATEAU_GAIN:g}. {SPLIT_NAMES["test"]} mIoU is '
             'reported beside it and chose nothing: val is one stretch of drive 0016E5 whose '
             'neighbouring frames (30 frames apart) are in train, so it also rewards '
             'memorising them, while the hold-out is a drive the model never saw.', '',
             f'| iters | hold-out mIoU, seed {args.seeds[0]}: {head} | chosen lr | seeds | '
             'hold-out mIoU | gain (± spread) | CamVid val mIoU | val gain | min / run |',
             '|---|' + '---|' * (len(args.lrs) + 7)]
    by = {r['iters']: r for r in rows}
    for r in rows:
        m, s = mean_std(r['holdout'])
        vm, vs = mean_std(r['val'])
        half = by.get(r['iters'] // 2) if r['iters'] % 2 == 0 else None
        gain = val_gain = ''
        if half and len(half['holdout']) >= 2 and len(r['holdout']) >= 2:
            hm, hs = mean_std(half['holdout'])
            gain = f'{m - hm:+.2f} (± {(s ** 2 + hs ** 2) ** 0.5:.2f})'
            val_gain = f"{vm - mean_std(half['val'])[0]:+.2f}"
        edge = ' (edge)' if r['lr'] in (args.lrs[0], args.lrs[-1]) else ''
        grid = ' | '.join(f'{r["grid"][lr]:.2f}' if lr in r['grid'] else '—'
                          for lr in args.lrs)
        lines.append(f'| {r["iters"]} | {grid} | {r["lr"]:g}{edge} | {len(r["holdout"])} | '
                     f'{m:.2f} ± {s:.2f} | {gain} | {vm:.2f} ± {vs:.2f} | {val_gain} | '
                     f'{sum(r["train_s"]) / len(r["train_s"]) / 60:.1f} |')
    done = {r['iters'] for r in rows}
    for n in sorted(set(scores) - done):
        lines += ['', f'{n} iterations, lr still being bracketed (seed {args.seeds[0]}, '
                  'hold-out mIoU so far): ' + ', '.join(
                      f'lr {lr:g}: {v:.2f}' for lr, v in sorted(scores[n].items()))
                  + ''.join(f'; run ahead of the bracket, {o}' for o in others.get(n, []))]
    best = {n: max(v.values()) for n, v in scores.items()}
    lines += ['', plateau(rows, best), '']
    return '\n'.join(lines)


def plateau(rows: List[Dict], best_so_far: Dict[int, float]) -> str:
    """The verdict: the first length whose doubling gains < PLATEAU_GAIN
    (>= 2 seeds at both), unless a longer length already scores
    PLATEAU_GAIN more (its seeds' mean, or while it has one seed, its best
    first-seed run so far at any lr); else why no length is one yet."""
    stats = {r['iters']: mean_std(r['holdout'])[0] for r in rows if len(r['holdout']) >= 2}
    later = {**best_so_far, **stats}
    why = []
    for n in sorted(stats):
        if 2 * n not in stats:
            why.append(f'{n} waits for {2 * n} iterations with >= 2 seeds')
            continue
        gain = stats[2 * n] - stats[n]
        step = f'{n} → {2 * n} iterations gains {gain:+.2f}'
        if gain >= PLATEAU_GAIN:
            why.append(step)
            continue
        above = {k: v for k, v in later.items() if k > n and v - stats[n] >= PLATEAU_GAIN}
        if above:
            k = min(above)
            how = 'mean of its seeds' if k in stats else 'first seed, best lr run so far'
            why.append(f'{step}, but {k} iterations reach {above[k]:.2f} ({how}), '
                       f'{above[k] - stats[n]:+.2f} above {n}')
            continue
        return (f'Plateau: {n} iterations (doubling to {2 * n} gains {gain:+.2f} hold-out mIoU; '
                'no longer length run so far scores 1 more).')
    return ('Plateau: not reached yet (hold-out mIoU, means over seeds): '
            + ('; '.join(why) if why else 'no length has >= 2 seeds')
            + '. The study goes on (or add a longer --iters).')


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    quiet()
    start = time.perf_counter()
    ensure_camvid(args.data_root, args.src)
    store = ResultStore(args.store, LEGACY_ROOTS)
    # every stored run of the ladder counts, also those no bracket asked for
    results: Dict[tuple, Dict] = {
        (n, lr, s): r for n in args.iters for lr in args.lrs for s in args.seeds
        if (r := store.get(grid_job(args, n, lr, s))) is not None}

    def progress(job: Job, r: Dict) -> None:
        t = job.tag
        print(f'[CE | {t["iters"]} it | lr {t["lr"]:g} | seed {t["seed"]}] hold-out mIoU '
              f'{r["val"]["mIoU"]:.2f}, val mIoU {r["test"]["mIoU"]:.2f} '
              f'({r["train_s"] / 60:.1f} min)', flush=True)
        write(args, results, complete=False)

    run_adaptive(wanted(args, results), args.workers, follow_up(args, results), store,
                 progress, last_start=args.last_start)
    write(args, results, complete=not wanted(args, results))
    print(f'done in {(time.perf_counter() - start) / 60:.1f} min: {args.out}')


def plot(args, rows: List[Dict], scores: Dict[int, Dict[float, float]], path: str) -> None:
    """Hold-out mIoU (the choice) and CamVid val mIoU (beside it) against
    the schedule length: each length's chosen lr, its seeds' mean ± std;
    the first seed's other lrs as dots (diverged ones below the frame)."""
    if not scores:
        return
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    lengths = sorted(scores)
    fig, ax = plt.subplots(figsize=(6, 4))
    for n in lengths:
        ax.scatter([n] * len(scores[n]), list(scores[n].values()), s=12, color='0.6', zorder=1,
                   label=f'hold-out, seed {args.seeds[0]}, each lr' if n == lengths[0] else None)
    iters = [r['iters'] for r in rows]
    for key, label, color in (('holdout', 'hold-out 0006R0 (chooses the lr)', 'C0'),
                              ('val', 'CamVid val (chooses nothing)', 'C1')):
        stats = [mean_std(r[key]) for r in rows]
        ax.errorbar(iters, [m for m, _ in stats], yerr=[s for _, s in stats], color=color,
                    marker='o', capsize=3, zorder=2, label=label)
        if key == 'holdout' and rows:
            for r, (m, _) in zip(rows, stats):
                ax.annotate(f"lr {r['lr']:g}", (r['iters'], m), textcoords='offset points',
                            xytext=(4, -12), fontsize=7)
            bottom = max(0.0, min(m for m, _ in stats) - 10)
    if rows:  # diverged lrs would squash the curves: clip them off the bottom
        ax.set_ylim(bottom=bottom)
    ax.set_xscale('log', base=2)
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.minorticks_off()
    ax.set_xlabel('schedule length (iterations, lr chosen per length)')
    ax.set_ylabel('mIoU (%)')
    ax.set_title('Where CE plateaus on CamVid (tiny DeepLabV3+ from scratch)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(args, results: Dict[tuple, Dict], complete: bool) -> None:
    others = {}
    for (n, lr, s), r in sorted(results.items()):
        if s != args.seeds[0]:
            others.setdefault(n, []).append(f"seed {s} at lr {lr:g}: {r['val']['mIoU']:.2f}")
    rows = rows_of(args, results)
    scores = {n: c['scores'] for n, c in choices(args, results).items() if c['scores']}
    text = report(args, rows, complete, scores, others)
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    plot(args, rows, scores, osp.splitext(args.out)[0] + '.png')
    print(text, flush=True)


if __name__ == '__main__':
    main()
