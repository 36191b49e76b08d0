"""Command-line plumbing shared by ``tools/train.py``, ``test.py`` and ``search.py``."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

__all__ = ['add_common_args', 'parse_common', 'load_config']


def add_common_args(parser: argparse.ArgumentParser, launchers=('none', 'pytorch', 'slurm', 'mpi')
                    ) -> argparse.ArgumentParser:
    """MMSeg's shared options: ``--work-dir``, ``--cfg-options``, ``--launcher``,
    ``--local_rank``."""
    parser.add_argument('--work-dir', help='the dir to save logs, models and results')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value format '
                        '(e.g. train_cfg.max_iters=100 search.rounds=4)')
    parser.add_argument('--launcher', choices=list(launchers), default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def parse_common(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse and export ``LOCAL_RANK`` as torch.distributed.launch did."""
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with ``--cfg-options`` merged and the
    work dir set as MMSeg does (``--work-dir``, the config's, or
    ``./work_dirs/<config name>``)."""
    if not osp.isfile(args.config):
        raise SystemExit(f'config file {args.config!r} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
