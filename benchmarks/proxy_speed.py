"""Training speed of the tiny CPU proxies (iterations per second).

Builds each tiny model through MMSeg's registry and times full training
steps (data preprocessor, forward, loss, backward, SGD update) on random
64x64 batches, so data loading is excluded. Prints a table and writes
``benchmarks/results/proxy_speed.md``.

    python benchmarks/proxy_speed.py --threads 2 --batch 8 --iters 30
"""
import argparse
import os
import os.path as osp
import platform
import time

import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_autoloss  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODELS_CFG = {m: osp.join(REPO, 'configs', 'baseline', f'{m}-tiny_ce_synthetic-64x64.py')
              for m in ('deeplabv3plus', 'pspnet', 'hrnet')}


def fake_batch(batch: int, size: int, num_classes: int):
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(batch)]
    samples = []
    for _ in range(batch):
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, size, size)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def time_model(name: str, batch: int, size: int, iters: int, warmup: int, loss=None):
    cfg = Config.fromfile(MODELS_CFG[name])
    if loss is not None:
        cfg.model.decode_head.loss_decode = loss
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data = fake_batch(batch, size, cfg.model.decode_head.num_classes)
    n_params = sum(p.numel() for p in model.parameters())
    for i in range(warmup + iters):
        if i == warmup:
            start = time.perf_counter()
        batch_data = model.data_preprocessor(data, True)
        losses = model(**batch_data, mode='loss')
        total = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        total.backward()
        optim.step()
    return iters / (time.perf_counter() - start), n_params


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--out', default=osp.join(REPO, 'benchmarks', 'results', 'proxy_speed.md'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_all_modules()
    rows = []
    variants = [(m, 'CE', None) for m in MODELS_CFG]
    variants.append(('deeplabv3plus', 'AutoSegLoss mIoU (voc_miou)',
                     dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou')))
    for name, loss_name, loss in variants:
        its, n_params = time_model(name, args.batch, args.size, args.iters, args.warmup, loss)
        rows.append(f'| tiny {name} | {loss_name} | {n_params / 1e6:.2f} M | {its:.1f} | '
                    f'{1000 / its:.0f} |')
        print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    table = '\n'.join([
        '# Tiny proxy training speed (CPU)', '',
        f'{args.size}x{args.size}, batch {args.batch}, {args.threads} torch threads, '
        f'{args.iters} timed training steps after {args.warmup} warm-up steps, data loading '
        f'excluded; torch {torch.__version__}, {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} cores, 1-min load average {load:.1f} at the end of the run '
        '(other jobs on the machine slow it down).',
        f'Command: `python benchmarks/proxy_speed.py --threads {args.threads} --batch {args.batch} '
        f'--iters {args.iters}`', '',
        '| model | decode loss | params | it/s | ms/it |', '|---|---|---|---|---|', *rows, ''])
    with open(args.out, 'w') as f:
        f.write(table)
    print(table)


if __name__ == '__main__':
    main()
