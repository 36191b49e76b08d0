"""Generate the synthetic shapes dataset in MMSeg's img_dir/ann_dir layout.

Example::

    python tools/make_synthetic_dataset.py data/synthetic_shapes \
        --splits train=160 val=48 test=48 --img-size 64 --num-classes 6
"""
import argparse

from mmseg_autoloss.datasets import generate_synthetic_dataset
from mmseg_autoloss.datasets.synthetic import label_statistics


def parse_splits(items):
    splits = {}
    for item in items:
        name, sep, n = item.partition('=')
        if not sep or not n.isdigit():
            raise SystemExit(f'--splits: expected NAME=COUNT, got {item!r}')
        splits[name] = int(n)
    return splits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument('--splits', nargs='+', default=['train=160', 'val=48', 'test=48'],
                        help='images per split as NAME=COUNT')
    parser.add_argument('--img-size', type=int, default=64)
    parser.add_argument('--num-classes', type=int, default=6)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--ignore-prob', type=float, default=0.3)
    parser.add_argument('--noise', type=float, default=0.25)
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args()
    meta = generate_synthetic_dataset(
        args.out_dir, parse_splits(args.splits), img_size=args.img_size,
        num_classes=args.num_classes, seed=args.seed, ignore_prob=args.ignore_prob,
        noise=args.noise, overwrite=args.overwrite)
    counts = label_statistics(args.out_dir, 'train', meta['num_classes'])
    total = counts.sum()
    print(f'wrote {args.out_dir}: splits {meta["splits"]}, {meta["img_size"]}x{meta["img_size"]}')
    for name, c in zip(meta['classes'] + ['(ignore)'], counts):
        print(f'  {name:>12s}: {100.0 * c / total:6.2f}% of train pixels')


if __name__ == '__main__':
    main()
