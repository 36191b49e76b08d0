"""Searched surrogates against hand-made losses (tiny proxy, synthetic shapes).

Every loss trains the same tiny model (DeepLabV3+ by default) through MMSeg's
Runner with the same schedule, data and seeds; only the losses of the decode
and auxiliary heads differ (the auxiliary head gets the same loss at weight
0.4, except CE + BoundaryReCAMLoss, whose auxiliary head keeps CE as in
``configs/recam/``). Protocol (docs/method.md, docs/benchmarks.md):

1. each loss gets its SGD learning rate from ``--lrs``, chosen on the VAL
   split with the first seed (on the loss's own target metric: mIoU, or
   BIoU/BF1 for the boundary surrogates);
2. at that learning rate every seed of ``--seeds`` is trained and evaluated
   on the TEST split with all metrics (the first seed's model is the one of
   step 1; nothing of the test split is read before the choice).

The searched parameters come from ``tools/search.py`` (``--searched
best_loss.json ...``, one arm per file: e.g. the searches of several search
seeds); its hold-out split is taken from the train split, so val and test
were never seen by the search. ``--run-search`` runs that search (budget
``--search-budget``, the quick-start default) when the file is missing.
``--plateau`` also trains CE twice as long (same lr grid and protocol) and
reports the gain: a comparison is honest only where CE is near its plateau.
``--store FILE`` keeps every finished run, so an interrupted comparison
resumes.

    python benchmarks/compare_losses.py --run-search          # default size
    python benchmarks/compare_losses.py --full --run-search   # bigger setting
    python benchmarks/compare_losses.py --iters 800 --lrs 0.2 0.4 0.8 1.6 --plateau \
        --losses ce lovasz autoseg_voc_miou autoseg_searched \
        --searched work_dirs/demo_s0/search/best_loss.json work_dirs/demo_s1/search/best_loss.json
    python benchmarks/compare_losses.py --models pspnet hrnet --losses ce autoseg_searched \
        --out benchmarks/results/transfer.md                  # transfer check

Writes ``benchmarks/results/compare_losses.{md,png,json}`` (table of mean ±
std over seeds, best per metric in bold; grouped bars with std error bars;
every run's raw numbers).
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from _common import ALL_KEYS, REPO, Job, ResultStore, ensure_dataset, mean_std, quiet, run_jobs

from mmseg_autoloss.utils.stats import welch_verdict

MODEL_CONFIGS = {
    'deeplabv3plus': 'configs/baseline/deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py',
    'pspnet': 'configs/baseline/pspnet_r18-tiny_1xb8-400it_synthetic-64x64.py',
    'hrnet': 'configs/baseline/fcn_hr-tiny_1xb8-400it_synthetic-64x64.py',
}
MODEL_NAMES = {'deeplabv3plus': 'DeepLabV3+', 'pspnet': 'PSPNet', 'hrnet': 'HRNet'}
RECAM_CONFIG = 'configs/recam/deeplabv3plus_r18-tiny_ce+recam_1xb8-400it_synthetic-64x64.py'
SEARCH_CONFIG = 'configs/search/deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py'
DEFAULT_SEARCHED = 'work_dirs/search_miou/best_loss.json'
DEFAULT_SEARCHED_FULL = 'work_dirs/search_miou_full/best_loss.json'
AUX_WEIGHT = 0.4  # the auxiliary head's weight in MMSeg's configs
TOL = 2  # boundary tolerance of BIoU/BF1 and of the boundary losses (64x64 images)
HEADERS = {'aAcc': 'gAcc', 'mAcc': 'mAcc', 'mIoU': 'mIoU', 'FWIoU': 'FWIoU', 'BIoU': 'BIoU',
           'BF1': 'BF1', 'mIoU_I': 'mIoU^I', 'mIoU_C': 'mIoU^C', 'mIoU_C_q5': 'mIoU^C_5'}
PLOT_KEYS = ('mIoU', 'BIoU', 'BF1', 'mIoU_C_q5')

SIZES = dict(
    default=dict(iters=400, seeds=[0, 1, 2], sizes=(160, 48, 48), lrs=[0.01, 0.05],
                 data_root='data/synthetic_shapes', batch_size=8),
    full=dict(iters=1000, seeds=[0, 1, 2, 3, 4], sizes=(480, 96, 96), lrs=[0.01, 0.05, 0.1],
              data_root='data/synthetic_shapes_full', batch_size=8),
    smoke=dict(iters=4, seeds=[0], sizes=(8, 4, 4), lrs=[0.05], data_root=None, batch_size=4),
)
# rounds x proxies per round x proxy iterations of --run-search. The default
# is the quick-start search of `make demo` (SEARCH_CONFIG: a shared
# 200-iteration CE warm start, then 100 iterations per theta; 5,000
# proxy-iterations in all), chosen by benchmarks/proxy_fidelity.py.
SEARCH_BUDGET = dict(default=(6, 8, 300), full=(8, 16, 1000), smoke=(1, 2, 2))


def _ce(w: float) -> Dict:
    return dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=w, loss_name='loss_ce')


def _recam_loss(w: float) -> List[Dict]:
    from mmengine.config import Config
    loss = Config.fromfile(osp.join(REPO, RECAM_CONFIG)).model.decode_head.loss_decode
    loss = [l.to_dict() if hasattr(l, 'to_dict') else dict(l) for l in loss]
    for item in loss:
        item['loss_weight'] = item.get('loss_weight', 1.0) * w
    return loss


@dataclass
class Arm:
    """One loss of the comparison.

    Args:
        label: Name in the table.
        loss: ``loss(weight, searched_path)`` -> MMSeg ``loss_decode``.
        select_on: Val metric that picks the learning rate.
        aux_ce: Keep CE on the auxiliary head instead of the same loss.
    """
    label: str
    loss: Callable[[float, Optional[str]], Any]
    select_on: str = 'mIoU'
    aux_ce: bool = False


def _autoseg(**kw) -> Callable[[float, Optional[str]], Dict]:
    return lambda w, _s: dict(type='AutoSegLoss', loss_weight=w, **kw)


ARMS: Dict[str, Arm] = {
    'ce': Arm('CE', lambda w, _s: _ce(w)),
    'lovasz': Arm('Lovász-softmax (MMSeg)', lambda w, _s: dict(
        type='LovaszLoss', loss_type='multi_class', classes='present', per_image=False,
        reduction='none', loss_weight=w)),
    'dice': Arm('Dice (MMSeg)', lambda w, _s: dict(
        type='DiceLoss', use_sigmoid=False, loss_weight=w)),
    'jml': Arm('0.25 CE + 0.75 JML', lambda w, _s: [
        _ce(0.25 * w), dict(type='JaccardMetricLoss', loss_weight=0.75 * w)]),
    'autoseg_identity': Arm('AutoSeg mIoU, identity g', _autoseg(target_metric='mIoU')),
    'autoseg_voc_miou': Arm("AutoSeg mIoU, authors' θ", _autoseg(preset='voc_miou')),
    'autoseg_voc_biou': Arm("AutoSeg BIoU, authors' θ", _autoseg(preset='voc_biou', tol=TOL),
                            select_on='BIoU'),
    'autoseg_voc_bf1': Arm("AutoSeg BF1, authors' θ", _autoseg(preset='voc_bf1', tol=TOL),
                           select_on='BF1'),
    'autoseg_searched': Arm('AutoSeg mIoU, searched here',
                            lambda w, s: dict(type='AutoSegLoss', theta_file=s, loss_weight=w)),
    'ce_recam': Arm('CE + BoundaryReCAMLoss', lambda w, _s: _recam_loss(w), aux_ce=True),
}


def arm(key: str) -> Arm:
    """The arm of ``key``; ``autoseg_searched@K`` is the K-th ``--searched``
    file's arm, ``ce@2x`` CE trained twice as long (``--plateau``)."""
    base, _, k = key.partition('@')
    if not k:
        return ARMS[base]
    label = (f'{ARMS[base].label}, twice the iterations' if k == '2x' else
             f'{ARMS[base].label} #{int(k) + 1}')
    return Arm(label, ARMS[base].loss, ARMS[base].select_on, ARMS[base].aux_ce)


def searched_arms(losses: Sequence[str], files: Sequence[str]) -> Dict[str, str]:
    """``arm key -> best_loss.json``: one arm per searched file."""
    if 'autoseg_searched' not in losses:
        return {}
    if len(files) == 1:
        return {'autoseg_searched': files[0]}
    return {f'autoseg_searched@{k}': f for k, f in enumerate(files)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument('--full', action='store_true',
                      help='bigger setting: 1000 iterations, 5 seeds, 480/96/96 images, lr grid '
                      '{0.01, 0.05, 0.1}, data in data/synthetic_shapes_full')
    mode.add_argument('--smoke', action='store_true',
                      help='seconds-long check: CE and identity surrogate, 1 seed, 4 '
                      'iterations, 1 lr, 8/4/4 images in a temp dir, in this process')
    p.add_argument('--losses', nargs='+', choices=list(ARMS), default=None,
                   help='losses to compare (default: all; --smoke: ce autoseg_identity)')
    p.add_argument('--models', nargs='+', choices=list(MODEL_CONFIGS), default=['deeplabv3plus'])
    p.add_argument('--searched', nargs='+', default=None,
                   help=f'best_loss.json of the mIoU search, one arm of autoseg_searched per '
                   f'file (default {DEFAULT_SEARCHED}, --full: {DEFAULT_SEARCHED_FULL})')
    p.add_argument('--search-note', default='',
                   help='a sentence added to the report after the search budget (e.g. how a '
                   'resumed search was run)')
    p.add_argument('--run-search', action='store_true',
                   help='run the search first when --searched does not exist')
    p.add_argument('--search-budget', type=int, nargs=3, default=None,
                   metavar=('ROUNDS', 'PROXIES', 'ITERS'),
                   help='budget of --run-search (default 6 8 300, the quick-start search; '
                   '--full 8 16 1000)')
    p.add_argument('--plateau', action='store_true',
                   help="also train CE for twice --iters (same lr grid and protocol) and "
                   "report the gain")
    p.add_argument('--store', default=None,
                   help='a .jsonl file keeping every finished run: a rerun with the same '
                   'file (and the same --data-root) trains only what is missing')
    p.add_argument('--iters', type=int, default=None, help='training iterations per run')
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--seeds', type=int, nargs='+', default=None)
    p.add_argument('--lrs', type=float, nargs='+', default=None,
                   help='learning-rate grid, one chosen per loss on the val split')
    p.add_argument('--data-root', default=None, help='synthetic dataset root')
    p.add_argument('--sizes', type=int, nargs=3, default=None, metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--workers', type=int, default=None,
                   help='parallel training processes, 1 torch thread each (0: this process; '
                   'default 2, --smoke 0)')
    p.add_argument('--work-dir', default=None, help='runner work dirs (default: a temp dir)')
    p.add_argument('--out', default=None, help='markdown table (default '
                   'benchmarks/results/compare_losses.md; --smoke: under work_dirs/)')
    args = p.parse_args(argv)
    size = 'full' if args.full else 'smoke' if args.smoke else 'default'
    args.size = size
    for key, value in SIZES[size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.losses is None:
        args.losses = ['ce', 'autoseg_identity'] if args.smoke else list(ARMS)
    if args.workers is None:
        args.workers = 0 if args.smoke else 2
    if args.searched is None:
        args.searched = [DEFAULT_SEARCHED_FULL if args.full else DEFAULT_SEARCHED]
    if args.search_budget is None:
        args.search_budget = SEARCH_BUDGET[size]
    if args.out is None:
        args.out = (osp.join(REPO, 'work_dirs', 'compare_losses_smoke', 'compare_losses.md')
                    if args.smoke else osp.join(REPO, 'benchmarks', 'results', 'compare_losses.md'))
    if args.iters < 1 or args.batch_size < 1 or args.workers < 0:
        p.error(f'--iters ({args.iters}) and --batch-size ({args.batch_size}) must be >= 1, '
                f'--workers ({args.workers}) >= 0')
    if min(args.sizes) < 1:
        p.error(f'--sizes must be positive, got {args.sizes}')
    if any(lr <= 0 for lr in args.lrs):
        p.error(f'--lrs must be > 0, got {args.lrs}')
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f'--seeds must be distinct, got {args.seeds}')
    if min(args.search_budget) < 1 or args.search_budget[1] < 2:
        p.error(f'--search-budget needs rounds >= 1, proxies >= 2, iters >= 1, '
                f'got {args.search_budget}')
    if args.plateau and 'ce' not in args.losses:
        p.error('--plateau measures CE: add ce to --losses')
    if len(set(args.searched)) != len(args.searched):
        p.error(f'--searched files must be distinct, got {args.searched}')
    args.losses = list(dict.fromkeys(args.losses))
    args.models = list(dict.fromkeys(args.models))
    args.searched = [a if osp.isabs(a) else osp.join(REPO, a) for a in args.searched]
    args.searched_for = searched_arms(args.losses, args.searched)
    # the searched arm becomes one arm per file
    args.arms = [k for a in args.losses
                 for k in (list(args.searched_for) if a == 'autoseg_searched' else [a])]
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


# ---------------------------------------------------------------- the search
def search_command(args, searched: str, data_root: str) -> List[str]:
    r, m, it = args.search_budget
    return [sys.executable, osp.join(REPO, 'tools', 'search.py'), osp.join(REPO, SEARCH_CONFIG),
            '--work-dir', osp.dirname(searched), '--cfg-options',
            f'train_dataloader.dataset.data_root={data_root}', f'search.rounds={r}',
            f'search.samples_per_round={m}', f'search.proxy.max_iters={it}']


def check_searched(args) -> None:
    """Fail early, with the command that makes it, when a searched file is
    missing and --run-search is not given."""
    if args.run_search:
        return
    for path in args.searched_for.values():
        if not osp.isfile(path):
            cmd = search_command(args, path, args.data_root or 'DATA_ROOT')
            raise SystemExit(
                f'--searched {path} does not exist. Produce it with\n  '
                + ' '.join(shlex.quote(c) for c in cmd)
                + '\nor pass --run-search (runs that search first), or leave autoseg_searched '
                'out of --losses.')


def load_searched(args, data_root: str) -> Dict[str, Dict]:
    """``arm key -> searched parameters`` (running a search if asked and
    missing)."""
    out = {}
    for key, path in args.searched_for.items():
        if not osp.isfile(path):
            check_searched(args)
            cmd = search_command(args, path, data_root)
            print('running the search: ' + ' '.join(shlex.quote(c) for c in cmd), flush=True)
            subprocess.run(cmd, check=True, cwd=REPO)
        with open(path) as f:
            best = json.load(f)
        if best.get('target_metric') != 'mIoU':
            raise SystemExit(f'--searched {path}: target_metric={best.get("target_metric")!r}, '
                             "the comparison's searched arm is the mIoU surrogate")
        best['path'] = path
        out[key] = best
    return out


def budget_text(best: Optional[Dict]) -> str:
    if best is None:
        return 'no searched surrogate in this comparison.'
    b = best.get('budget', {})
    warm = b.get('warm_start')
    spent = (f", {b['proxy_iters_spent']:,} proxy-iterations"
             + (f" with a shared {warm['iters']}-iteration {warm.get('loss', 'CE')} warm start"
                if isinstance(warm, dict) else '') if b.get('proxy_iters_spent') else '')
    rel = _rel(best['path'])
    ho = best.get('hold_out', {})
    hold = (f"{ho['size']} images" if ho.get('size') else
            f"{ho.get('fraction', '?')} of the train split") if ho else '?'
    return (f"`{rel}`: mIoU surrogate searched with the tiny DeepLabV3+ proxy on the train split "
            f"(hold-out {hold}), {b.get('rounds', '?')} rounds × "
            f"{b.get('samples_per_round', '?')} proxies × {b.get('proxy_iters', '?')} iterations "
            f"({b.get('proxies_trained', '?')} proxies trained, {b.get('failed', '?')} failed"
            f"{spent}), search seed {best.get('seed', '?')}, "
            f"{b.get('wall_time_s', 0) / 60:.1f} min wall time with "
            f"{b.get('workers_per_process', '?')} worker process(es); best hold-out mIoU "
            f"{100 * best.get('reward', float('nan')):.2f}; "
            f"θ = {[round(t, 4) for t in best.get('theta', [])]}.")


# ------------------------------------------------------------------ the runs
def make_job(args, model: str, arm_key: str, lr: float, seed: int, splits: Tuple[str, ...],
             data_root: str, base: str, searched: Optional[str]) -> Job:
    spec = arm(arm_key)
    config = MODEL_CONFIGS[model]
    has_aux = model != 'hrnet'  # the tiny HRNet (FCN head) has no auxiliary head
    aux = None
    if has_aux:
        aux = _ce(AUX_WEIGHT) if spec.aux_ce else spec.loss(AUX_WEIGHT, searched)
    name = f'{model}_{arm_key.replace("@", "-")}_lr{lr:g}_s{seed}'
    return Job(config=config, work_dir=osp.join(base, name), seed=seed, iters=args.iters,
               batch_size=args.batch_size, data_root=data_root, lr=lr,
               decode_loss=spec.loss(1.0, searched), aux_loss=aux, splits=splits, tol=TOL,
               threads=1, name=name, tag=dict(model=model, arm=arm_key, lr=lr, seed=seed))


def best_lr(score_by_lr: Dict[float, float]) -> float:
    """The learning rate with the best score (the smaller lr on a tie)."""
    return max(sorted(score_by_lr), key=lambda lr: (score_by_lr[lr], -lr))


def choose_lr(val_by_lr: Dict[float, Dict[str, float]], metric: str) -> float:
    """The learning rate with the best VAL ``metric`` (the smaller lr on a tie)."""
    return best_lr({lr: m[metric] for lr, m in val_by_lr.items()})


def _progress(job: Job, r: Dict) -> None:
    t = job.tag
    parts = [f"{split} mIoU={r[split]['mIoU']:.2f}" for split in job.splits]
    print(f"[{MODEL_NAMES[t['model']]} | {arm(t['arm']).label} | {job.iters} it | lr "
          f"{t['lr']:g} | seed {t['seed']}] " + ', '.join(parts)
          + f" ({r['train_s']:.0f} s train)", flush=True)


def run_comparison(args, data_root: str, base: str,
                   store: Optional[ResultStore] = None) -> Dict:
    """Step 1 (the lr grid, first seed, val) and step 2 (the other seeds at
    the chosen lr, test) for every model and arm; with ``--plateau`` also for
    CE at twice the iterations (arm ``ce@2x``)."""
    first, rest = args.seeds[0], args.seeds[1:]
    arms = [(a, args.iters) for a in args.arms]
    if args.plateau:
        arms.append(('ce@2x', 2 * args.iters))

    def job(m, a, lr, seed, splits):
        key, n = a.split('@2x')[0], dict(arms)[a]
        j = make_job(argparse.Namespace(iters=n, batch_size=args.batch_size), m, key, lr, seed,
                     splits, data_root, base, args.searched_for.get(key))
        if n != args.iters:
            # the name stays: the store keys on iters already, so a later
            # --iters 2N run reuses these runs
            j.work_dir += f'_{n}it'
        j.tag = dict(j.tag, arm=a)
        return j

    grid = [job(m, a, lr, first, ('val', 'test')) for m in args.models for a, _ in arms
            for lr in args.lrs]
    grid_res = run_jobs(grid, args.workers, _progress, store=store)
    names = [a for a, _ in arms]
    val = {m: {a: {} for a in names} for m in args.models}
    for j, r in zip(grid, grid_res):
        val[j.tag['model']][j.tag['arm']][j.tag['lr']] = r['val']
    chosen = {m: {a: choose_lr(val[m][a], arm(a).select_on) for a in names}
              for m in args.models}
    # Step 2: the other seeds at the chosen lr; only now is test read.
    more = [job(m, a, chosen[m][a], s, ('test', )) for m in args.models for a in names
            for s in rest]
    more_res = run_jobs(more, args.workers, _progress, store=store)
    test = {m: {a: [] for a in names} for m in args.models}
    done = list(zip(grid, grid_res)) + list(zip(more, more_res))
    for j, r in done:
        m, a = j.tag['model'], j.tag['arm']
        if j.tag['lr'] == chosen[m][a]:
            test[m][a].append(dict(seed=j.tag['seed'], train_s=r['train_s'], **r['test']))
    for m in args.models:
        for a in names:
            test[m][a].sort(key=lambda r: r['seed'])
    runs = [dict(j.tag, iters=j.iters, train_s=r['train_s'], **{s: r[s] for s in j.splits})
            for j, r in done]
    return dict(chosen=chosen, val=val, test=test, runs=runs)


# ------------------------------------------------------------------- reports
def summarize(test_runs: List[Dict]) -> Dict[str, Tuple[float, float]]:
    return {k: mean_std([r[k] for r in test_runs]) for k in ALL_KEYS}


def verdicts(test: Dict[str, List[Dict]], arm: str, keys: Sequence[str]) -> List[str]:
    """'win'/'tie'/'lose' of ``arm`` against CE per metric: Welch's t-test
    over seeds at p < 0.05, else a tie."""
    return [str(welch_verdict([r[k] for r in test[arm]], [r[k] for r in test['ce']]))
            for k in keys]


def write_report(args, res: Dict, best: Dict[str, Dict], wall_s: float, plot_path: str) -> str:
    n = len(args.seeds)
    cmd = args.shown or 'python benchmarks/compare_losses.py' + ''.join(
        ' ' + shlex.quote(a) for a in args.argv)
    # A command holding a backtick needs a double-backtick code span.
    fence = '`` ' if '`' in cmd else '`'
    fence_end = fence[::-1]
    models = ', '.join(MODEL_NAMES[m] for m in args.models)
    root = res['data_root']
    where = osp.relpath(root, REPO) if root.startswith(REPO + os.sep) else 'a temp dir'
    lines = [
        f'# Loss comparison: tiny {models} on the synthetic shapes',
        '',
        f'Command: {fence}{cmd}{fence_end} ({args.size} size; {wall_s / 60:.1f} min wall time on this machine, '
        f'{max(args.workers, 1)} training process(es) × 1 torch thread).',
        '',
        f'Setting: tiny {models} from scratch, 64×64 images, 6 classes, '
        f'{args.sizes[0]}/{args.sizes[1]}/{args.sizes[2]} train/val/test images '
        f'(`{where}`); '
        f'{args.iters} SGD iterations, batch {args.batch_size}, momentum 0.9, poly lr; '
        f'the same seeds, data order and schedule for every loss. Learning rate per loss from '
        f'{{{", ".join(f"{lr:g}" for lr in args.lrs)}}}, chosen on the VAL split with seed '
        f'{args.seeds[0]} (on mIoU; on BIoU/BF1 for the boundary surrogates); then seeds '
        f'{args.seeds} at that lr, evaluated on the TEST split (mean ± std over {n} seed(s); '
        f'BIoU/BF1 with tol={TOL}; mIoU^C_5 = worst-case mIoU^C over the lowest 5% of images '
        'per class). Auxiliary head: the same loss at weight 0.4 (CE + ReCAM: CE). '
        'Best mean per metric in **bold**.',
        '',
    ]
    if len(best) > 1:
        lines += ['Searched surrogates:', '']
        lines += [f'- {arm(k).label}: {budget_text(b)}' for k, b in best.items()]
        if args.search_note.strip():
            lines += ['', args.search_note.strip()]
        lines += ['']
    else:
        lines += [f'Searched surrogate: {budget_text(next(iter(best.values()), None))}'
                  + (f' {args.search_note.strip()}' if args.search_note.strip() else ''), '']
    keys = ALL_KEYS
    for m in args.models:
        test = res['test'][m]
        summary = {a: summarize(test[a]) for a in args.arms}
        best_mean = {k: max(summary[a][k][0] for a in args.arms) for k in keys}
        if len(args.models) > 1:
            lines += [f'## {MODEL_NAMES[m]}', '']
        lines += ['| loss | lr | ' + ' | '.join(HEADERS[k] for k in keys) + ' |',
                  '|---|---|' + '---|' * len(keys)]
        for a in args.arms:
            cells = []
            for k in keys:
                mu, sd = summary[a][k]
                cell = f'{mu:.2f} ± {sd:.2f}' if n > 1 else f'{mu:.2f}'
                cells.append(f'**{cell}**' if mu == best_mean[k] else cell)
            lines.append(f'| {arm(a).label} | {res["chosen"][m][a]:g} | ' + ' | '.join(cells)
                         + ' |')
        lines += ['']
        if 'ce' in args.arms and len(args.arms) > 1:
            vk = ('mIoU', 'BIoU', 'BF1', 'mIoU_C_q5')
            lines += [f'Against CE ({MODEL_NAMES[m]}, test): mean difference in points; win/lose '
                      f"= Welch's t-test over the {n} seeds at p < 0.05, else tie.", '',
                      '| loss | ' + ' | '.join(HEADERS[k] for k in vk) + ' |',
                      '|---|' + '---|' * len(vk)]
            for a in args.arms:
                if a != 'ce':
                    lines.append(f'| {arm(a).label} | '
                                 + ' | '.join(verdicts(test, a, vk)) + ' |')
            lines += ['']
        lines += acceptance_lines(args, res, m, summary)
        lines += [f'Learning-rate choice ({MODEL_NAMES[m]}, VAL split, seed {args.seeds[0]}):',
                  '', '| loss | chosen on | ' + ' | '.join(f'lr {lr:g}' for lr in args.lrs)
                  + ' | chosen |', '|---|---|' + '---|' * (len(args.lrs) + 1)]
        for a in args.arms + (['ce@2x'] if args.plateau else []):
            metric = arm(a).select_on
            v = res['val'][m][a]
            edge = ' (edge)' if res['chosen'][m][a] in (min(args.lrs), max(args.lrs)) and \
                len(args.lrs) > 1 else ''
            lines.append(f'| {arm(a).label} | val {HEADERS[metric]} | '
                         + ' | '.join(f'{v[lr][metric]:.2f}' for lr in args.lrs)
                         + f' | {res["chosen"][m][a]:g}{edge} |')
        lines += ['']
    lines += [f'Plot: `{osp.basename(plot_path)}`; every run: '
              f'`{osp.basename(osp.splitext(args.out)[0])}.json`.', '']
    return '\n'.join(lines)


def acceptance_lines(args, res: Dict, m: str, summary: Dict) -> List[str]:
    """The two conditions that make the comparison honest (no loss at an end
    of the lr grid; CE near its plateau) and each searched arm's verdict on
    test mIoU against CE (Welch), the authors' theta and Lovász (means)."""
    test = res['test'][m]
    lines = [f'Is the comparison honest ({MODEL_NAMES[m]})?', '']
    edges = [f'{arm(a).label} ({res["chosen"][m][a]:g})' for a in res['chosen'][m]
             if len(args.lrs) > 1 and res['chosen'][m][a] in (min(args.lrs), max(args.lrs))]
    lines.append('- learning rates: ' + (
        'one value, no choice.' if len(args.lrs) == 1 else
        'every loss chose an inner value of the grid.' if not edges else
        'chosen at an end of the grid (the grid should be wider): ' + ', '.join(edges) + '.'))
    if args.plateau:
        one = mean_std([r['mIoU'] for r in test['ce']])
        two = mean_std([r['mIoU'] for r in test['ce@2x']])
        gain = two[0] - one[0]
        lines.append(f'- CE plateau: test mIoU {one[0]:.2f} ± {one[1]:.2f} at {args.iters} '
                     f'iterations, {two[0]:.2f} ± {two[1]:.2f} at {2 * args.iters} iterations (lr '
                     f'{res["chosen"][m]["ce@2x"]:g}): doubling gains {gain:+.2f} mIoU, '
                     + ('below 2: CE is near its plateau.' if gain < 2 else
                        'not below 2: CE is still learning; train longer.'))
    else:
        lines.append('- CE plateau: not measured (pass --plateau).')
    searched = [a for a in args.arms if a.startswith('autoseg_searched')]
    if searched and 'ce' in test:
        lines += ['', 'Searched surrogates on test mIoU: against CE by Welch\'s t-test over '
                  f'the {len(args.seeds)} seeds (p < 0.05), against the others by the mean.', '']
        header = ['loss', 'vs CE']
        others = [(k, arm(k).label) for k in ('autoseg_voc_miou', 'lovasz') if k in test]
        header += [f'vs {label}' for _, label in others]
        lines += ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
        wins = 0
        for a in searched:
            vs_ce = verdicts(test, a, ['mIoU'])[0]
            wins += '(win' in vs_ce
            cells = [vs_ce] + [f'{summary[a]["mIoU"][0] - summary[k]["mIoU"][0]:+.2f}'
                               for k, _ in others]
            lines.append(f'| {arm(a).label} | ' + ' | '.join(cells) + ' |')
        lines += ['', f'{wins} of {len(searched)} searched surrogate(s) beat CE (p < 0.05).']
    return lines + ['']


def plot(args, res: Dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    fig, axes = plt.subplots(1, len(args.models), squeeze=False,
                             figsize=(max(7, 1.1 * len(args.arms) + 3) * len(args.models), 4.5))
    width = 0.8 / len(args.arms)
    x = np.arange(len(PLOT_KEYS))
    for ax, m in zip(axes[0], args.models):
        for i, a in enumerate(args.arms):
            s = summarize(res['test'][m][a])
            ax.bar(x + (i - (len(args.arms) - 1) / 2) * width, [s[k][0] for k in PLOT_KEYS],
                   width, yerr=[s[k][1] for k in PLOT_KEYS], capsize=2, label=arm(a).label)
        ax.set_xticks(x, [HEADERS[k] for k in PLOT_KEYS])
        ax.set_ylabel('test, % (mean ± std over seeds)')
        ax.set_title(f'tiny {MODEL_NAMES[m]}, {args.iters} iters, {len(args.seeds)} seeds')
        ax.grid(axis='y', alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rel(path: str) -> str:
    """``path`` relative to the repository when it lies inside it."""
    return osp.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


def main(argv=None, shown: Optional[str] = None) -> int:
    """Run the comparison; ``shown`` is the command printed in the report
    (default: this script with ``argv``)."""
    args = parse_args(argv)
    args.shown = shown
    check_searched(args)
    import torch
    torch.set_num_threads(1)
    quiet()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data_root = ensure_dataset(args.data_root or osp.join(tmp, 'data'), args.sizes)
        best = load_searched(args, data_root)
        base = args.work_dir or osp.join(tmp, 'runs')
        store = ResultStore(args.store) if args.store else None
        res = run_comparison(args, data_root, base, store)
    res['data_root'] = data_root
    wall_s = time.perf_counter() - start
    stem = osp.splitext(args.out)[0]
    plot_path = stem + '.png'
    plot(args, res, plot_path)
    text = write_report(args, res, best, wall_s, plot_path)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    with open(stem + '.json', 'w') as f:
        json.dump(dict(command=args.shown, argv=[_rel(a) for a in args.argv], size=args.size,
                       iters=args.iters, seeds=args.seeds, lrs=args.lrs, sizes=list(args.sizes),
                       models=args.models, losses=args.losses, chosen_lr=res['chosen'],
                       wall_s=round(wall_s, 1),
                       plateau=args.plateau, test=res['test'],
                       searched={a: dict({k: b.get(k) for k in ('theta', 'reward', 'budget',
                                                                 'seed')},
                                         path=_rel(b['path'])) for a, b in best.items()},
                       runs=res['runs']), f, indent=1)
    print(text)
    print(f'written: {args.out}, {plot_path}, {stem}.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
