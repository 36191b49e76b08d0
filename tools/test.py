"""Evaluate a checkpoint with MMSeg's Runner, with the plugin loaded.

MMSeg's own ``tools/test.py`` options (``--out``, ``--show-dir``, ``--tta``);
an empty or truncated checkpoint is refused naming the file. The options and
their meaning live in :mod:`mmseg_autoloss.utils.cli`.
"""
import mmseg_autoloss  # noqa: F401  (registers the plugin, fixes checkpoint loading)
from mmseg_autoloss.utils.cli import build_runner, config_for_test, parse_test_args


def main(argv=None):
    args = parse_test_args(argv)
    build_runner(config_for_test(args), args.launcher).test()


if __name__ == '__main__':
    main()
