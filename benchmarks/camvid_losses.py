"""The hand-made losses CamVid users run, at one schedule, on CamVid.

Protocol (docs/camvid.md):

1. **screen**: each loss trains tiny DeepLabV3+ from scratch on the
   selection split (train minus sequence 0006R0) with the first seed, at
   ``--start-lr`` and its neighbours on the ladder ``--lrs``, then one lr
   further while its best lr has a neighbour not run; its lr is the best one
   whose neighbours both ran and scored lower (the same ladder for every
   loss; an end of the ladder is flagged: widen it);
2. **final**: at that lr, every seed of ``--seeds`` trains on all of train
   and is evaluated on CamVid val (mIoU, mAcc, BF1, BIoU at tol 2, per-class
   IoU), with val mIoU logged ``--curve-points`` times along the way.

The table compares each loss with CE and with the best loss by Welch's
t-test over seeds. ``--stage screen`` stops after step 1 (a cheap first look,
e.g. at a shorter ``--iters``). Every finished run goes to ``--store`` at once
and keeps a checkpoint every 500 iterations, so a killed study resumes::

    python benchmarks/camvid_losses.py --iters 8000 --lrs 0.05 0.1 0.2 0.4
    python benchmarks/camvid_losses.py --stage screen --iters 2000 --out benchmarks/results/camvid_losses_screen_2000it.md

A search's output joins as one more arm, judged the same way (``--searched
NAME=best_loss.json``), and ``--model pspnet`` / ``hrnet`` is the transfer
to the other tiny models, each loss with its own lr from the same ladder::

    python benchmarks/camvid_losses.py --iters N --searched s0=work_dirs/s0/best_loss.json
    python benchmarks/camvid_losses.py --iters N --model pspnet --losses ce \
        --searched s0=work_dirs/s0/best_loss.json --out benchmarks/results/camvid_losses_pspnet.md
"""
import argparse
import os.path as osp
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from _camvid import (LEGACY_ROOTS, MODEL_CONFIGS, MODEL_NAMES, SPLIT_NAMES, TOL,
                     add_also_stores, add_ladder_args, add_study_args, around, bracket_lr,
                     camvid_job, check_distinct, check_ladder, ensure_camvid)
from _common import Job, ResultStore, command_line, mean_std, quiet, run_adaptive
from compare_losses import AUX_WEIGHT

from mmseg_autoloss.datasets.camvid import CLASSES
from mmseg_autoloss.utils.stats import welch_verdict

RARE = ('pole', 'sign', 'fence', 'pedestrian', 'bicyclist')  # 0.3-1.2 % of the pixels
REPORTED = ('mIoU', 'mAcc', 'BF1', 'BIoU')


def _ce(w: float) -> Dict:
    return dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=w, loss_name='loss_ce')


def _lovasz(w: float) -> Dict:
    return dict(type='LovaszLoss', loss_type='multi_class', classes='present', per_image=False,
                reduction='none', loss_weight=w, loss_name='loss_lovasz')


def _jml(w: float) -> Dict:
    return dict(type='JaccardMetricLoss', loss_weight=w)


# key -> (label, loss_decode of weight w; ``ctx`` holds data-derived values)
LOSSES: Dict[str, tuple] = {
    # None: the model config's own CE, so that CE's runs are the plateau
    # study's (the same jobs, read from its store)
    'ce': ('CE', lambda w, ctx: None),
    # MMSeg 1.2.2's CrossEntropyLoss(class_weight=...) fails on void pixels
    'ce_mfb': ('CE, median-frequency class weights', lambda w, ctx: dict(
        type='WeightedCrossEntropyLoss', class_weight=ctx['mfb'], loss_weight=w)),
    'focal': ('focal (MMSeg, γ 2, α 0.5)', lambda w, ctx: dict(
        type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.5, loss_weight=w)),
    'lovasz': ('Lovász-softmax', lambda w, ctx: _lovasz(w)),
    'ce_lovasz': ('CE + Lovász (1 : 1)', lambda w, ctx: [_ce(w), _lovasz(w)]),
    'jml': ('JML (present classes)', lambda w, ctx: _jml(w)),
    'ce_jml': ('0.25 CE + 0.75 JML', lambda w, ctx: [_ce(0.25 * w), _jml(0.75 * w)]),
    'autoseg_voc_miou': ("AutoSegLoss mIoU, authors' voc_miou", lambda w, ctx: dict(
        type='AutoSegLoss', preset='voc_miou', loss_weight=w)),
}


def searched_loss(path: str) -> Callable:
    """The loss_decode of a search's ``best_loss.json``, its parameters
    written out (so a run's key is the loss, not where the file lies)."""
    from mmseg_autoloss.surrogates.presets import load_loss_params
    params = load_loss_params(path)
    params.pop('control_points')
    return lambda w, ctx: dict(type='AutoSegLoss', loss_weight=w, **params)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--losses', nargs='+', choices=list(LOSSES), default=list(LOSSES))
    p.add_argument('--searched', nargs='+', default=[], metavar='NAME=BEST_LOSS_JSON',
                   help="searched losses as more arms (a search's best_loss.json; the arm "
                        "is keyed by the file's parameters, not its path)")
    p.add_argument('--model', choices=list(MODEL_CONFIGS), default='deeplabv3plus')
    p.add_argument('--iters', type=int, default=8000)
    add_ladder_args(p, "where each loss starts on the ladder (CE's plateau lr is a good start)")
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--stage', choices=['screen', 'all'], default='all')
    add_also_stores(p)
    p.add_argument('--curve-points', type=int, default=8,
                   help='val mIoU evaluations along each final run (0: none)')
    add_study_args(p, 'camvid_losses')
    args = p.parse_args(argv)
    check_distinct(p, args, ('lrs', 'seeds', 'losses'))
    if args.iters < 1 or args.workers < 1 or args.curve_points < 0:
        p.error(f'--iters ({args.iters}) and --workers ({args.workers}) must be >= 1, '
                f'--curve-points ({args.curve_points}) >= 0')
    check_ladder(p, args)
    args.table = dict(LOSSES)
    for item in args.searched:
        name, _, path = item.partition('=')
        if not name.isidentifier() or not path or name in LOSSES:
            p.error(f'--searched {item!r}: write NAME=PATH with NAME an identifier other than '
                    f'{sorted(LOSSES)}')
        try:
            args.table[name] = (f'searched ({name})', searched_loss(path))
        except (OSError, ValueError) as err:
            p.error(f'--searched {item!r}: {err}')
        args.losses.append(name)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def loss_context(data_root: str) -> Dict[str, Any]:
    """Data-derived loss settings: SegNet's median-frequency weights of the
    selection split's training frames (no hold-out or val pixel)."""
    from mmseg_autoloss.datasets.camvid import SELECT_LISTS
    from mmseg_autoloss.datasets.class_weights import class_pixel_counts, median_frequency_weights
    with open(osp.join(data_root, SELECT_LISTS['train'])) as f:
        names = f.read().split()
    paths = [osp.join(data_root, 'ann_dir', 'train', n + '.png') for n in names]
    return dict(mfb=[round(w, 4) for w in median_frequency_weights(
        class_pixel_counts(paths, len(CLASSES)))])


def make_job(args, key: str, lr: float, seed: int, ctx: Dict, full_train: bool) -> Job:
    loss: Callable = args.table[key][1]
    aux = None if args.model == 'hrnet' else loss(AUX_WEIGHT, ctx)
    job = camvid_job(args.model, key, args.iters, lr, seed, args.data_root, args.work_dir,
                     decode_loss=loss(1.0, ctx), aux_loss=aux, full_train=full_train,
                     tag=dict(arm=key))
    if full_train and args.curve_points:
        job.val_interval = max(1, args.iters // args.curve_points)
    return job


def follow_up(args, ctx: Dict, results: Dict[tuple, Dict]):
    """After each screen run: the lrs the loss still needs, or (once its lr
    is bracketed) its final runs at that lr."""
    def then(job: Job, result: Dict) -> List[Job]:
        t = job.tag
        results[(t['arm'], t['lr'], t['seed'], t['full_train'])] = result
        if t['full_train']:
            return []
        lr, need = bracket(args, t['arm'], results)
        if lr is None:
            return [make_job(args, t['arm'], x, args.seeds[0], ctx, False) for x in need]
        return [] if args.stage == 'screen' else [make_job(args, t['arm'], lr, s, ctx, True)
                                                  for s in args.seeds]
    return then


def bracket(args, key: str, results: Dict[tuple, Dict]) -> Tuple[Optional[float], List[float]]:
    """(the loss's lr bracketed on the ladder, or None; the lrs still to run)."""
    scores = {lr: r['val']['mIoU'] for (k, lr, s, full), r in results.items()
              if k == key and s == args.seeds[0] and not full}
    return bracket_lr(args.lrs, scores, around(args.lrs, args.start_lr))


def chosen_lr(args, key: str, results: Dict[tuple, Dict]) -> Optional[float]:
    return bracket(args, key, results)[0]


def is_complete(args, results: Dict[tuple, Dict]) -> bool:
    """Every loss's lr is bracketed and (stage 'all') its final runs are in."""
    for key in args.losses:
        lr = chosen_lr(args, key, results)
        if lr is None or (args.stage == 'all' and any(
                (key, lr, s, True) not in results for s in args.seeds)):
            return False
    return True


def summary(args, results: Dict[tuple, Dict]) -> Dict[str, Dict]:
    out = {}
    for key in args.losses:
        lr = chosen_lr(args, key, results)
        grid = {lr_: results.get((key, lr_, args.seeds[0], False)) for lr_ in args.lrs}
        runs = [] if lr is None else [results[(key, lr, s, True)] for s in args.seeds
                                      if (key, lr, s, True) in results]
        out[key] = dict(lr=lr, grid={k: (None if r is None else r['val']['mIoU'])
                                     for k, r in grid.items()},
                        screen_val={k: (None if r is None else r['test']['mIoU'])
                                    for k, r in grid.items()},
                        runs=[dict(seed=r['seed'], curve=r.get('curve', []), **r['test'])
                              for r in runs])
    return out


def _cell(values: List[float]) -> str:
    if not values:
        return ''
    m, s = mean_std(values)
    return f'{m:.2f} ± {s:.2f}' if len(values) > 1 else f'{m:.2f}'


def report(args, res: Dict[str, Dict], complete: bool) -> str:
    label = {k: v[0] for k, v in args.table.items()}
    n_seeds = len(args.seeds)
    final = {k: r for k, r in res.items() if len(r['runs']) == n_seeds}
    best = max(final, key=lambda k: mean_std([r['mIoU'] for r in final[k]['runs']])[0],
               default=None)
    lines = [f'# Hand-made losses on CamVid, {args.iters} iterations'
             + ('' if complete else ' (PARTIAL: study running)'), '',
             f'Command: `{command_line(__file__, args.argv)}`', '',
             f'Tiny {MODEL_NAMES[args.model]} from scratch, {args.iters} SGD iterations, batch 8 '
             'of 128×128 crops (CamVid at 240×180), poly lr; the auxiliary head gets the same '
             f'loss at weight {AUX_WEIGHT}. Learning rate per loss bracketed on the ladder '
             f'{args.lrs} (from {args.start_lr:g} and its neighbours, stepping on while the best '
             "lr's neighbours have not both run) by "
             f'{SPLIT_NAMES["val"]} mIoU with seed {args.seeds[0]}, training on the selection '
             f'split; then seeds {args.seeds} at that lr on all of train, evaluated on '
             f'{SPLIT_NAMES["test"]} (mean ± std; BIoU/BF1 at tol {TOL}). Welch\'s t-test over '
             'seeds, p < 0.05 ("win"/"lose"), else "tie".', '']
    if args.stage == 'screen':
        lines[0] = f'# Hand-made losses on CamVid: lr screen at {args.iters} iterations' \
            + ('' if complete else ' (PARTIAL: study running)')
    lines += ['| loss | lr | ' + ' | '.join(f'val {k}' for k in REPORTED)
              + ' | vs CE (mIoU) | vs best (mIoU) |', '|---|---|' + '---|' * (len(REPORTED) + 2)]
    ce = final.get('ce')
    for key, r in res.items():
        runs = r['runs']
        if not runs:
            continue
        cells = [_cell([x[k] for x in runs]) for k in REPORTED]
        vs = []
        for other in (ce, final.get(best)):
            if other is None or other is r or len(runs) < n_seeds:
                vs.append('')
            else:
                vs.append(str(welch_verdict([x['mIoU'] for x in runs],
                                            [x['mIoU'] for x in other['runs']])))
        seeds = '' if len(runs) == n_seeds else f' ({len(runs)}/{n_seeds} seeds)'
        lines.append(f'| {label[key]}{seeds} | {r["lr"]:g} | ' + ' | '.join(cells + vs) + ' |')
    lines += ['', 'Rare classes, val IoU (mean over seeds):', '',
              '| loss | ' + ' | '.join(RARE) + ' |', '|---|' + '---|' * len(RARE)]
    for key, r in res.items():
        if r['runs']:
            lines.append(f'| {label[key]} | ' + ' | '.join(
                f'{mean_std([x.get(f"IoU.{c}", float("nan")) for x in r["runs"]])[0]:.2f}'
                for c in RARE) + ' |')
    lines += ['', f'Learning-rate screen ({SPLIT_NAMES["val"]} mIoU, seed {args.seeds[0]}; '
              f'{SPLIT_NAMES["test"]} mIoU of the same runs in brackets, not used):', '',
              '| loss | ' + ' | '.join(f'lr {lr:g}' for lr in args.lrs) + ' | chosen |',
              '|---|' + '---|' * (len(args.lrs) + 1)]
    for key, r in res.items():
        cells = [('' if r['grid'][lr] is None else
                  f'{r["grid"][lr]:.2f} ({r["screen_val"][lr]:.2f})') for lr in args.lrs]
        edge = ' (edge)' if r['lr'] in (args.lrs[0], args.lrs[-1]) else ''
        chosen = '' if r['lr'] is None else f'{r["lr"]:g}{edge}'
        lines.append(f'| {label[key]} | ' + ' | '.join(cells) + f' | {chosen} |')
    lines.append('')
    return '\n'.join(lines)


def plot(args, res: Dict[str, Dict], path: str) -> None:
    """Val mIoU against iterations: CE and the best other loss."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    final = {k: r for k, r in res.items() if r['runs'] and r['runs'][0]['curve']}
    others = [k for k in final if k != 'ce']
    if 'ce' not in final or not others:
        return
    best = max(others, key=lambda k: mean_std([x['mIoU'] for x in final[k]['runs']])[0])
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ('ce', best):
        for i, run in enumerate(final[key]['runs']):
            its, miou = zip(*run['curve'])
            ax.plot(its, miou, color='C0' if key == 'ce' else 'C1', alpha=0.8,
                    label=args.table[key][0] if i == 0 else None)
    ax.set_xlabel('iteration')
    ax.set_ylabel('CamVid val mIoU (%)')
    ax.set_title(f'tiny {MODEL_NAMES[args.model]}, lr chosen per loss, one line per seed')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(args, results: Dict[tuple, Dict], complete: bool) -> None:
    import json
    res = summary(args, results)
    text = report(args, res, complete)
    stem = osp.splitext(args.out)[0]
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    with open(stem + '.json', 'w') as f:
        json.dump(dict(command=command_line(__file__, args.argv), iters=args.iters,
                       lrs=args.lrs, seeds=args.seeds, complete=complete, losses=res), f,
                  indent=1)
    plot(args, res, stem + '.png')
    print(text, flush=True)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    quiet()
    start = time.perf_counter()
    ensure_camvid(args.data_root, args.src)
    ctx = loss_context(args.data_root)
    store = ResultStore(args.store, LEGACY_ROOTS, also=args.also_stores)
    # every stored screen run of the ladder counts, also those no bracket asked for
    results: Dict[tuple, Dict] = {
        (k, lr, args.seeds[0], False): r for k in args.losses for lr in args.lrs
        if (r := store.get(make_job(args, k, lr, args.seeds[0], ctx, False))) is not None}

    def progress(job: Job, r: Dict) -> None:
        t = job.tag
        where = ', '.join(f'{SPLIT_NAMES[s]} mIoU {r[s]["mIoU"]:.2f}' for s in job.splits)
        print(f'[{args.table[t["arm"]][0]} | {t["iters"]} it | lr {t["lr"]:g} | seed {t["seed"]}'
              f'{" | all of train" if t["full_train"] else ""}] {where} '
              f'({r["train_s"] / 60:.1f} min)', flush=True)
        write(args, results, complete=False)

    grid = [make_job(args, k, lr, args.seeds[0], ctx, False) for k in args.losses
            for lr in around(args.lrs, args.start_lr)]
    run_adaptive(grid, args.workers, follow_up(args, ctx, results), store, progress,
                 last_start=args.last_start)
    write(args, results, complete=is_complete(args, results))
    print(f'done in {(time.perf_counter() - start) / 60:.1f} min: {args.out}')


if __name__ == '__main__':
    main()
