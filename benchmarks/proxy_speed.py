"""Training-iteration cost of AutoSegLoss in the tiny DeepLabV3+ proxy vs CE.

One full training step (data preprocessor, forward, the loss on the decode
AND auxiliary heads as the retrain configs set it (auxiliary weight 0.4,
tol 2 for BIoU/BF1), backward, SGD update) on random 64x64 batches, data
loading excluded. All variants are built up front and stepped in turn
(interleaved: a drift in the machine's speed hits all alike); the table
gives the median step time and its ratio to the CE step. Goals (issue 16):
<= 1.10x CE for mIoU, FWIoU, mAcc, gAcc, BIoU; BF1 <= 1.8x eager and
<= 1.35x with compile=True.

    python benchmarks/proxy_speed.py --threads 2 --batch 8 --iters 40
"""
import argparse
import copy
import os
import os.path as osp
import platform
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_autoloss  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'baseline',
                  'deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py')
OUT = osp.join(REPO, 'benchmarks', 'results', 'proxy_speed.md')
PRESET = {'mIoU': 'voc_miou', 'FWIoU': 'voc_fwiou', 'mAcc': 'voc_macc', 'gAcc': 'voc_gacc',
          'BIoU': 'voc_biou', 'BF1': 'voc_bf1'}
GOAL = {'mIoU': 1.10, 'FWIoU': 1.10, 'mAcc': 1.10, 'gAcc': 1.10, 'BIoU': 1.10, 'BF1': 1.8,
        'BF1 (compile)': 1.35}


def variants():
    """(name, decode loss, auxiliary loss); None keeps the config's CE."""
    out = [('CE', None, None)]
    for metric, preset in PRESET.items():
        loss = dict(type='AutoSegLoss', target_metric=metric, preset=preset)
        if metric in ('BIoU', 'BF1'):
            loss['tol'] = 2
        out.append((metric, loss, dict(loss, loss_weight=0.4)))
    bf1 = dict(out[-1][1], compile=True)
    out.append(('BF1 (compile)', bf1, dict(bf1, loss_weight=0.4)))
    return out


def fake_batch(batch: int, size: int, num_classes: int, seed: int = 0):
    """A data batch as MMSeg's dataloader yields it (uint8 images, blocky
    labels in blocks of size/8 with a void strip)."""
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=gen)
              for _ in range(batch)]
    samples = []
    for _ in range(batch):
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size)))
        # blocky labels with a void strip: real boundaries
        lab = torch.randint(0, num_classes, (1, 1, 8, 8), generator=gen)
        lab = torch.nn.functional.interpolate(lab.float(), size=(size, size))[0].long()
        lab[:, :, :max(1, size // 20)] = 255
        s.gt_sem_seg = PixelData(data=lab)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


class Trainer:
    """One model with its optimizer; :meth:`step` is one training iteration.

    Args:
        model_cfg: The ``model`` section of a config.
        decode, aux: Loss configs of the decode and auxiliary heads (None
            keeps the config's).
        device (str): 'cpu' or 'cuda' (synchronized around a step).
    """

    def __init__(self, model_cfg, decode=None, aux=None, device: str = 'cpu'):
        cfg = copy.deepcopy(model_cfg)
        if decode is not None:
            cfg.decode_head.loss_decode = decode
            cfg.auxiliary_head.loss_decode = aux
        torch.manual_seed(0)
        self.model = MODELS.build(cfg).to(device)
        self.model.init_weights()
        self.model.train()
        self.optim = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.cuda = device.startswith('cuda')
        self.last_loss = float('nan')

    def step(self, data) -> float:
        """Seconds of one training step (``last_loss``: its total loss)."""
        if self.cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        batch = self.model.data_preprocessor(data, True)
        losses = self.model(**batch, mode='loss')
        total = sum(v for k, v in losses.items() if 'loss' in k)
        self.optim.zero_grad()
        total.backward()
        self.optim.step()
        if self.cuda:
            torch.cuda.synchronize()
        took = time.perf_counter() - start
        self.last_loss = total.item()
        return took


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--out', default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    data = fake_batch(args.batch, args.size, cfg.model.decode_head.num_classes)
    runs = [(name, Trainer(cfg.model, dec, aux)) for name, dec, aux in variants()]
    times = {name: [] for name, _ in runs}
    for i in range(args.warmup + args.iters):
        for name, trainer in runs:
            t = trainer.step(data)
            if i >= args.warmup:
                times[name].append(t)
    ce = statistics.median(times['CE'])
    rows = []
    for name, _ in runs:
        med = statistics.median(times[name])
        goal = GOAL.get(name)
        verdict = '' if goal is None else f'<= {goal:.2f}x ' + (
            'ok' if med / ce <= goal else 'MISSED')
        rows.append(f'| {name} | {med * 1e3:.1f} | {med / ce:.3f}x | {verdict} |')
        print(rows[-1], flush=True)
    cmd = (f'python benchmarks/proxy_speed.py --threads {args.threads} --batch {args.batch} '
           f'--size {args.size} --iters {args.iters}')
    text = '\n'.join([
        '# AutoSegLoss in a tiny DeepLabV3+ proxy training step (CPU)', '',
        f'{args.size}x{args.size}, batch {args.batch}, {args.threads} torch threads, '
        f'{cfg.model.decode_head.num_classes} classes, loss on the decode and auxiliary heads '
        f"(weight 0.4) with the authors' presets (BIoU/BF1 tol 2), median of {args.iters} "
        f'interleaved steps after '
        f'{args.warmup} warm-up steps; torch {torch.__version__}, '
        f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1-min load '
        f'{os.getloadavg()[0]:.1f} at the end (the machine is shared).', '',
        f'Command: `{cmd}`', '',
        '| decode + aux loss | ms/step | x CE | goal |', '|---|---|---|---|', *rows, ''])
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
