"""Which cheap proxy ranks losses like a full training? (the fidelity study)

For a fixed panel of about 12 mIoU-surrogate parameter vectors θ (identity g,
the authors' presets, the μ's of the committed 8-round search at several
rounds, and seeded truncated-normal draws around them), this measures

- each proxy setting's hold-out reward: one-round searches of the panel
  through ``LossSearchRunner`` itself (same splits, seeds, warm start and
  ledger as a real search), one search per proxy seed; settings: from scratch
  150/300/400 iterations, warm start K + 100/200 (one shared CE run of K
  iterations per search, then 100/200 iterations with θ), each at the
  training config's learning rate (0.05) or another (``@LR``);
- each θ's retrained TEST mIoU with a schedule near CE's plateau
  (``schedule_plateau.py``: tiny DeepLabV3+, 800 iterations, batch 8, the
  synthetic shapes' train split, auxiliary head at weight 0.4, lr 0.4, the
  rate CE picks on val at 800 iterations), mean over ``--retrain-seeds``;

and reports Spearman's rank correlation (``scipy.stats.spearmanr``) between
them per setting, with the setting's proxy cost. The picked setting is the
cheapest whose ρ is within ``--tolerance`` of the best ρ.

    python benchmarks/proxy_fidelity.py            # full study (see docs/search.md for its cost)
    python benchmarks/proxy_fidelity.py --quick    # seconds-long end-to-end check
    # the same rewards against a longer retraining (trains only the truth)
    python benchmarks/proxy_fidelity.py --rewards-from benchmarks/results/proxy_fidelity.json \
        --retrain-iters 1600 --lr 0.8 --out benchmarks/results/proxy_fidelity_1600it.md

Results are kept as they finish (the searches' ledgers, the retrains in
``<work-dir>/retrain.jsonl``); a rerun skips every finished run. Writes
``benchmarks/results/proxy_fidelity.{md,json,png}``.
"""
import argparse
import hashlib
import json
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

from _common import (REPO, add_retrain_args, command_line, ensure_dataset, Job, mean_std,
                     ResultStore, run_jobs, start_study, study_paths, write_results)

SEARCH_CONFIG = 'configs/search/deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py'
RETRAIN_CONFIG = 'configs/baseline/deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py'
SEARCH_8ROUNDS = 'benchmarks/results/search_miou_8rounds_best_loss.json'
AUX_WEIGHT = 0.4
SIGMA = 0.2  # the search's sampling sigma: draws look like what a search proposes
FAILED_BELOW_MEDIAN = 10.0  # mIoU points under the panel's median: a failed retraining
TRUTH_AGREES = 0.3  # the truth's seed-to-seed ρ over normal θ below which a pick means little

SIZES = dict(
    full=dict(settings=['scratch150', 'scratch150@0.4', 'warm200+100@0.4', 'scratch300@0.4',
                        'warm200+200@0.4', 'scratch400@0.4'],
              panel=12, proxy_seeds=[0, 1], retrain_seeds=[0, 1], retrain_iters=800, lr=0.4,
              sizes=(160, 48, 48), workers=2, data_root='data/synthetic_shapes', batch_size=8,
              work_dir='work_dirs/proxy_fidelity'),
    quick=dict(settings=['scratch4', 'warm2+2@0.1'], panel=3, proxy_seeds=[0], retrain_seeds=[0],
               retrain_iters=4, lr=0.05, sizes=(16, 4, 8), workers=0, data_root=None,
               batch_size=4,
               work_dir='work_dirs/proxy_fidelity_quick'),
)


def parse_setting(name: str) -> Dict:
    """'scratch400' -> 400 iterations from scratch; 'warm200+100' -> a
    shared 200-iteration CE run, then 100 with θ; a suffix '@0.4' sets the
    proxies' learning rate (``search.proxy.lr``; without it the training
    config's optimizer lr, whatever the search config's proxy lr)."""
    base, at, lr_text = name.partition('@')
    lr = None
    if at:
        try:
            lr = float(lr_text)
        except ValueError:
            lr = -1.0
        if not lr > 0:
            raise ValueError(f'proxy setting {name!r}: the learning rate after @ must be a '
                             f'number > 0, got {lr_text!r}')
    if base.startswith('scratch') and base[7:].isdigit() and int(base[7:]) > 0:
        return dict(name=name, iters=int(base[7:]), warm=None, lr=lr)
    if base.startswith('warm') and '+' in base:
        k, _, n = base[4:].partition('+')
        if k.isdigit() and n.isdigit() and int(k) > 0 and int(n) > 0:
            return dict(name=name, iters=int(k) + int(n), warm=int(k), lr=lr)
    raise ValueError(f"proxy setting {name!r}: write 'scratchN' (N iterations from scratch) or "
                     "'warmK+N' (a shared K-iteration CE run, then N with theta), optionally "
                     "with '@LR' (the proxies' learning rate)")


def setting_cost(setting: Dict, samples: int) -> int:
    """Proxy-iterations one round of ``samples`` proxies spends."""
    k = setting['warm'] or 0
    return k + samples * (setting['iters'] - k)


# -------------------------------------------------------------- the panel
def make_panel(n: int, seed: int = 0) -> List[Dict]:
    """``n`` named θ of the mIoU surrogate (bezier, 2 pieces per g)."""
    import torch

    from mmseg_autoloss.search import truncnorm
    from mmseg_autoloss.surrogates import identity_theta
    from mmseg_autoloss.surrogates.presets import get_preset, normalize_loss_params
    with open(osp.join(REPO, SEARCH_8ROUNDS)) as f:
        searched = json.load(f)
    mus = {h['round']: h['mu'] for h in searched['history']}
    # the FWIoU preset has the mIoU surrogate's shape (2 g's, 2 pieces)
    fwiou = normalize_loss_params(dict(get_preset('voc_fwiou'), target_metric='mIoU'))['theta']
    fixed = [('identity', identity_theta('mIoU', 2)), ('searched 8 rounds', searched['theta']),
             ("authors' voc_miou", get_preset('voc_miou')['theta']),
             ("authors' voc_fwiou", fwiou), ('8-round search, mu of round 3', mus[2]),
             ('8-round search, mu of round 5', mus[4]), ('8-round search, mu of round 7', mus[6])]
    around = [('searched 8 rounds', 2), ("authors' voc_miou", 1),
              ('8-round search, mu of round 5', 1), ('identity', 1)]
    gen = torch.Generator().manual_seed(seed)
    by_name = dict(fixed)
    panel = [dict(name=k, theta=[float(v) for v in t]) for k, t in fixed]
    for name, count in around:
        mu = torch.tensor(by_name[name], dtype=torch.float64)
        for j in range(count):
            draw = truncnorm.sample(mu, torch.full_like(mu, SIGMA), gen)
            panel.append(dict(name=f'{name} + N(0, {SIGMA}²) draw {j + 1}',
                              theta=[float(v) for v in draw]))
    if n > len(panel):
        raise ValueError(f'--panel {n}: at most {len(panel)} θ')
    return panel[:n]


def theta_digest(theta: Sequence[float]) -> str:
    return hashlib.sha1(json.dumps([round(float(t), 12) for t in theta]).encode()).hexdigest()[:10]


def _register_panel_controller() -> None:
    """A controller that proposes the panel once (a one-round 'search' is
    then exactly the search's proxies for each θ)."""
    import torch

    from mmseg_autoloss.search.controllers import CONTROLLERS, BaseController
    if CONTROLLERS.get('PanelController') is not None:
        return

    @CONTROLLERS.register_module()
    class PanelController(BaseController):

        def __init__(self, num_params: int, panel: Sequence[Sequence[float]],
                     samples_per_round: int = 1, init_mu=None, seed: int = 0) -> None:
            super().__init__(num_params, samples_per_round, init_mu, seed)
            self.panel = torch.tensor(panel, dtype=torch.float64)

        @property
        def mu(self):
            return self.init_mu.clone()

        @property
        def sigma(self):
            return None

        def _draw(self):
            return self.panel.clone()

        def _step(self, samples, rewards):
            i = int(torch.argmax(rewards))
            return dict(), samples[i], float(rewards[i])


# ------------------------------------------------------------ the searches
def search_cfg(work_dir: str, data_root: str, setting: Dict, seed: int, samples: int,
               rounds: int, batch_size: Optional[int], workers: int, controller: Dict,
               fidelity: Optional[Dict] = None, config: str = SEARCH_CONFIG):
    """The search config of one benchmark search (``config``, by default the
    quick CPU preset on the synthetic shapes, plus the benchmark's budget;
    ``batch_size`` None keeps the config's)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': data_root,
        'search.rounds': rounds,
        'search.samples_per_round': samples,
        'search.proxy.max_iters': setting['iters'],
        'search.workers.num_workers': workers,
        'search.seed': seed,
    })
    if batch_size is not None:
        cfg.search.proxy.batch_size = batch_size
    cfg.search.controller = controller
    # the setting alone decides: no '@LR' trains at the model config's lr, no
    # 'warmK' from scratch, whatever the search config says
    for key in ('lr', 'warm_start'):
        cfg.search.proxy.pop(key, None)
    if setting.get('lr') is not None:
        cfg.search.proxy.lr = setting['lr']
    if setting['warm']:
        cfg.search.proxy.warm_start = dict(iters=setting['warm'], loss='CE')
    if fidelity is not None:
        cfg.search.fidelity = fidelity
    cfg.work_dir = work_dir
    cfg.resume = True  # a rerun continues the ledger; a finished search only rewrites its outputs
    cfg.log_level = 'WARNING'
    return cfg


def run_search(cfg) -> Dict:
    """Run (or resume) one search in this process; its best_loss.json."""
    from mmseg_autoloss.search import LossSearchRunner
    return LossSearchRunner.from_cfg(cfg).train()


def ledger_records(work_dir: str) -> List[Dict]:
    from mmseg_autoloss.search import Ledger
    return Ledger(work_dir).records()


# -------------------------------------------------------------- retraining
def theta_job(theta: Sequence[float], seed: int, iters: int, batch_size: int, data_root: str,
              base: str, lr: float) -> Job:
    """Retrain the mIoU surrogate θ with the comparison's schedule."""
    def loss(w):
        return dict(type='AutoSegLoss', target_metric='mIoU', parameterization='bezier',
                    num_pieces=2, theta=[float(t) for t in theta], loss_weight=w)
    name = f'theta_{theta_digest(theta)}_s{seed}'
    return Job(config=RETRAIN_CONFIG, work_dir=osp.join(base, name), seed=seed, iters=iters,
               batch_size=batch_size, data_root=data_root, lr=lr, decode_loss=loss(1.0),
               aux_loss=loss(AUX_WEIGHT), splits=('test', ), metrics=('mIoU', 'mAcc', 'aAcc'),
               name=name, tag=dict(theta=theta_digest(theta), seed=seed))


def _print_job(job: Job, r: Dict) -> None:
    print(f"[retrain {job.name}] test mIoU={r['test']['mIoU']:.2f} ({r['train_s']:.0f} s)",
          flush=True)


# ------------------------------------------------------------------ study
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true',
                   help='seconds-long check: 3 θ, settings scratch4 and warm2+2, 1 proxy seed, '
                   '1 retrain seed of 4 iterations, 16/4/8 images')
    p.add_argument('--settings', nargs='+', default=None,
                   help="proxy settings: scratchN and/or warmK+N, each optionally @LR (the "
                   "proxies' learning rate; default: scratch150 scratch150@0.4 warm200+100@0.4 "
                   "scratch300@0.4 warm200+200@0.4 scratch400@0.4)")
    p.add_argument('--panel', type=int, default=None, help='number of θ (default 12)')
    p.add_argument('--proxy-seeds', type=int, nargs='+', default=None,
                   help='search seeds (one proxy per θ each; default 0 1)')
    p.add_argument('--rewards-from', default=None, metavar='JSON',
                   help="an earlier run's proxy_fidelity.json: its panel, settings, proxy seeds "
                   'and hold-out rewards are reused and only the retrained truth is trained '
                   '(e.g. with another --retrain-iters / --lr)')
    add_retrain_args(p)
    p.add_argument('--tolerance', type=float, default=0.1,
                   help='pick the cheapest setting with rho >= best rho - this')
    p.add_argument('--work-dir', default=None,
                   help='searches and retrains, kept for reruns (default work_dirs/proxy_fidelity)')
    p.add_argument('--out', default=None,
                   help='markdown table (default benchmarks/results/proxy_fidelity.md; --quick: '
                   'in the work dir)')
    args = p.parse_args(argv)
    size = 'quick' if args.quick else 'full'
    args.size = size
    args.earlier = None
    if args.rewards_from is not None:
        if args.settings is not None or args.proxy_seeds is not None or args.panel is not None:
            p.error('--rewards-from takes the panel, settings and proxy seeds from its file: '
                    'drop --settings, --proxy-seeds and --panel')
        try:
            with open(args.rewards_from) as f:
                args.earlier = json.load(f)
            args.settings = list(args.earlier['settings'])
            args.proxy_seeds = [int(s) for s in args.earlier['proxy_seeds']]
            args.panel = len(args.earlier['panel'])
        except (OSError, ValueError, KeyError, TypeError) as e:
            p.error(f'--rewards-from {args.rewards_from!r}: not a proxy_fidelity.json ({e})')
    for key, value in SIZES[size].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    try:
        args.parsed = [parse_setting(s) for s in args.settings]
    except ValueError as e:
        p.error(str(e))
    if args.workers < 0 or args.panel < 3 or args.retrain_iters < 1 or args.lr <= 0:
        p.error('--workers >= 0, --panel >= 3, --retrain-iters >= 1 and --lr > 0 are needed')
    if len(set(args.retrain_seeds)) < 2 and not args.quick:
        p.error('--retrain-seeds: give at least 2 distinct seeds')
    study_paths(args, 'proxy_fidelity', argv)
    return args


def run_study(args) -> Dict:
    from scipy import stats
    data_root = ensure_dataset(args.data_root or osp.join(args.work_dir, 'data'), args.sizes)
    panel = make_panel(args.panel)
    if args.earlier is not None and ([theta_digest(p['theta']) for p in panel]
                                     != [theta_digest(p['theta']) for p in args.earlier['panel']]):
        raise ValueError(f'--rewards-from {args.rewards_from}: its panel is not the panel this '
                         'code builds (the committed 8-round search changed?)')
    _register_panel_controller()
    thetas = [p['theta'] for p in panel]
    # the retrained ground truth first: every setting is ranked against it
    store = ResultStore(osp.join(args.work_dir, 'retrain.jsonl'))
    jobs = [theta_job(t, s, args.retrain_iters, args.batch_size, data_root,
                      osp.join(args.work_dir, 'retrain'), args.lr)
            for t in thetas for s in args.retrain_seeds]
    res = run_jobs(jobs, args.workers, _print_job, store=store)
    rewards: Dict[str, Dict[int, List[Optional[float]]]] = {}
    walls: Dict[str, float] = {}
    for setting in args.parsed:
        if args.earlier is not None:
            rewards[setting['name']] = {int(s): v for s, v in
                                        args.earlier['rewards'][setting['name']].items()}
            continue
        rewards[setting['name']] = {}
        for seed in args.proxy_seeds:
            wd = osp.join(args.work_dir, 'proxies', f"{setting['name']}_seed{seed}")
            t0 = time.perf_counter()
            cfg = search_cfg(wd, data_root, setting, seed, len(panel), 1, args.batch_size,
                             args.workers, dict(type='PanelController', panel=thetas))
            run_search(cfg)
            recs = {r['index']: r for r in ledger_records(wd) if r['round'] == 0}
            rewards[setting['name']][seed] = [recs[i]['reward'] if i in recs else None
                                             for i in range(len(panel))]
            walls[f"{setting['name']}_seed{seed}"] = time.perf_counter() - t0
            print(f"[{setting['name']} seed {seed}] hold-out mIoU: "
                  + ', '.join('n/a' if v is None else f'{100 * v:.1f}'
                              for v in rewards[setting['name']][seed]), flush=True)
    n_s = len(args.retrain_seeds)
    test = [[res[i * n_s + j]['test']['mIoU'] for j in range(n_s)] for i in range(len(panel))]
    test_mean = [mean_std(t)[0] for t in test]
    rows = []
    for setting in args.parsed:
        per_seed = rewards[setting['name']]
        mean_reward = [mean_std([per_seed[s][i] for s in args.proxy_seeds
                                 if per_seed[s][i] is not None])[0] for i in range(len(panel))]
        rho, p = stats.spearmanr(mean_reward, test_mean, nan_policy='omit')
        seed_rho = [float(stats.spearmanr([v if v is not None else float('nan')
                                           for v in per_seed[s]], test_mean,
                                          nan_policy='omit')[0]) for s in args.proxy_seeds]
        rows.append(dict(setting=setting['name'], iters=setting['iters'], warm=setting['warm'],
                         cost_per_proxy=setting['iters'] - (setting['warm'] or 0),
                         cost_round8=setting_cost(setting, 8), rho=float(rho), p=float(p),
                         rho_per_seed=seed_rho, mean_reward=mean_reward))
    def rho_of(a, b) -> float:
        return float(stats.spearmanr(a, b, nan_policy='omit')[0])

    # how far any proxy can rank: the retrained truth against itself
    # (seed against seed), and each setting's rewards seed against seed
    truth_rho = (rho_of([t[0] for t in test], [t[1] for t in test]) if n_s >= 2
                 else float('nan'))
    # robustness: the ranking among the θ that train normally (a θ whose
    # retraining fails dominates a rank correlation over a small panel)
    median = sorted(test_mean)[len(test_mean) // 2]
    normal = [i for i, v in enumerate(test_mean) if v >= median - FAILED_BELOW_MEDIAN]
    truth_rho_normal = (rho_of([test[i][0] for i in normal], [test[i][1] for i in normal])
                        if n_s >= 2 else float('nan'))
    for r in rows:
        r['rho_normal'] = rho_of([r['mean_reward'][i] for i in normal],
                                 [test_mean[i] for i in normal])
    for r in rows:
        per_seed = rewards[r['setting']]
        r['seed_agreement'] = (rho_of(*[[float('nan') if v is None else v for v in per_seed[s]]
                                        for s in args.proxy_seeds[:2]])
                               if len(args.proxy_seeds) >= 2 else float('nan'))
    # do short proxies rank like long ones (what successive halving relies on)
    between = {a['setting']: {b['setting']: rho_of(a['mean_reward'], b['mean_reward'])
                              for b in rows} for a in rows}
    finite = [r for r in rows if r['rho'] == r['rho']]
    picked = None
    if finite:
        best = max(r['rho'] for r in finite)
        picked = min((r for r in finite if r['rho'] >= best - args.tolerance),
                     key=lambda r: (r['cost_round8'], -r['rho']))['setting']
    return dict(panel=panel, rewards=rewards, test=test, test_mean=test_mean, rows=rows,
                picked=picked, data_root=data_root, walls=walls, truth_rho=truth_rho,
                between=between, normal=normal, truth_rho_normal=truth_rho_normal)


def write_report(args, res: Dict, wall_s: float) -> str:
    lines = [
        '# Proxy fidelity: do cheap proxies rank losses like retraining?', '',
        f'Command: `{command_line(__file__, args.argv)}` ({args.size} size; {wall_s / 60:.1f} min wall time this run, '
        f'{max(args.workers, 1)} process(es) x 1 torch thread; finished runs of earlier runs are '
        'reused).', '',
        f'Panel: {len(res["panel"])} mIoU-surrogate θ (table below). Hold-out reward: a one-round '
        f'search of the panel through LossSearchRunner (tiny DeepLabV3+ proxies, batch '
        f'{args.batch_size}, the search\'s train/hold-out split of {args.sizes[0]} train images), '
        f'proxy seeds {args.proxy_seeds} (their mean is ranked'
        + (f'; rewards from `{osp.relpath(osp.abspath(args.rewards_from), REPO)}`, command '
           f"`{args.earlier['command']}`" if args.earlier is not None else '')
        + f'). Retrained: test mIoU after '
        f'{args.retrain_iters} iterations at lr {args.lr:g} on the full train split, mean over '
        f'seeds {args.retrain_seeds}. ρ = Spearman rank correlation of the two over the panel '
        '(scipy.stats.spearmanr; p its two-sided p-value).', '',
        '| proxy setting | θ-iterations per proxy | shared warm-start run | proxy-iterations '
        'of an 8-proxy round | Spearman ρ (p) | ρ per proxy seed | ρ without failed θ | '
        'proxy seed 0 vs 1 |',
        '|---|---|---|---|---|---|---|---|']
    for r in res['rows']:
        lines.append(f"| {r['setting']} | {r['cost_per_proxy']} | "
                     f"{r['warm'] or '—'} | {r['cost_round8']} | {r['rho']:.2f} ({r['p']:.2g}) | "
                     + ', '.join(f'{v:.2f}' for v in r['rho_per_seed'])
                     + f" | {r['rho_normal']:.2f} | {r['seed_agreement']:.2f} |")
    failed = [res['panel'][i]['name'] for i in range(len(res['panel'])) if i not in res['normal']]
    lines += ['', f"'Without failed θ': the {len(res['normal'])} θ whose retrained test mIoU is "
              f'within {FAILED_BELOW_MEDIAN:g} points of the panel\'s median (left out: '
              + (', '.join(failed) or 'none') + ').']
    lines += ['', f"The retrained truth against itself (test mIoU of retrain seed "
              f"{args.retrain_seeds[0]} vs seed {args.retrain_seeds[-1]} over the panel): "
              f"ρ = {res['truth_rho']:.2f} (without failed θ: {res['truth_rho_normal']:.2f}). "
              "A proxy cannot be expected to rank the panel much "
              "better than the truth's own seeds agree."]
    lines += ['', f"Picked: **{res['picked']}** (the cheapest setting whose ρ is within "
              f'{args.tolerance:g} of the best).']
    if not res['truth_rho_normal'] >= TRUTH_AGREES:
        lines += ['', f"**The pick means little here**: the retrained truth's own seeds rank "
                  f"the θ that train normally with ρ = {res['truth_rho_normal']:.2f} (below "
                  f'{TRUTH_AGREES:g}), so the settings\' ρ come from spotting the failed θ and '
                  'this schedule cannot tell proxy settings apart.']
    lines += ['',
              '| θ | retrained test mIoU | ' + ' | '.join(r['setting'] for r in res['rows'])
              + ' |', '|---|---|' + '---|' * len(res['rows'])]
    for i, p in enumerate(res['panel']):
        mu, sd = mean_std(res['test'][i])
        lines.append(f"| {p['name']} | {mu:.2f} ± {sd:.2f} | "
                     + ' | '.join(f"{100 * r['mean_reward'][i]:.2f}" for r in res['rows'])
                     + ' |')
    names = [r['setting'] for r in res['rows']]
    lines += ['', 'Rank agreement between the settings\' rewards (Spearman ρ; short proxies '
              'that rank like long ones are what successive halving relies on):', '',
              '| | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)]
    for a in names:
        lines.append(f'| {a} | ' + ' | '.join(f"{res['between'][a][b]:.2f}" for b in names)
                     + ' |')
    lines += ['', 'Hold-out rewards in mIoU points (mean over proxy seeds). Plot: '
              f'`{osp.basename(osp.splitext(args.out)[0])}.png`.', '']
    return '\n'.join(lines)


def plot(args, res: Dict) -> 'matplotlib.figure.Figure':
    import matplotlib.pyplot as plt
    rows = res['rows']
    fig, axes = plt.subplots(1, len(rows) + 1, figsize=(3.2 * (len(rows) + 1), 3.4),
                             squeeze=False)
    for ax, r in zip(axes[0], rows):
        ax.scatter([100 * v for v in r['mean_reward']], res['test_mean'], s=16)
        ax.set_title(f"{r['setting']}: ρ={r['rho']:.2f}", fontsize=9)
        ax.set_xlabel('proxy hold-out mIoU')
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('retrained test mIoU')
    ax = axes[0][-1]
    ax.scatter([r['cost_round8'] for r in rows], [r['rho'] for r in rows])
    for r in rows:
        ax.annotate(r['setting'], (r['cost_round8'], r['rho']), fontsize=7)
    ax.set_xlabel('proxy-iterations per 8-proxy round')
    ax.set_ylabel('Spearman ρ')
    ax.grid(alpha=0.3)
    return fig


def main(argv=None) -> int:
    args = parse_args(argv)
    start = start_study()
    res = run_study(args)
    wall_s = time.perf_counter() - start
    write_results(args.out, write_report(args, res, wall_s), dict(
        command=command_line(__file__, args.argv), size=args.size, picked=res['picked'],
        settings=[r['setting'] for r in res['rows']], rows=res['rows'], panel=res['panel'],
        test=res['test'], rewards=res['rewards'], proxy_seeds=args.proxy_seeds,
        retrain_seeds=args.retrain_seeds, retrain_iters=args.retrain_iters, lr=args.lr,
        truth_rho=res['truth_rho'], truth_rho_normal=res['truth_rho_normal'],
        normal=res['normal'], between=res['between'], wall_s=round(wall_s, 1),
        rewards_from=args.rewards_from),
        lambda: plot(args, res))
    return 0


if __name__ == '__main__':
    sys.exit(main())
