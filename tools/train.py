"""Train a segmentor with MMSeg's Runner, with the plugin loaded.

MMSeg's own ``tools/train.py`` plus:

- ``--loss-params best_loss.json`` / ``--loss-preset NAME`` put searched (or
  published) surrogate parameters into every ``AutoSegLoss`` of the config
  (the rule of ``AutoSegLoss(theta_file=...)``: a setting of the file that
  the config contradicts is refused);
- ``--launcher pytorch|slurm`` also works on CPU (gloo), e.g.
  ``torchrun --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch``.

The options and their meaning live in :mod:`mmseg_autoloss.utils.cli`.
"""
import mmseg_autoloss  # noqa: F401  (registers the plugin, fixes checkpoint loading)
from mmseg_autoloss.utils.cli import build_runner, config_for_train, parse_train_args


def main(argv=None):
    args = parse_train_args(argv)
    build_runner(config_for_train(args), args.launcher).train()


if __name__ == '__main__':
    main()
