"""One-GPU check of the surrogate core (issue 16); about 5 minutes on one GPU.

Sections, each timed and reported in a markdown file:

1. compiled = eager on CUDA for every metric (float32 value and gradient,
   published presets, void pixels), and no host synchronization in the
   eager loss forward/backward (``torch.cuda.set_sync_debug_mode('error')``);
2. a 50-iteration tiny-proxy training (tiny DeepLabV3+, 64x64, batch 8)
   with AutoSegLoss on the decode and auxiliary heads, on CUDA;
3. a 2-round x 4-proxy loss search with ``models_per_device=4`` on one GPU
   (``tools/search.py`` on a generated synthetic set);
4. the loss's share of an R50-DeepLabV3+ 512x512 batch-8 training step
   (decode + auxiliary head; goals <= 5 % IoU family, <= 15 % BF1).

Without CUDA it says so and exits; ``--allow-cpu`` runs sections 1 and 2 on
the CPU at small sizes instead (a smoke run of the script itself).

    python benchmarks/gpu_check.py                      # writes benchmarks/results/gpu_check.md
    python benchmarks/gpu_check.py --allow-cpu --out /tmp/gpu_check_cpu.md
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import List

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from proxy_speed import Trainer, fake_batch  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
OUT = osp.join(REPO, 'benchmarks', 'results', 'gpu_check.md')
PRESET = {'mIoU': 'voc_miou', 'FWIoU': 'voc_fwiou', 'mAcc': 'voc_macc', 'gAcc': 'voc_gacc',
          'BIoU': 'voc_biou', 'BF1': 'voc_bf1'}
TINY = osp.join(REPO, 'configs', 'baseline', 'deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py')
SEARCH = osp.join(REPO, 'configs', 'search',
                  'deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py')


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def _loss_cfg(metric: str, **extra) -> dict:
    cfg = dict(type='AutoSegLoss', target_metric=metric, **extra)
    if metric in PRESET:
        cfg['preset'] = PRESET[metric]
    return cfg


def check_compiled_equals_eager(device: str, size: int) -> List[str]:
    from mmseg.registry import MODELS
    from mmseg_autoloss.surrogates import METRICS
    gen = torch.Generator().manual_seed(0)
    label = torch.randint(0, 5, (2, 1, size // 8, size // 8), generator=gen)
    label = torch.nn.functional.interpolate(label.float(), size=(size, size))[:, 0].long()
    label[0, :size // 8] = 255
    label = label.to(device)
    logits = (2 * torch.randn(2, 5, size, size, generator=gen)).to(device)
    rows = ['| metric | eager loss | compiled loss | max abs grad diff | host sync in eager |',
            '|---|---|---|---|---|']
    for metric in METRICS:
        out = []
        for compile in (False, True):
            loss = MODELS.build(_loss_cfg(metric, tol=2, compile=compile))
            loss(logits, label)  # first call: label check (a host read) and compilation
            z = logits.clone().requires_grad_(True)
            if device == 'cuda' and not compile:
                torch.cuda.set_sync_debug_mode('error')
            try:
                value = loss(z, label)
                value.backward()
                sync_free = 'none' if device == 'cuda' else 'n/a (CPU)'
            except RuntimeError as err:
                if 'synchroniz' not in str(err):
                    raise
                sync_free = f'SYNC: {str(err).splitlines()[0][:60]}'
                value = loss(z, label)
                value.backward()
            finally:
                if device == 'cuda':
                    torch.cuda.set_sync_debug_mode(0)
            out.append((value.item(), z.grad, sync_free))
        diff = (out[0][1] - out[1][1]).abs().max().item()
        ok = abs(out[0][0] - out[1][0]) < 1e-5 and diff < 1e-5
        rows.append(f'| {metric} | {out[0][0]:.6f} | {out[1][0]:.6f} | {diff:.2e}'
                    f'{"" if ok else " MISMATCH"} | {out[0][2]} |')
    return rows


def check_tiny_training(device: str, iters: int) -> List[str]:
    from mmengine.config import Config
    cfg = Config.fromfile(TINY)
    rows = ['| loss | iterations | first loss | last loss | ms/step (median) |',
            '|---|---|---|---|---|']
    data = fake_batch(8, 64, cfg.model.decode_head.num_classes)
    for metric in ('mIoU', 'BF1'):
        loss = _loss_cfg(metric, tol=2)
        trainer = Trainer(cfg.model, loss, dict(loss, loss_weight=0.4), device)
        times, values = [], []
        for _ in range(iters):
            times.append(trainer.step(data))
            values.append(trainer.last_loss)
        finite = all(v == v and abs(v) < 1e9 for v in values)
        rows.append(f'| AutoSegLoss {metric} (decode + aux) | {iters} | {values[0]:.4f} | '
                    f'{values[-1]:.4f}{"" if finite else " NOT FINITE"} | '
                    f'{1e3 * statistics.median(times[2:] or times):.1f} |')
    return rows


def check_search(work: str) -> List[str]:
    from mmseg_autoloss.datasets import generate_synthetic_dataset
    root = osp.join(work, 'synthetic')
    generate_synthetic_dataset(root, splits={'train': 64, 'val': 16, 'test': 16}, img_size=64,
                               num_classes=6, seed=0)
    opts = ['search.rounds=2', 'search.samples_per_round=4', 'search.workers.models_per_device=4',
            'search.proxy.max_iters=100']
    for split in ('train', 'val', 'test'):
        opts.append(f'{split}_dataloader.dataset.data_root={root}')
    cmd = [sys.executable, osp.join(REPO, 'tools', 'search.py'), SEARCH, '--work-dir',
           osp.join(work, 'search'), '--cfg-options', *opts]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1200)
    took = time.perf_counter() - start
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    return [f'Command: `{" ".join(cmd[1:])}` (data root and work dir under a temp dir)', '',
            f'exit code {proc.returncode}, {took:.0f} s', '', '```', *tail, '```']


def check_r50_share(device: str, batch: int, size: int, iters: int) -> List[str]:
    from mmengine.config import ConfigDict
    norm = dict(type='BN', requires_grad=True)
    model = ConfigDict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=255, size=(size, size)),
        backbone=dict(type='ResNetV1c', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                      dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm,
                      norm_eval=False, style='pytorch', contract_dilation=True),
        decode_head=dict(type='DepthwiseSeparableASPPHead', in_channels=2048, in_index=3,
                         channels=512, dilations=(1, 12, 24, 36), c1_in_channels=256,
                         c1_channels=48, dropout_ratio=0.1, num_classes=21, norm_cfg=norm,
                         align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        auxiliary_head=dict(type='FCNHead', in_channels=1024, in_index=2, channels=256,
                            num_convs=1, concat_input=False, dropout_ratio=0.1, num_classes=21,
                            norm_cfg=norm, align_corners=False,
                            loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    data = fake_batch(batch, size, 21)
    rows = ['| decode + aux loss | ms/step | x CE step | loss fwd+bwd ms | loss share | goal |',
            '|---|---|---|---|---|---|']
    variants = [('CE', None, None)] + [
        (m, _loss_cfg(m), _loss_cfg(m, loss_weight=0.4)) for m in PRESET]
    steps = [(name, Trainer(model, dec, aux, device)) for name, dec, aux in variants]
    times = {name: [] for name, _ in steps}
    for i in range(iters + 2):  # interleaved; two warm-up rounds
        for name, trainer in steps:
            t = trainer.step(data)
            if i >= 2:
                times[name].append(t)
    ce = statistics.median(times['CE'])
    from mmseg.registry import MODELS
    gen = torch.Generator().manual_seed(0)
    label = data['data_samples'][0].gt_sem_seg.data.repeat(batch, 1, 1).to(device)
    for name, _ in steps:
        med = statistics.median(times[name])
        if name == 'CE':
            rows.append(f'| CE | {1e3 * med:.0f} | 1.00x | | | |')
            continue
        # the loss alone on logits of the step's size, both heads' calls
        loss = MODELS.build(_loss_cfg(name))
        logits = torch.randn(batch, 21, size, size, generator=gen).to(device)
        loss(logits, label)
        lt = []
        for _ in range(5):
            z = logits.clone().requires_grad_(True)
            _sync(device)
            start = time.perf_counter()
            loss(z, label).backward()
            _sync(device)
            lt.append(2 * (time.perf_counter() - start))
        share = statistics.median(lt) / med
        goal = 0.15 if name == 'BF1' else 0.05
        rows.append(f'| {name} | {1e3 * med:.0f} | {med / ce:.2f}x | '
                    f'{1e3 * statistics.median(lt):.0f} | {100 * share:.1f} % | '
                    f'<= {100 * goal:.0f} % {"ok" if share <= goal else "MISSED"} |')
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--allow-cpu', action='store_true',
                        help='without CUDA, run sections 1-2 on the CPU at small sizes')
    parser.add_argument('--out', default=OUT)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        raise SystemExit('gpu_check.py: no CUDA device here (torch.cuda.is_available() is '
                         'False); run it on a GPU machine, or pass --allow-cpu for a CPU '
                         'smoke run of sections 1-2')
    device = 'cuda' if cuda else 'cpu'
    import mmseg_autoloss  # noqa: F401  (registers the plugin)
    from mmseg.utils import register_all_modules
    register_all_modules()
    if not cuda:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    sections = [('1. compiled = eager, no host sync',
                 lambda: check_compiled_equals_eager(device, 64 if cuda else 16)),
                ('2. tiny-proxy training with AutoSegLoss', lambda: check_tiny_training(
                    device, 50 if cuda else 3))]
    if cuda:
        work = tempfile.mkdtemp(prefix='gpu_check_')
        sections += [('3. 2-round x 4-proxy search, models_per_device=4',
                      lambda: check_search(work)),
                     ('4. loss share of an R50-DeepLabV3+ 512x512 batch-8 step',
                      lambda: check_r50_share(device, 8, 512, 5))]
    name = torch.cuda.get_device_name(0) if cuda else platform.processor() or 'CPU'
    parts = ['# GPU check of the surrogate core', '',
             f'{name}, torch {torch.__version__}; `python benchmarks/gpu_check.py'
             f'{" --allow-cpu" if not cuda else ""}`'
             + ('' if cuda else ' (NO CUDA: CPU smoke run of sections 1-2 at small sizes)'),
             '']
    total = time.perf_counter()
    for title, fn in sections:
        start = time.perf_counter()
        try:
            body = fn()
        except Exception:  # one failing section must not hide the others
            body = ['```', traceback.format_exc()[-2000:], '```']
        parts += [f'## {title} ({time.perf_counter() - start:.0f} s)', '', *body, '']
        print('\n'.join(parts[-len(body) - 3:]), flush=True)
    parts.append(f'Total {time.perf_counter() - total:.0f} s.')
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(parts) + '\n')
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
