"""Train a segmentor with MMSeg's Runner, with the plugin loaded.

MMSeg's own ``tools/train.py`` plus:

- ``--loss-params best_loss.json`` / ``--loss-preset NAME`` put searched (or
  published) surrogate parameters into every ``AutoSegLoss`` of the config;
- ``--launcher pytorch|slurm`` also works on CPU (gloo), e.g.
  ``torchrun --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch``.
"""
import argparse
import logging
import os.path as osp

import torch

from mmengine.logging import print_log
from mmengine.runner import Runner

import mmseg_autoloss  # noqa: F401  (registers the plugin, fixes checkpoint loading)
from mmseg_autoloss.utils.cli import add_common_args, load_config, parse_common
from mmseg_autoloss.utils.dist import configure_launcher
from mmseg_autoloss.surrogates.presets import get_preset, load_loss_params
from mmseg_autoloss.utils.loss_config import apply_loss_params


def parse_args():
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', action='store_true', default=False,
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training (bfloat16 on CPU)')
    parser.add_argument('--loss-params', nargs='+', default=[],
                        help='best_loss.json file(s) from tools/search.py: each puts its theta into '
                        'every AutoSegLoss with the same target_metric')
    parser.add_argument('--loss-preset', nargs='+', default=[],
                        help="published parameters by name, e.g. 'voc_miou' (one per target metric)")
    return parse_common(add_common_args(parser))


def loss_params_from_args(args):
    """The parameter sets chosen on the command line (one per target metric)."""
    chosen = [dict(load_loss_params(p), source=osp.abspath(p)) for p in args.loss_params]
    chosen += [dict(get_preset(name), source=f'preset:{name}') for name in args.loss_preset]
    metrics = [p['target_metric'] for p in chosen]
    dup = sorted({m for m in metrics if metrics.count(m) > 1})
    if dup:
        raise SystemExit(f'--loss-params/--loss-preset give target_metric {dup} more than once')
    return chosen


def main():
    args = parse_args()
    cfg = load_config(args)

    chosen = loss_params_from_args(args)
    for params in chosen:
        changed = apply_loss_params(cfg, params)
        print_log(f'AutoSegLoss parameters from {params["source"]} '
                  f'(target_metric={params["target_metric"]}) put into {len(changed)} loss(es): '
                  f'theta={[round(float(t), 6) for t in params["theta"]]}', logger='current')
    if chosen:
        # Saved with the run's config (work_dir/<config>.py) for provenance.
        cfg.autoloss_params = [dict(source=p['source'], target_metric=p['target_metric'],
                                    theta=list(p['theta'])) for p in chosen]

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper in ('AmpOptimWrapper', 'CPUAmpOptimWrapper'):
            print_log('AMP training is already enabled in your config.', logger='current',
                      level=logging.WARNING)
        else:
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

    cfg.resume = args.resume
    configure_launcher(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
