"""Searches on CamVid at a first user's budget, and their outputs retrained
beside the hand-made losses (issue 36, item 4).

1. **search**: for every controller of ``--controllers`` and search seed of
   ``--search-seeds``, one search with the CamVid search config (``--config``;
   the hold-out is sequence 0006R0) for ``--rounds`` x ``--samples`` proxies,
   ``--search-options`` on top (e.g. ``search.mix_ce=0.25``). Every search
   has its own work dir and resumes where it stopped (``--resume``).
2. **retrain**: each output (``best_loss.json``) joins
   :mod:`camvid_losses` as an arm (``--searched``), beside ``--losses``, with
   that study's store: every loss's lr bracketed on the same ladder by
   hold-out mIoU, then ``--seeds`` on all of train, reported on val with
   Welch's test against CE and the best loss. The hand-made runs already in
   the store are not trained again.

The table gives, per search, its controller, seed, proxies, wall time and
best hold-out reward; the retrained comparison is ``camvid_losses``'
report (``--out``)::

    python benchmarks/camvid_search.py --iters N --controllers ppo2 random tpe \\
        --search-seeds 0 1 2 --rounds 6 --samples 8
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import DictAction

from _camvid import DATA_ROOT, SHARED_SRC, check_distinct, ensure_camvid
from _common import REPO, command_line, quiet

CONFIG = 'configs/search/deeplabv3plus_r18-tiny_search-miou_1xb8-quick_camvid-128x128.py'
# None: the search config's own controller (PPO2 as the quick preset sets it)
CONTROLLERS = {'ppo2': None, 'random': dict(type='RandomSearchController'),
               'tpe': dict(type='TPEController'), 'cmaes': dict(type='CMAESController')}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=CONFIG, help='the search config')
    p.add_argument('--controllers', nargs='+', choices=list(CONTROLLERS), default=['ppo2'])
    p.add_argument('--search-seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--rounds', type=int, default=6)
    p.add_argument('--samples', type=int, default=8)
    p.add_argument('--search-options', nargs='+', action=DictAction, default={},
                   metavar='KEY=VALUE',
                   help='more --cfg-options of every search')
    p.add_argument('--stage', choices=['search', 'all'], default='all')
    p.add_argument('--iters', type=int, default=4000, help='retraining iterations')
    p.add_argument('--losses', nargs='+', default=['ce'],
                   help='hand-made losses retrained beside the searched ones')
    p.add_argument('--retrain-args', nargs=argparse.REMAINDER, default=[],
                   help='the rest goes to camvid_losses.py (e.g. --lrs ... --seeds ...)')
    p.add_argument('--data-root', default=DATA_ROOT)
    p.add_argument('--src', default=SHARED_SRC)
    p.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'camvid_search'))
    p.add_argument('--out', default=osp.join(REPO, 'benchmarks', 'results', 'camvid_search.md'))
    args = p.parse_args(argv)
    check_distinct(p, args, ('controllers', 'search_seeds'))
    if args.rounds < 1 or args.samples < 2:
        p.error(f'--rounds ({args.rounds}) >= 1 and --samples ({args.samples}) >= 2 are needed')
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def search_dir(args, controller: str, seed: int) -> str:
    return osp.join(args.work_dir, f'{controller}_seed{seed}')


def run_search(args, controller: str, seed: int) -> Dict:
    """One search through ``tools/search.py``'s own runner, resumed if it
    stopped; its ``best_loss.json``."""
    from mmengine.config import Config

    from mmseg_autoloss.search import LossSearchRunner
    cfg = Config.fromfile(args.config if osp.isabs(args.config) else osp.join(REPO, args.config))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': args.data_root, 'search.rounds': args.rounds,
        'search.samples_per_round': args.samples, 'search.seed': seed})
    cfg.merge_from_dict(args.search_options)
    if CONTROLLERS[controller] is not None:
        cfg.search.controller = dict(CONTROLLERS[controller])
    cfg.work_dir = search_dir(args, controller, seed)
    cfg.resume = osp.isfile(osp.join(cfg.work_dir, 'search_state.pth'))
    cfg.log_level = 'WARNING'
    return LossSearchRunner.from_cfg(cfg).train()


def report(args, searches: Dict[str, Dict]) -> str:
    lines = ['# Loss searches on CamVid', '', f'Command: `{command_line(__file__, args.argv)}`',
             '', f'Search config `{args.config}` + {args.search_options or "nothing"}; '
             f'{args.rounds} rounds x {args.samples} proxies; rewards on the hold-out sequence '
             '0006R0. The retrained comparison (every loss\'s lr bracketed on one ladder by '
             'hold-out mIoU, then seeds on all of train, reported on val): '
             f'[{osp.basename(args.retrain_out)}]({osp.basename(args.retrain_out)}).', '',
             '| search | proxies | wall time (min) | best round\'s mean hold-out reward |',
             '|---|---|---|---|']
    for name, best in searches.items():
        budget = best.get('budget', {})
        lines.append(f"| {name} | {budget.get('proxies_trained', '')} | "
                     f"{budget.get('wall_time_s', 0) / 60:.1f} | {100 * best['reward']:.2f} |")
    lines.append('')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    quiet()
    start = time.perf_counter()
    ensure_camvid(args.data_root, args.src)
    searches: Dict[str, Dict] = {}
    files: Dict[str, str] = {}
    for controller in args.controllers:
        for seed in args.search_seeds:
            name = f'{controller}_s{seed}'
            print(f'[search {name}] {search_dir(args, controller, seed)}', flush=True)
            searches[name] = run_search(args, controller, seed)
            files[name] = osp.join(search_dir(args, controller, seed), 'best_loss.json')
            print(f"[search {name}] best round's mean hold-out reward "
                  f"{100 * searches[name]['reward']:.2f}", flush=True)
    args.retrain_out = osp.splitext(args.out)[0] + '_retrained.md'
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(report(args, searches))
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(dict(command=command_line(__file__, args.argv), searches=searches), f,
                  indent=1)
    if args.stage == 'all':
        import camvid_losses
        camvid_losses.main(['--iters', str(args.iters), '--losses', *args.losses, '--searched',
                            *[f'{k}={v}' for k, v in files.items()], '--data-root', args.data_root,
                            '--src', args.src, '--out', args.retrain_out, *args.retrain_args])
    print(f'done in {(time.perf_counter() - start) / 60:.1f} min: {args.out}')


if __name__ == '__main__':
    main()
