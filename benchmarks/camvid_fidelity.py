"""Which cheap proxy ranks losses on CamVid like a full training? (issue 36, item 2)

A panel of about 12 losses in the search space with the CE mix
(``search.mix_ce``; w = 1 is cross-entropy itself): CE, the naive surrogate
(identity g, alone and as 0.25 CE + 0.75, over all and over the present
classes), the authors' ``voc_miou`` (alone and mixed), and seeded
truncated-normal draws over the space. For each proxy setting of
``--settings`` (``scratchN`` / ``warmK+N``, ``@LR``: :mod:`proxy_fidelity`)
the panel is one round of ``LossSearchRunner`` on CamVid's search config (the
hold-out is sequence 0006R0), once per proxy seed. The truth: each loss
retrained at ``--retrain-iters`` (CE's plateau, ``camvid_plateau.md``) on the
selection split, hold-out mIoU, per retrain seed; its store is
``benchmarks/results/camvid_fidelity_truth.jsonl``, filled across sessions
(CE's runs are the plateau study's, read from ``--also-stores``).

Reported per setting: Spearman ρ of the mean proxy reward against the mean
truth, beside the truth's own seed-vs-seed ρ (what no proxy can beat), the
proxy's seed-vs-seed ρ, and the spread of the rewards across θ against
their spread across proxy seeds (a round can only tell θ apart when the
first is larger)::

    python benchmarks/camvid_fidelity.py --retrain-iters 8000 --lr 0.2 \
        --settings warm200+100@0.2 warm400+200@0.2 warm800+400@0.2 scratch600@0.2
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

from _camvid import (LEGACY_ROOTS, SPLIT_NAMES, add_also_stores, add_study_args, camvid_job,
                     check_distinct, ensure_camvid)
from _common import Job, ResultStore, command_line, mean_std, quiet, run_adaptive
from proxy_fidelity import (_register_panel_controller, ledger_records, parse_setting,
                            run_search, search_cfg, setting_cost, theta_digest)

SEARCH_CONFIG = 'configs/search/deeplabv3plus_r18-tiny_search-miou_1xb8-quick_camvid-128x128.py'
AUX_WEIGHT = 0.4
SIGMA = 0.25  # the draws spread over the space, wider than a search's sigma


def make_panel(n: int, seed: int = 0) -> List[Dict]:
    """``n`` named points of the mIoU space with the CE share w (13 numbers:
    the 12 of the two g's, then w) and their class mean."""
    import torch

    from mmseg_autoloss.search import truncnorm
    from mmseg_autoloss.surrogates import identity_theta
    from mmseg_autoloss.surrogates.presets import get_preset
    ident, voc = identity_theta('mIoU', 2), get_preset('voc_miou')['theta']
    fixed = [('CE (w = 1)', ident + [1.0], 'all'),
             ('naive surrogate (identity g)', ident + [0.0], 'all'),
             ('naive surrogate, present classes', ident + [0.0], 'present'),
             ('0.25 CE + 0.75 naive, present classes', ident + [0.25], 'present'),
             ("authors' voc_miou", voc + [0.0], 'all'),
             ("0.5 CE + 0.5 voc_miou", voc + [0.5], 'all')]
    panel = [dict(name=k, theta=[float(v) for v in t], class_reduction=c) for k, t, c in fixed]
    gen = torch.Generator().manual_seed(seed)
    for j in range(max(0, n - len(panel))):
        mu = torch.tensor((ident if j % 2 == 0 else voc) + [0.5], dtype=torch.float64)
        draw = truncnorm.sample(mu, torch.full_like(mu, SIGMA), gen)
        panel.append(dict(name=f"{'identity' if j % 2 == 0 else 'voc_miou'} + N(0, "
                          f'{SIGMA}²) draw {j // 2 + 1}', theta=[float(v) for v in draw],
                          class_reduction='all'))
    return panel[:n]


def truth_job(args, entry: Dict, seed: int) -> Job:
    """One panel loss retrained on the selection split (hold-out mIoU). CE
    (w = 1) is the model config's own CE: the plateau study's run at the
    same lr, length and seed, found in its store."""
    theta, w = entry['theta'][:-1], entry['theta'][-1]
    if w == 1.0:
        return camvid_job('deeplabv3plus', 'ce', args.retrain_iters, args.lr, seed,
                          args.data_root, args.work_dir, tag=dict(arm='ce', panel=entry['name']))

    def loss(weight: float) -> Dict:
        return dict(type='AutoSegLoss', target_metric='mIoU', num_pieces=2, theta=theta,
                    ce_weight=w, class_reduction=entry['class_reduction'], loss_weight=weight)
    name = f"fid_{theta_digest(entry['theta'])}_{entry['class_reduction']}"
    return camvid_job('deeplabv3plus', name, args.retrain_iters, args.lr, seed, args.data_root,
                      args.work_dir, decode_loss=loss(1.0), aux_loss=loss(AUX_WEIGHT),
                      tag=dict(arm=name, panel=entry['name']))


def proxy_rewards(args, panel: List[Dict], setting: Dict, seed: int) -> List[Optional[float]]:
    """Hold-out rewards (mIoU / 100) of the panel: one round of a search."""
    wd = osp.join(args.work_dir, 'proxies', f"{setting['name']}_seed{seed}")
    # one search per class mean: it is a setting of the space, not a number of theta
    rewards: List[Optional[float]] = [None] * len(panel)
    for reduction in sorted({p['class_reduction'] for p in panel}):
        idx = [i for i, p in enumerate(panel) if p['class_reduction'] == reduction]
        cfg_r = search_cfg(osp.join(wd, reduction), args.data_root, setting, seed, len(idx), 1,
                           args.proxy_batch_size, args.workers,
                           dict(type='PanelController', panel=[panel[i]['theta'] for i in idx]),
                           config=SEARCH_CONFIG)
        cfg_r.merge_from_dict({'search.mix_ce': 0.5, 'search.class_reduction': reduction})
        run_search(cfg_r)
        recs = {r['index']: r for r in ledger_records(cfg_r.work_dir) if r['round'] == 0}
        for j, i in enumerate(idx):
            rewards[i] = recs[j].get('reward') if j in recs else None
    return rewards


def spearman(a: Sequence[Optional[float]], b: Sequence[Optional[float]]) -> float:
    from scipy import stats
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    if len(pairs) < 3:
        return float('nan')
    return float(stats.spearmanr(*zip(*pairs))[0])


def analyse(args, panel, rewards: Dict[str, Dict[int, List]], truth: List[List[float]]) -> Dict:
    """ρ per setting against the truth, the truth's and each setting's
    seed-vs-seed ρ, and the spread of rewards across θ and across seeds."""
    truth_mean = [mean_std(t)[0] if t else None for t in truth]
    complete = [t for t in truth if len(t) >= 2]
    truth_rho = (spearman([t[0] for t in truth if len(t) >= 2],
                          [t[1] for t in truth if len(t) >= 2])
                 if len(complete) >= 3 else float('nan'))
    rows = []
    for setting in args.parsed:
        per_seed = rewards[setting['name']]
        seeds = sorted(per_seed)
        mean = [mean_std([per_seed[s][i] for s in seeds if per_seed[s][i] is not None])[0]
                if any(per_seed[s][i] is not None for s in seeds) else None
                for i in range(len(panel))]
        across_theta = mean_std([m for m in mean if m is not None])[1]
        across_seeds = mean_std([mean_std([per_seed[s][i] for s in seeds])[1]
                                 for i in range(len(panel))
                                 if all(per_seed[s][i] is not None for s in seeds)])[0]
        rows.append(dict(setting=setting['name'], cost_round8=setting_cost(setting, 8),
                         rho=spearman(mean, truth_mean), mean_reward=mean,
                         seed_rho=(spearman(per_seed[seeds[0]], per_seed[seeds[1]])
                                   if len(seeds) >= 2 else float('nan')),
                         spread_theta=across_theta, spread_seeds=across_seeds))
    return dict(rows=rows, truth_mean=truth_mean, truth_rho=truth_rho)


def report(args, panel, res: Dict, complete: bool) -> str:
    lines = ['# Proxy fidelity on CamVid' + ('' if complete else ' (PARTIAL: study running)'),
             '', f'Command: `{command_line(__file__, args.argv)}`', '',
             f'Panel: {len(panel)} losses of the mIoU space with the CE share w (below). Proxy '
             'reward: one round of LossSearchRunner on the CamVid search config (hold-out '
             f'sequence 0006R0), proxy seeds {args.proxy_seeds}. Truth: {SPLIT_NAMES["val"]} '
             f'mIoU after {args.retrain_iters} iterations at lr {args.lr:g} on the selection '
             f'split, retrain seeds {args.retrain_seeds}. ρ: Spearman over the panel.', '',
             f"The truth against itself (seed {args.retrain_seeds[0]} vs "
             f"{args.retrain_seeds[-1]}): ρ = {res['truth_rho']:.2f}.", '',
             '| proxy setting | proxy-iterations of an 8-proxy round | ρ vs truth | '
             'ρ proxy seed 0 vs 1 | spread across θ | spread across proxy seeds |',
             '|---|---|---|---|---|---|']
    for r in res['rows']:
        lines.append(f"| {r['setting']} | {r['cost_round8']} | {r['rho']:.2f} | "
                     f"{r['seed_rho']:.2f} | {100 * r['spread_theta']:.2f} | "
                     f"{100 * r['spread_seeds']:.2f} |")
    lines += ['', '| loss | truth (hold-out mIoU) | '
              + ' | '.join(r['setting'] for r in res['rows']) + ' |',
              '|---|---|' + '---|' * len(res['rows'])]
    for i, p in enumerate(panel):
        t = res['truth_mean'][i]
        lines.append(f"| {p['name']} | {'' if t is None else f'{t:.2f}'} | " + ' | '.join(
            '' if r['mean_reward'][i] is None else f"{100 * r['mean_reward'][i]:.2f}"
            for r in res['rows']) + ' |')
    lines.append('')
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--settings', nargs='+', default=['warm200+100@0.2', 'warm400+200@0.2',
                                                     'warm800+400@0.2', 'scratch600@0.2'])
    p.add_argument('--panel', type=int, default=12)
    p.add_argument('--proxy-seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--retrain-seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--retrain-iters', type=int, default=8000)
    p.add_argument('--lr', type=float, default=0.2, help="the truth's lr (CE's plateau lr)")
    p.add_argument('--proxy-batch-size', type=int, default=None)
    p.add_argument('--stage', choices=['proxies', 'truth', 'all'], default='all')
    add_also_stores(p)
    add_study_args(p, 'camvid_fidelity')
    args = p.parse_args(argv)
    check_distinct(p, args, ('settings', 'proxy_seeds', 'retrain_seeds'))
    try:
        args.parsed = [parse_setting(s) for s in args.settings]
    except ValueError as e:
        p.error(str(e))
    # >= 4: each class mean of the panel is a search round of >= 2 proxies
    if args.panel < 4 or args.retrain_iters < 1 or args.lr <= 0:
        p.error(f'--panel ({args.panel}) >= 4, --retrain-iters ({args.retrain_iters}) >= 1 and '
                f'--lr ({args.lr}) > 0 are needed')
    args.truth_store = osp.splitext(args.store)[0] + '_truth.jsonl'
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    quiet()
    start = time.perf_counter()
    ensure_camvid(args.data_root, args.src)
    _register_panel_controller()
    panel = make_panel(args.panel)
    rewards: Dict[str, Dict[int, List]] = {}
    if args.stage in ('proxies', 'all'):
        for setting in args.parsed:
            rewards[setting['name']] = {s: proxy_rewards(args, panel, setting, s)
                                        for s in args.proxy_seeds}
            print(f"[{setting['name']}] hold-out mIoU per θ: " + '; '.join(
                ', '.join('n/a' if v is None else f'{100 * v:.1f}' for v in r)
                for r in rewards[setting['name']].values()), flush=True)
    truth: Dict[tuple, float] = {}
    store = ResultStore(args.truth_store, LEGACY_ROOTS, also=args.also_stores)
    jobs = [truth_job(args, p, s) for s in args.retrain_seeds for p in panel]
    if args.stage in ('truth', 'all'):
        run_adaptive(jobs, args.workers, lambda j, r: [], store, last_start=args.last_start)
    for job in jobs:
        r = store.get(job)
        if r is not None:
            truth[(job.tag['panel'], job.seed)] = r['val']['mIoU']
    table = [[truth[(p['name'], s)] for s in args.retrain_seeds if (p['name'], s) in truth]
             for p in panel]
    complete = all(len(t) == len(args.retrain_seeds) for t in table) and bool(rewards)
    if not rewards:
        args.parsed = []
    res = analyse(args, panel, rewards, table)
    text = report(args, panel, res, complete)
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(dict(command=command_line(__file__, args.argv), panel=panel, rewards={
            k: {str(s): v for s, v in d.items()} for k, d in rewards.items()}, truth=table,
            rows=res['rows'], truth_rho=res['truth_rho'], complete=complete), f, indent=1)
    print(text)
    print(f'done in {(time.perf_counter() - start) / 60:.1f} min: {args.out}')


if __name__ == '__main__':
    main()
