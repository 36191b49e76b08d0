"""Search AutoSegLoss parameters with proxy trainings (``LossSearchRunner``).

Examples::

    python tools/search.py configs/search/deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py
    python tools/search.py CONFIG --work-dir work_dirs/s1 --resume
    torchrun --nproc_per_node=2 tools/search.py CONFIG --launcher pytorch
    torchrun --nproc_per_node=2 --max-restarts=3 tools/search.py CONFIG --launcher pytorch
    srun -N2 --ntasks-per-node=8 python tools/search.py CONFIG --launcher slurm
"""
import json
import os.path as osp

import mmseg_autoloss  # noqa: F401  (registers the plugin)
from mmseg.registry import RUNNERS
from mmseg_autoloss.search import WorkDirLocked
from mmseg_autoloss.utils.cli import load_config, parse_common, tool_parser


def parse_args():
    parser = tool_parser('Search surrogate-loss parameters',
                         'search config (runner_type=LossSearchRunner, search=...)',
                         launchers=('none', 'pytorch', 'slurm'))
    parser.add_argument('--resume', action='store_true',
                        help='continue the search in work_dir without re-running finished proxies')
    return parse_common(parser)


def main():
    args = parse_args()
    cfg = load_config(args)
    cfg.resume = args.resume
    cfg.launcher = args.launcher
    cfg.setdefault('runner_type', 'LossSearchRunner')
    try:
        runner = RUNNERS.build(cfg)
    except WorkDirLocked as e:
        raise SystemExit(f'tools/search.py: {e}') from None
    best = runner.train()
    if runner.rank == 0:
        print(f"best {best['target_metric']} surrogate: hold-out reward {best['reward']:.4f}; "
              f"written to {osp.join(runner.work_dir, 'best_loss.json')}")
        print(json.dumps({k: best[k] for k in ('target_metric', 'parameterization', 'num_pieces',
                                               'theta')}))


if __name__ == '__main__':
    main()
