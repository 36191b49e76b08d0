"""Command-line plumbing shared by ``tools/train.py``, ``test.py`` and ``search.py``.

Each tool is a parser (:func:`tool_parser` plus its own options) and a config
function (:func:`config_for_train`, :func:`config_for_test`) that turns the parsed
arguments into the Config the Runner gets, so that tests can check exactly
what a command line means without starting a run.
"""
import argparse
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

__all__ = ['add_common_args', 'tool_parser', 'parse_common', 'load_config',
           'parse_train_args', 'config_for_train', 'parse_test_args', 'config_for_test',
           'loss_params_from_args', 'build_runner', 'parse_cfg_options']

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_common_args(parser: argparse.ArgumentParser, launchers: Sequence[str] = LAUNCHERS
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


def parse_cfg_options(words: Sequence[str]) -> Dict:
    """``KEY=VALUE`` words as ``--cfg-options`` reads them (mmengine's
    ``DictAction``), for a script that also passes the words on."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='*', action=DictAction, default={})
    return parser.parse_args(['--cfg-options', *words]).cfg_options


def tool_parser(description: str, config_help: str, launchers: Sequence[str] = LAUNCHERS
                ) -> argparse.ArgumentParser:
    """A parser with the ``config`` argument and :func:`add_common_args`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help=config_help)
    return add_common_args(parser, launchers)


def parse_common(parser: argparse.ArgumentParser, argv: Optional[List[str]] = None
                 ) -> argparse.Namespace:
    """Parse and export ``LOCAL_RANK`` as torch.distributed.launch did."""
    args = parser.parse_args(argv)
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


def build_runner(cfg: Config, launcher: str):
    """Set up the launcher (gloo on CPU) and build the Runner."""
    from mmengine.runner import Runner

    from .dist import configure_launcher
    configure_launcher(cfg, launcher)
    return Runner.from_cfg(cfg)


# --------------------------------------------------------------------- train
def parse_train_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """``tools/train.py``'s options: MMSeg's plus ``--loss-params``/``--loss-preset``."""
    parser = tool_parser('Train a segmentor', 'train config file path')
    parser.add_argument('--resume', action='store_true', default=False,
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training (bfloat16 on CPU)')
    parser.add_argument('--loss-params', nargs='+', default=[],
                        help='best_loss.json file(s) from tools/search.py: each puts its theta into '
                        'every AutoSegLoss with the same target_metric')
    parser.add_argument('--loss-preset', nargs='+', default=[],
                        help="published parameters by name, e.g. 'voc_miou' (one per target metric)")
    return parse_common(parser, argv)


def loss_params_from_args(args: argparse.Namespace) -> List[Dict]:
    """The parameter sets chosen on the command line (one per target metric),
    each with ``source`` (for messages) and ``overridable`` (the keys the
    config may change, see :func:`~.loss_config.merge_loss_settings`)."""
    from mmseg_autoloss.surrogates.presets import get_preset, load_loss_params

    from .loss_config import PRESET_OVERRIDABLE
    chosen = [dict(load_loss_params(p), source=f'--loss-params {p!r}', overridable=())
              for p in args.loss_params]
    chosen += [dict(get_preset(name), source=f'--loss-preset {name!r}',
                    overridable=PRESET_OVERRIDABLE) for name in args.loss_preset]
    metrics = [p['target_metric'] for p in chosen]
    dup = sorted({m for m in metrics if metrics.count(m) > 1})
    if dup:
        raise SystemExit(f'--loss-params/--loss-preset give target_metric {dup} more than once')
    return chosen


def _apply_loss_args(cfg: Config, args: argparse.Namespace) -> None:
    from .loss_config import SETTING_KEYS, apply_loss_params
    chosen = loss_params_from_args(args)
    for params in chosen:
        try:
            changed = apply_loss_params(cfg, params, source=params['source'],
                                        overridable=params['overridable'])
        except ValueError as err:
            raise SystemExit(str(err)) from None
        settings = {k: params[k] for k in SETTING_KEYS if params.get(k) is not None}
        print_log(f'AutoSegLoss parameters from {params["source"]} put into {len(changed)} '
                  f'loss(es): {", ".join(f"{k}={v!r}" for k, v in settings.items())}, '
                  f'theta={[round(float(t), 6) for t in params["theta"]]}', logger='current')
    if chosen:
        # Saved with the run's config (work_dir/<config>.py) for provenance.
        cfg.autoloss_params = [dict(source=p['source'], target_metric=p['target_metric'],
                                    theta=list(p['theta'])) for p in chosen]


def _apply_amp(cfg: Config) -> None:
    import torch
    optim_wrapper = cfg.optim_wrapper.type
    if optim_wrapper in ('AmpOptimWrapper', 'CPUAmpOptimWrapper'):
        print_log('AMP training is already enabled in your config.', logger='current',
                  level=logging.WARNING)
        return
    if optim_wrapper != 'OptimWrapper':
        raise SystemExit(f'--amp needs optim_wrapper.type OptimWrapper, got {optim_wrapper!r}')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:  # mmengine's AmpOptimWrapper refuses CPU
        cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
        print_log('--amp on CPU: bfloat16 autocast is fast only on CPUs with native '
                  'bf16 (AVX512-BF16/AMX); elsewhere it is much slower than float32 '
                  '(measured here: ~70 s vs 0.1 s per tiny-proxy iteration)',
                  logger='current', level=logging.WARNING)


def config_for_train(args: argparse.Namespace) -> Config:
    """The Config ``tools/train.py`` runs for ``args`` (:func:`parse_train_args`)."""
    cfg = load_config(args)
    _apply_loss_args(cfg, args)
    if args.amp:
        _apply_amp(cfg)
    cfg.resume = args.resume
    return cfg


# ---------------------------------------------------------------------- test
def parse_test_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """``tools/test.py``'s options (MMSeg's)."""
    parser = tool_parser('Test (and eval) a segmentor', 'test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory to save the predicted label maps (format only)')
    parser.add_argument('--show-dir', help='directory to save painted predictions')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
    return parse_common(parser, argv)


def config_for_test(args: argparse.Namespace) -> Config:
    """The Config ``tools/test.py`` runs for ``args`` (:func:`parse_test_args`);
    an unreadable checkpoint is refused first, naming the file."""
    from .checkpoint import check_checkpoint_file
    try:
        check_checkpoint_file(args.checkpoint)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(str(err)) from None
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        if cfg.get('default_hooks', {}).get('visualization') is None:
            raise SystemExit('--show-dir needs default_hooks.visualization '
                             "(dict(type='SegVisualizationHook')) in the config")
        cfg.default_hooks.visualization.draw = True
        cfg.default_hooks.visualization.interval = 1
        cfg.visualizer.save_dir = args.show_dir
    if args.out is not None:
        cfg.test_evaluator['format_only'] = True
        cfg.test_evaluator['keep_results'] = True
        cfg.test_evaluator['output_dir'] = args.out
    if args.tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if cfg.get(k) is None]
        if missing:
            raise SystemExit(f'--tta needs {missing} in the config (as in MMSeg\'s '
                             '_base_/datasets/*.py)')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    return cfg
