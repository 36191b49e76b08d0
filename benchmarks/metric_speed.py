"""Per-image evaluation cost: SegMetric (all metrics) vs MMSeg's IoUMetric.

Label maps come from the project's synthetic generator (shapes of many
sizes, thin lines, void regions); predictions are the labels shifted by a
few pixels with wrong-class regions pasted in, so boundaries are realistic.
Both evaluators see the same data samples through ``process`` (validation
batches of 1, and of 8 for the small images: SegMetric stacks same-size images
of a batch into one computation) and ``compute_metrics`` once; the table
reports the time per image, best of ``--repeats`` runs, single-threaded torch.

    python benchmarks/metric_speed.py            # writes benchmarks/results/metric_speed.md
    python benchmarks/metric_speed.py --quick    # smoke run
"""
import argparse
import os
import os.path as osp
import platform
import time
from typing import Callable, List

import numpy as np
import torch

import mmseg_autoloss  # noqa: F401  (registers SegMetric)
from mmseg.evaluation import IoUMetric
from mmseg_autoloss.datasets import make_sample
from mmseg_autoloss.evaluation import SegMetric

ALL_METRICS = ['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'mDice', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C',
               'mIoU_I_q', 'mIoU_C_q', 'mAcc_I', 'mAcc_C', 'mDice_I', 'mDice_C']
OUT = osp.join(osp.dirname(osp.abspath(__file__)), 'results', 'metric_speed.md')


def make_samples(size: int, num_classes: int, count: int, seed: int = 0) -> List[dict]:
    """Data samples in the layout MMSeg's metrics read (CPU tensors)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        _, label = make_sample(rng, size, num_classes)
        _, other = make_sample(rng, size, num_classes)
        pred = np.roll(label, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), (0, 1))
        pred = np.where(pred == 255, 0, pred)
        # a quarter of the image takes another map's classes: real mistakes
        y0, x0 = rng.integers(0, size // 2, 2)
        region = (slice(y0, y0 + size // 2), slice(x0, x0 + size // 2))
        pred[region] = np.where(other[region] == 255, pred[region], other[region])
        out.append(dict(pred_sem_seg=dict(data=torch.from_numpy(pred.astype(np.int64))[None]),
                        gt_sem_seg=dict(data=torch.from_numpy(label.astype(np.int64))[None])))
    return out


def time_metric(build: Callable, samples: List[dict], num_classes: int, repeats: int,
                batch: int = 1) -> float:
    """Best-of-``repeats`` seconds per image: process (batches) + compute_metrics."""
    meta = dict(classes=[f'c{i}' for i in range(num_classes)])
    best = float('inf')
    for _ in range(repeats):
        metric = build()
        metric.dataset_meta = meta
        start = time.perf_counter()
        for i in range(0, len(samples), batch):
            metric.process({}, samples[i:i + batch])
        metric.compute_metrics(metric.results)
        best = min(best, (time.perf_counter() - start) / len(samples))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='few images, one repeat')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('metric_speed', log_level='WARNING')  # keep tables out of stdout

    cases = [(512, 19, 4 if args.quick else 20, 1), (64, 19, 24 if args.quick else 200, 1),
             (64, 19, 24 if args.quick else 200, 8)]
    repeats = 1 if args.quick else args.repeats
    rows = []
    for size, c, n, batch in cases:
        samples = make_samples(size, c, n)
        t_iou = time_metric(lambda: IoUMetric(iou_metrics=['mIoU', 'mDice']), samples, c,
                            repeats, batch)
        t_all = time_metric(lambda: SegMetric(metrics=ALL_METRICS, tol=5), samples, c, repeats,
                            batch)
        t_nob = time_metric(
            lambda: SegMetric(metrics=[m for m in ALL_METRICS if m not in ('BIoU', 'BF1')]),
            samples, c, repeats, batch)
        rows.append((f'{size}x{size}', c, n, batch, t_iou * 1e3, t_all * 1e3, t_all / t_iou,
                     t_nob * 1e3, t_nob / t_iou))

    head = ('| image | classes | images | batch | IoUMetric ms/img | SegMetric all ms/img '
            '| ratio | SegMetric w/o BIoU,BF1 ms/img | ratio |')
    lines = [head, '|' + '---|' * 9]
    for r in rows:
        lines.append(f'| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | {r[5]:.2f} '
                     f'| {r[6]:.2f}x | {r[7]:.2f} | {r[8]:.2f}x |')
    table = '\n'.join(lines)
    print(table)
    note = (f'\nSegMetric "all" = {", ".join(ALL_METRICS)} (q = 1, 5; tol = 5). '
            f'torch {torch.__version__}, 1 thread, {platform.processor() or platform.machine()}'
            f'{", quick run" if args.quick else ""}. Time = process() per image + '
            'compute_metrics() amortized, best of runs.\n')
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('# Metric evaluation cost per image\n\n' + table + '\n' + note)
    print(note.strip())
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
