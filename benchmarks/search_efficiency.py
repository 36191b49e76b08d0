"""Best retrained test mIoU against proxy-iterations spent, per controller.

Each controller (PPO2, CMA-ES, TPE, random search) runs ``--search-seeds``
mIoU searches with the same proxy setting (by default the one the fidelity
study picked, ``benchmarks/results/proxy_fidelity.json``) and budget
(``--budget`` proxy-iterations, a shared warm-start run included; or
``--rounds``). A search advances one round at a time through
``LossSearchRunner``'s own resume, and the output after chosen rounds (its
``best_loss.json``) is retrained with the fidelity study's schedule (tiny
DeepLabV3+, 800 iterations, lr 0.4, batch 8, auxiliary head at 0.4) for
``--retrain-seeds`` and scored on the TEST split. CE, Lovász-softmax and
the authors' ``voc_miou`` θ, trained the same way, are the lines to beat.

    python benchmarks/search_efficiency.py            # full benchmark (cost: docs/search.md)
    python benchmarks/search_efficiency.py --quick    # seconds-long end-to-end check

Searches keep their ledgers and every round's output in ``--work-dir``,
retrains go to ``<work-dir>/retrain.jsonl`` as they finish: a rerun (or a
larger ``--budget``) continues where the last one stopped. Writes
``benchmarks/results/search_efficiency.{md,json,png}``.

``--searches-from`` retrains the outputs of earlier runs' searches (their
``search_efficiency*.json``, merged) with another schedule, training no proxy:

    python benchmarks/search_efficiency.py --searches-from \
        benchmarks/results/search_efficiency.json \
        benchmarks/results/search_efficiency_optuna.json \
        --retrain-iters 1600 --lr 0.8 --out benchmarks/results/search_efficiency_1600it.md
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import Dict, List

from _common import (REPO, add_retrain_args, command_line, ensure_dataset, Job, mean_std,
                     ResultStore, run_jobs, start_study, study_paths, write_results)
from proxy_fidelity import (RETRAIN_CONFIG, _print_job, parse_setting, run_search, search_cfg,
                            setting_cost, theta_job)

from mmseg_autoloss.utils.fileio import atomic_write_text

FIDELITY_RESULTS = 'benchmarks/results/proxy_fidelity.json'
DEFAULT_SETTING = 'scratch400'  # today's proxies, when the fidelity study has not run
HALVING = dict(type='SuccessiveHalving', eta=2, min_fraction=0.25)
# None: the quick CPU preset's PPO2 settings
CONTROLLERS = {
    'ppo2': ('PPO2', None),
    'cmaes': ('CMA-ES (Optuna)', dict(type='CMAESController')),
    'tpe': ('TPE (Optuna)', dict(type='TPEController')),
    'random': ('random search', dict(type='RandomSearchController')),
}
BASELINES = {
    'ce': ('CE', dict(type='CrossEntropyLoss', use_sigmoid=False, loss_name='loss_ce')),
    'lovasz': ('Lovász-softmax', dict(type='LovaszLoss', loss_type='multi_class',
                                      classes='present', per_image=False, reduction='none')),
    'voc_miou': ("authors' voc_miou θ", dict(type='AutoSegLoss', preset='voc_miou')),
}
SIZES = dict(
    full=dict(controllers=list(CONTROLLERS), search_seeds=[0, 1], samples=8, budget=6400,
              retrain_seeds=[0, 1], retrain_iters=800, lr=0.4, sizes=(160, 48, 48), workers=2,
              data_root='data/synthetic_shapes', batch_size=8,
              work_dir='work_dirs/search_efficiency'),
    quick=dict(controllers=['ppo2', 'random'], search_seeds=[0], samples=2, budget=None, rounds=2,
               setting='scratch2', checkpoints=[1, 2], retrain_seeds=[0], retrain_iters=2,
               lr=0.05,
               sizes=(16, 4, 8), workers=0, data_root=None, batch_size=4,
               work_dir='work_dirs/search_efficiency_quick'),
)


def picked_setting() -> str:
    path = osp.join(REPO, FIDELITY_RESULTS)
    if osp.isfile(path):
        with open(path) as f:
            picked = json.load(f).get('picked')
        if picked:
            return picked
    return DEFAULT_SETTING


def round_cost(setting: Dict, samples: int, halving: bool) -> int:
    """Theta iterations of one round (the shared warm-start run apart)."""
    if not halving:
        return setting_cost(setting, samples) - (setting['warm'] or 0)
    from mmseg_autoloss.search.fidelity import SuccessiveHalving
    plan = SuccessiveHalving(HALVING, setting['iters'] - (setting['warm'] or 0), '/nonexistent')
    return plan.round_cost(samples)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true',
                   help='seconds-long check: PPO2 and random search, 1 seed, 2 rounds of 2 '
                   'proxies x 2 iterations, 1 retrain seed of 2 iterations, 16/4/8 images')
    p.add_argument('--controllers', nargs='+', choices=list(CONTROLLERS), default=None)
    p.add_argument('--search-seeds', type=int, nargs='+', default=None, help='default 0 1')
    p.add_argument('--setting', default=None,
                   help='proxy setting scratchN / warmK+N (default: the fidelity study\'s pick)')
    p.add_argument('--halving', action='store_true',
                   help=f'successive halving inside rounds ({HALVING})')
    p.add_argument('--samples', type=int, default=None, help='proxies per round (default 8)')
    p.add_argument('--budget', type=int, default=None,
                   help='proxy-iterations per search, warm-start run included (default 6400, a '
                   'quarter of the 8-round search); sets the rounds')
    p.add_argument('--rounds', type=int, default=None,
                   help='rounds per search (instead of --budget)')
    p.add_argument('--checkpoints', type=int, nargs='+', default=None,
                   help='rounds after which the output is retrained (default: a third, two '
                   'thirds and all of the rounds)')
    p.add_argument('--searches-from', nargs='+', default=None, metavar='JSON',
                   help="earlier runs' search_efficiency.json files: their searches' outputs "
                   'are retrained (e.g. with another --retrain-iters / --lr) and no proxy is '
                   'trained; they must share setting, samples and rounds')
    add_retrain_args(p)
    p.add_argument('--work-dir', default=None)
    p.add_argument('--out', default=None, help='markdown table (default '
                   'benchmarks/results/search_efficiency.md; --quick: in the work dir)')
    args = p.parse_args(argv)
    args.size = 'quick' if args.quick else 'full'
    args.earlier = None
    if args.searches_from is not None:
        fixed = ('--controllers', '--search-seeds', '--setting', '--halving', '--samples',
                 '--budget', '--rounds')
        given = [f for f in fixed if getattr(args, f[2:].replace('-', '_')) not in (None, False)]
        if given:
            p.error(f'--searches-from takes the searches from its files: drop {" ".join(given)}')
        try:
            args.earlier = merge_searches(args.searches_from)
        except (OSError, ValueError, KeyError, TypeError) as e:
            p.error(f'--searches-from: {e}')
        for key in ('setting', 'halving', 'samples', 'rounds', 'search_seeds'):
            setattr(args, key, args.earlier[key])
        args.controllers = list(args.earlier['searches'])
        if args.checkpoints is None:
            args.checkpoints = args.earlier['checkpoints']
    for key, value in SIZES[args.size].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.setting is None:
        args.setting = picked_setting()
    try:
        args.parsed = parse_setting(args.setting)
    except ValueError as e:
        p.error(str(e))
    if args.samples < 2 or args.workers < 0 or args.retrain_iters < 1 or args.lr <= 0:
        p.error('--samples >= 2, --workers >= 0, --retrain-iters >= 1 and --lr > 0 are needed')
    if len(set(args.retrain_seeds)) < 2 and not args.quick:
        p.error('--retrain-seeds: give at least 2 distinct seeds')
    per_round = round_cost(args.parsed, args.samples, args.halving)
    args.round_cost = per_round
    if args.rounds is None:
        args.rounds = (args.budget - (args.parsed['warm'] or 0)) // per_round
        if args.rounds < 1:
            p.error(f'--budget {args.budget} buys no round of {args.setting} '
                    f'({per_round} proxy-iterations per round)')
    if args.checkpoints is None:
        r = args.rounds
        args.checkpoints = sorted({max(1, -(-r // 3)), max(1, -(-2 * r // 3)), r})
    if min(args.checkpoints) < 1 or max(args.checkpoints) > args.rounds:
        p.error(f'--checkpoints must lie in 1..{args.rounds}, got {args.checkpoints}')
    args.checkpoints = sorted(set(args.checkpoints))
    if args.earlier is not None:
        missing = [f'{name} seed {seed} round {r}'
                   for name, res in args.earlier['searches'].items()
                   for seed, runs in res['seeds'].items()
                   for r in args.checkpoints if r not in {x['round'] for x in runs}]
        if missing:
            p.error(f'--searches-from: no output for {", ".join(missing)}')
    study_paths(args, 'search_efficiency', argv)
    return args


def merge_searches(paths: List[str]) -> Dict:
    """The searches of several ``search_efficiency.json`` files, which must
    agree on how the searches ran; a controller may appear in one file only."""
    merged: Dict = dict(searches={}, sources=[])
    same = ('setting', 'halving', 'samples', 'rounds', 'search_seeds')
    for path in paths:
        with open(path) as f:
            res = json.load(f)
        for key in same + ('checkpoints', 'command'):
            if key not in res:
                raise KeyError(f'{path!r} is not a search_efficiency.json (no {key!r})')
        for key in same:
            if key in merged and merged[key] != res[key]:
                raise ValueError(f'{path!r} has {key}={res[key]!r}, an earlier file '
                                 f'{merged[key]!r}')
            merged[key] = res[key]
        merged['checkpoints'] = sorted(set(merged.get('checkpoints', []))
                                       | set(res['checkpoints']))
        for name, runs in res['searches'].items():
            if name in merged['searches']:
                raise ValueError(f'controller {name!r} is in more than one file ({path!r})')
            if name not in CONTROLLERS:
                raise ValueError(f'{path!r}: unknown controller {name!r}')
            merged['searches'][name] = dict(
                seeds={int(k): v for k, v in runs['seeds'].items()}, skipped=runs['skipped'])
        merged['sources'].append(dict(path=osp.relpath(osp.abspath(path), REPO),
                                      command=res['command']))
    return merged


def _controller_cfg(name: str) -> Dict:
    spec = CONTROLLERS[name][1]
    if spec is not None:
        return dict(spec)
    from mmengine.config import Config
    return dict(Config.fromfile(osp.join(REPO, 'configs/_base_/search/quick_cpu.py'))
                .search.controller)


class _Unavailable(RuntimeError):
    """A controller that cannot be built here."""


def _check_controller(name: str, samples: int) -> None:
    """Build the controller once, as the search would (Optuna not installed,
    CMA-ES with fewer than 4 samples, ... make it unavailable)."""
    from mmseg_autoloss.search import build_controller
    from mmseg_autoloss.surrogates import num_theta
    try:
        build_controller(_controller_cfg(name), num_theta('mIoU', 2),
                         samples_per_round=samples, seed=0)
    except (ImportError, KeyError, ValueError) as e:
        raise _Unavailable(f'{type(e).__name__}: {e}') from e


def run_searches(args, data_root: str) -> Dict:
    """Every (controller, seed) search, round by round; the output after each
    round is kept as ``best_r{r}.json``. A controller that cannot be built
    (e.g. Optuna missing) is reported and left out."""
    out: Dict[str, Dict] = {}
    for name in args.controllers:
        out[name] = dict(seeds={}, skipped=None)
        for seed in args.search_seeds:
            wd = osp.join(args.work_dir, 'searches', f'{name}_{args.setting}'
                          + ('_halving' if args.halving else '') + f'_seed{seed}')
            runs = []
            try:
                _check_controller(name, args.samples)
                for r in range(1, args.rounds + 1):
                    snap = osp.join(wd, f'best_r{r}.json')
                    if not osp.isfile(snap):
                        cfg = search_cfg(wd, data_root, args.parsed, seed, args.samples, r,
                                         args.batch_size, args.workers, _controller_cfg(name),
                                         HALVING if args.halving else None)
                        run_search(cfg)
                        with open(osp.join(wd, 'best_loss.json')) as f:
                            atomic_write_text(snap, f.read())
                    with open(snap) as f:
                        best = json.load(f)
                    runs.append(dict(round=r, theta=best['theta'], reward=best['reward'],
                                     iters=best['budget']['proxy_iters_spent']))
                    print(f"[{CONTROLLERS[name][0]} seed {seed}] round {r}: hold-out mIoU "
                          f"{100 * best['reward']:.2f}, {runs[-1]['iters']} proxy-iterations",
                          flush=True)
            except _Unavailable as e:
                out[name]['skipped'] = str(e)
                print(f'[{CONTROLLERS[name][0]}] skipped: {e}', flush=True)
                break
            out[name]['seeds'][seed] = runs
    return out


def baseline_job(key: str, seed: int, args, data_root: str, base: str) -> Job:
    loss = BASELINES[key][1]
    name = f'{key}_s{seed}'
    return Job(config=RETRAIN_CONFIG, work_dir=osp.join(base, name), seed=seed,
               iters=args.retrain_iters, batch_size=args.batch_size, data_root=data_root,
               lr=args.lr, decode_loss=dict(loss, loss_weight=1.0),
               aux_loss=dict(loss, loss_weight=0.4), splits=('test', ),
               metrics=('mIoU', 'mAcc', 'aAcc'), name=name, tag=dict(baseline=key, seed=seed))


def run_retrains(args, data_root: str, searches: Dict) -> Dict:
    store = ResultStore(osp.join(args.work_dir, 'retrain.jsonl'))
    base = osp.join(args.work_dir, 'retrain')
    jobs: List[Job] = [baseline_job(k, s, args, data_root, base)
                       for k in BASELINES for s in args.retrain_seeds]
    for res in searches.values():
        for runs in res['seeds'].values():
            for run in runs:
                if run['round'] in args.checkpoints:
                    jobs += [theta_job(run['theta'], s, args.retrain_iters, args.batch_size,
                                       data_root, base, args.lr) for s in args.retrain_seeds]
    # the same theta after several rounds is retrained once
    unique = list({ResultStore.key(j): j for j in jobs}.values())
    results = run_jobs(unique, args.workers, _print_job, store=store)
    return {ResultStore.key(j): r['test']['mIoU'] for j, r in zip(unique, results)}


def summarize(args, searches: Dict, test: Dict, data_root: str) -> Dict:
    base = osp.join(args.work_dir, 'retrain')

    def theta_miou(theta) -> float:
        return mean_std([test[ResultStore.key(theta_job(theta, s, args.retrain_iters,
                                                        args.batch_size, data_root, base,
                                                        args.lr))]
                         for s in args.retrain_seeds])[0]

    baselines = {}
    for k in BASELINES:
        vals = [test[ResultStore.key(baseline_job(k, s, args, data_root, base))]
                for s in args.retrain_seeds]
        baselines[k] = dict(label=BASELINES[k][0], runs=vals, mean=mean_std(vals)[0],
                            std=mean_std(vals)[1])
    rows = []
    for name, res in searches.items():
        if res['skipped']:
            rows.append(dict(controller=name, skipped=res['skipped']))
            continue
        for r in args.checkpoints:
            per_seed = {}
            for seed, runs in res['seeds'].items():
                run = next(x for x in runs if x['round'] == r)
                per_seed[seed] = dict(iters=run['iters'], reward=run['reward'],
                                      test=theta_miou(run['theta']))
            tests = [v['test'] for v in per_seed.values()]
            iters = [v['iters'] for v in per_seed.values()]
            rows.append(dict(controller=name, round=r, iters=max(iters), per_seed=per_seed,
                             test_mean=mean_std(tests)[0], test_std=mean_std(tests)[1],
                             above={k: sum(t > b['mean'] for t in tests)
                                    for k, b in baselines.items()}))
    return dict(rows=rows, baselines=baselines)


def write_report(args, summary: Dict, wall_s: float) -> str:
    b = summary['baselines']
    lines = [
        '# Search efficiency: retrained test mIoU against proxy-iterations', '',
        f'Command: `{command_line(__file__, args.argv)}` ({args.size} size; {wall_s / 60:.1f} min wall time this run, '
        f'{max(args.workers, 1)} process(es) x 1 torch thread; finished runs of earlier runs are '
        'reused).', '',
        f'Searches: mIoU surrogate, proxy setting **{args.setting}**'
        + (' with successive halving' if args.halving else '')
        + f', {args.samples} proxies per round, {args.rounds} rounds ({args.round_cost} '
        f"proxy-iterations per round{' + the shared warm-start run' if args.parsed['warm'] else ''}"
        f'), search seeds {args.search_seeds}'
        + ('' if args.earlier is None else ' (searches from '
           + ', '.join(f"`{x['path']}` (command `{x['command']}`)"
                       for x in args.earlier['sources']) + '; no proxy trained this run)')
        + f'. Retrained after rounds {args.checkpoints}: test '
        f'mIoU after {args.retrain_iters} iterations at lr {args.lr:g}, mean over seeds '
        f'{args.retrain_seeds}; the table gives the mean ± std of that over the search seeds.', '',
        ' '.join(f"{v['label']}: {v['mean']:.2f} ± {v['std']:.2f}." for v in b.values()), '',
        '| controller | after round | proxy-iterations | test mIoU | per search seed | '
        'search seeds above CE / Lovász / voc_miou |', '|---|---|---|---|---|---|']
    for r in summary['rows']:
        label = CONTROLLERS[r['controller']][0]
        if r.get('skipped'):
            lines.append(f"| {label} | — | — | not run: {r['skipped']} | — | — |")
            continue
        seeds = ', '.join(f"{v['test']:.2f}" for v in r['per_seed'].values())
        lines.append(f"| {label} | {r['round']} | {r['iters']} | {r['test_mean']:.2f} ± "
                     f"{r['test_std']:.2f} | {seeds} | "
                     + ' / '.join(f"{r['above'][k]}/{len(r['per_seed'])}" for k in BASELINES)
                     + ' |')
    lines += ['', f'Plot: `{osp.basename(osp.splitext(args.out)[0])}.png`.', '']
    return '\n'.join(lines)


def plot(args, summary: Dict) -> 'matplotlib.figure.Figure':
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in args.controllers:
        rows = [r for r in summary['rows'] if r['controller'] == name and not r.get('skipped')]
        if rows:
            ax.errorbar([r['iters'] for r in rows], [r['test_mean'] for r in rows],
                        yerr=[r['test_std'] for r in rows], marker='o', capsize=3,
                        label=CONTROLLERS[name][0])
    for style, v in zip(('--', ':', '-.'), summary['baselines'].values()):
        ax.axhline(v['mean'], ls=style, color='k', lw=1, label=v['label'])
    ax.set_xlabel('proxy-iterations spent')
    ax.set_ylabel('retrained test mIoU')
    ax.set_title(f'{args.setting}, {args.samples} proxies/round, {len(args.search_seeds)} '
                 'search seed(s)', fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def main(argv=None) -> int:
    args = parse_args(argv)
    start = start_study()
    data_root = ensure_dataset(args.data_root or osp.join(args.work_dir, 'data'), args.sizes)
    searches = (args.earlier['searches'] if args.earlier is not None else
                run_searches(args, data_root))
    test = run_retrains(args, data_root, searches)
    summary = summarize(args, searches, test, data_root)
    wall_s = time.perf_counter() - start
    write_results(args.out, write_report(args, summary, wall_s), dict(
        command=command_line(__file__, args.argv), size=args.size, setting=args.setting, halving=args.halving,
        samples=args.samples, rounds=args.rounds, checkpoints=args.checkpoints,
        search_seeds=args.search_seeds, retrain_seeds=args.retrain_seeds,
        retrain_iters=args.retrain_iters, lr=args.lr, searches=searches, summary=summary,
        searches_from=None if args.earlier is None else args.earlier['sources'],
        wall_s=round(wall_s, 1)), lambda: plot(args, summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
