"""Transfer check: the mIoU surrogate searched with the tiny DeepLabV3+ proxy,
retrained with the tiny PSPNet and HRNet proxies, against CE on each.

The same protocol and code as ``benchmarks/compare_losses.py`` (lr from the
grid chosen on the val split with the first seed, then every seed on the test
split); only the defaults differ. Any option of compare_losses.py is accepted
and overrides these defaults.

    python benchmarks/transfer.py              # 3 seeds, writes benchmarks/results/transfer.md
    python benchmarks/transfer.py --losses ce autoseg_voc_miou autoseg_searched
"""
import os.path as osp
import shlex
import sys

from _common import REPO
from compare_losses import main as compare_main

DEFAULTS = ['--models', 'pspnet', 'hrnet', '--losses', 'ce', 'autoseg_searched',
            '--out', osp.join(REPO, 'benchmarks', 'results', 'transfer.md')]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    shown = 'python benchmarks/transfer.py' + ''.join(' ' + shlex.quote(a) for a in argv)
    # argparse keeps the last occurrence: the user's options win.
    return compare_main(DEFAULTS + argv, shown=shown)


if __name__ == '__main__':
    sys.exit(main())
