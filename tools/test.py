"""Evaluate a checkpoint with MMSeg's Runner, with the plugin loaded."""
import argparse
import os.path as osp

from mmengine.runner import Runner

import mmseg_autoloss  # noqa: F401  (registers the plugin, fixes checkpoint loading)
from mmseg_autoloss.utils.cli import add_common_args, load_config, parse_common
from mmseg_autoloss.utils.dist import configure_launcher


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory to save the predicted label maps (format only)')
    parser.add_argument('--show-dir', help='directory to save painted predictions')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
    return parse_common(add_common_args(parser))


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        cfg.default_hooks.visualization.draw = True
        cfg.default_hooks.visualization.interval = 1
        cfg.visualizer.save_dir = args.show_dir
    if args.out is not None:
        cfg.test_evaluator['format_only'] = True
        cfg.test_evaluator['keep_results'] = True
        cfg.test_evaluator['output_dir'] = args.out
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    configure_launcher(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
