"""Search AutoSegLoss parameters with proxy trainings (``LossSearchRunner``).

Examples::

    python tools/search.py configs/search/deeplabv3plus-tiny_miou_synthetic.py
    python tools/search.py CONFIG --work-dir work_dirs/s1 --resume
    torchrun --nproc_per_node=2 tools/search.py CONFIG --launcher pytorch
    srun -N2 --ntasks-per-node=8 python tools/search.py CONFIG --launcher slurm
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction

import mmseg_autoloss  # noqa: F401  (registers the plugin)
from mmseg.registry import RUNNERS


def parse_args():
    parser = argparse.ArgumentParser(description='Search surrogate-loss parameters')
    parser.add_argument('config', help='search config (runner_type=LossSearchRunner, search=...)')
    parser.add_argument('--work-dir', help='where the ledger, state and results go')
    parser.add_argument('--resume', action='store_true',
                        help='continue the search in work_dir without re-running finished proxies')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings, e.g. search.rounds=4 search.proxy.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.resume = args.resume
    cfg.launcher = args.launcher
    cfg.setdefault('runner_type', 'LossSearchRunner')
    runner = RUNNERS.build(cfg)
    best = runner.train()
    if runner.rank == 0:
        print(f"best {best['target_metric']} surrogate: hold-out reward {best['reward']:.4f}; "
              f"written to {osp.join(runner.work_dir, 'best_loss.json')}")
        print(json.dumps({k: best[k] for k in ('target_metric', 'parameterization', 'num_pieces',
                                               'theta')}))


if __name__ == '__main__':
    main()
