"""Draw the g functions of an Auto Seg-Loss surrogate (PNG).

Examples::

    python tools/plot_surrogate.py --preset voc_miou --out miou.png
    python tools/plot_surrogate.py --target-metric mAcc --theta 0.1 0.8 0.3 0.9 0.5 0.5
    python tools/plot_surrogate.py --theta-file work_dirs/search/best_loss.json \
        --parameterization linear --out best.png

One panel per g (AND, OR; BF1: g1..g4) with its control points, the identity
g(y) = y of the naive surrogate (Eq. 8) dashed for reference.
"""
import argparse
import os.path as osp

from mmseg_autoloss.search.plots import plot_surrogate_curves
from mmseg_autoloss.surrogates import (DEFAULT_NUM_PIECES, METRICS, get_preset,
                                       load_loss_params, theta_to_control_points)


def resolve(args) -> dict:
    """Metric, parameterization, pieces and control points from the arguments."""
    sources = [s for s in ('preset', 'theta', 'control_points', 'theta_file')
               if getattr(args, s) is not None]
    if len(sources) > 1:
        raise SystemExit(f'give one of --preset, --theta, --control-points, --theta-file; '
                         f'got {sources}')
    if args.preset or args.theta_file:
        p = get_preset(args.preset) if args.preset else load_loss_params(args.theta_file)
        for key in ('target_metric', 'num_pieces'):
            given = getattr(args, key)
            if given is not None and given != p[key]:
                raise SystemExit(f'--{key.replace("_", "-")} {given} contradicts the source '
                                 f'({p[key]})')
        param = args.parameterization or p['parameterization']
        return dict(metric=p['target_metric'], param=param, n=p['num_pieces'],
                    points=p['control_points'], title=args.preset or osp.basename(
                        args.theta_file))
    metric = args.target_metric or 'mIoU'
    n = args.num_pieces or DEFAULT_NUM_PIECES[metric]
    if args.control_points is not None:
        points = args.control_points
    elif args.theta is not None:
        points = theta_to_control_points(args.theta, n).tolist()
    else:
        points = None
    return dict(metric=metric, param=args.parameterization or 'bezier', n=n, points=points,
                title='identity' if points is None else 'custom')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--preset', help='e.g. voc_miou, voc_bf1')
    parser.add_argument('--theta', type=float, nargs='+', help='free parameters in [0, 1]')
    parser.add_argument('--control-points', type=float, nargs='+', dest='control_points',
                        help='absolute control points (B_1u, B_1v, ...)')
    parser.add_argument('--theta-file', dest='theta_file', help='best_loss.json of a search')
    parser.add_argument('--target-metric', dest='target_metric', choices=METRICS)
    parser.add_argument('--parameterization', choices=['bezier', 'linear'])
    parser.add_argument('--num-pieces', dest='num_pieces', type=int)
    parser.add_argument('--out', default='surrogate.png', help='PNG path')
    args = parser.parse_args()
    cfg = resolve(args)
    plot_surrogate_curves(cfg['metric'], cfg['param'], cfg['n'], cfg['points'], args.out,
                          title=cfg['title'])
    print(f'{cfg["metric"]} ({cfg["title"]}) written to {args.out}')


if __name__ == '__main__':
    main()
