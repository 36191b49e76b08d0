"""Forward+backward cost of AutoSegLoss per metric vs MMSeg's CE, Lovász, Dice.

Every loss gets the same logits (N, C, H, W) and labels (synthetic label maps
with void regions, ``ignore_index`` 255), as MMSeg's decode head calls it;
AutoSegLoss uses the authors' preset where one exists (Bézier, n = 2; BF1
n = 1), else the identity θ (same cost). Time is forward + backward, best of
``--repeats``, the losses timed round-robin, each timed call right after an
untimed one of the same loss (CPU: CPU time of the single-threaded process;
CUDA: synchronized wall time); memory is the peak extra memory of one
forward + backward (CUDA: ``max_memory_allocated``; CPU: growth of the
resident set's high-water mark, reset through ``/proc/self/clear_refs``).
Ratios are to CrossEntropyLoss on the same inputs. Guard rails (issue 16):
eager <= 6x CE for the IoU family (every metric but BF1) and <= 15x for BF1;
``compile=True`` <= 3x and <= 8x.

    python benchmarks/loss_speed.py                        # CPU (+ GPU if any)
    python benchmarks/loss_speed.py --sizes 2x8x64x64 --repeats 1   # smoke run
    python benchmarks/loss_speed.py --no-compile           # without the compile=True rows
"""
import argparse
import ctypes
import os
import os.path as osp
import platform
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

import mmseg_autoloss  # noqa: F401  (registers AutoSegLoss)
from mmseg.registry import MODELS
from mmseg_autoloss.datasets import make_sample
from mmseg_autoloss.surrogates import METRICS

OUT = osp.join(osp.dirname(osp.abspath(__file__)), 'results', 'loss_speed.md')
PRESET = {'mIoU': 'voc_miou', 'FWIoU': 'voc_fwiou', 'mAcc': 'voc_macc', 'gAcc': 'voc_gacc',
          'BIoU': 'voc_biou', 'BF1': 'voc_bf1'}
TARGET = {m: 15.0 if m == 'BF1' else 6.0 for m in METRICS}
TARGET_COMPILE = {m: 8.0 if m == 'BF1' else 3.0 for m in METRICS}


def loss_configs(compile: bool = True) -> List[Tuple[str, dict]]:
    """(row name, loss config); ``compile`` adds every metric with
    ``compile=True`` (rows named '… (compile)')."""
    cfgs = [('CrossEntropyLoss', dict(type='CrossEntropyLoss', use_sigmoid=False)),
            ('LovaszLoss', dict(type='LovaszLoss', loss_type='multi_class', per_image=False,
                                reduction='none')),
            ('DiceLoss', dict(type='DiceLoss', use_sigmoid=False))]
    autoseg = []
    for m in METRICS:
        cfg = dict(type='AutoSegLoss', target_metric=m)
        if m in PRESET:
            cfg['preset'] = PRESET[m]
        autoseg.append((m, cfg))
    cfgs += [(f'AutoSegLoss {m}', cfg) for m, cfg in autoseg]
    if compile:
        cfgs += [(f'AutoSegLoss {m} (compile)', dict(cfg, compile=True))
                 for m, cfg in autoseg]
    return cfgs


def make_inputs(n: int, c: int, h: int, w: int, device: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.stack([make_sample(rng, max(h, w), c)[1][:h, :w] for _ in range(n)])
    label = torch.from_numpy(labels.astype(np.int64)).to(device)
    gen = torch.Generator().manual_seed(seed)
    logits = (2 * torch.randn(n, c, h, w, generator=gen)).to(device)
    return logits, label


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _rss_kib(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _keep_heap() -> bool:
    """A steady glibc heap in this process: every block comes from the heap
    (no mmap) and freed memory is kept (fixed trim threshold).

    With the default dynamic thresholds, whichever loss runs after a large
    free pays the first-touch page faults of re-growing the heap, and the
    ratios measure allocator history rather than the losses. A 32 MiB mmap
    threshold (glibc's largest) is not enough: the 40 MB tensors at
    2x19x512x512 then came from the heap or from fresh mmaps depending on
    the free space the previous losses left, and CE's best of 10 read 40 ms
    in one run and 64 ms in the next.
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
        # M_MMAP_MAX = 0: no mmap'ed blocks; M_TRIM_THRESHOLD = 1 GiB
        return bool(libc.mallopt(-4, 0) and libc.mallopt(-1, 1 << 30))
    except (OSError, AttributeError):
        return False


def _reset_cpu_peak() -> Optional[int]:
    """Return freed heap to the OS and reset the RSS high-water mark."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        return None
    return _rss_kib('VmRSS')


def run_once(loss: torch.nn.Module, logits: torch.Tensor, label: torch.Tensor) -> None:
    z = logits.detach().requires_grad_(True)
    out = loss(z, label, weight=None, ignore_index=255)
    out.sum().backward()


def time_once(loss: torch.nn.Module, logits: torch.Tensor, label: torch.Tensor,
              device: str) -> float:
    """Seconds of one forward+backward.

    CPU: CPU time of this single-threaded process (``CLOCK_PROCESS_CPUTIME_ID``,
    user + system): the time other processes on a shared machine hold the
    core does not count, the page faults of fresh memory do (a training
    step pays them too). Not user time alone: the kernel splits a process's
    exact run time into user and system by tick samples, so for a 10 ms
    call the user share is off by up to a tick (4 ms) either way, and a
    best-of-N picks the luckiest under-count (CE at 128² read 5.7 ms
    against its 10.3-13 ms). CUDA: synchronized wall time.
    """
    if device.startswith('cuda'):
        _sync(device)
        start = time.perf_counter()
        run_once(loss, logits, label)
        _sync(device)
        return time.perf_counter() - start
    before = time.process_time()
    run_once(loss, logits, label)
    return time.process_time() - before


def peak_memory(loss: torch.nn.Module, logits: torch.Tensor, label: torch.Tensor,
                device: str) -> Optional[float]:
    """Peak extra MiB of one forward+backward (None where unknown)."""
    if device.startswith('cuda'):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        run_once(loss, logits, label)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    base = _reset_cpu_peak()
    run_once(loss, logits, label)
    hwm = _rss_kib('VmHWM')
    return None if base is None or hwm is None else (hwm - base) / 1024


def bench(size: Tuple[int, int, int, int], device: str, repeats: int,
          compile: bool = True) -> List[Dict]:
    logits, label = make_inputs(*size, device=device)
    losses = [(name, MODELS.build(cfg).to(device)) for name, cfg in loss_configs(compile)]
    best = {name: float('inf') for name, _ in losses}
    # Round-robin: a drift in the machine's speed (other tenants, memory
    # reclaim) hits every loss alike instead of whichever ran at that time.
    # An untimed call right before each timed one (the first is the
    # warm-up) gives every loss its own steady state of the allocator (a
    # loss timed right after Lovász would pay for re-faulting the memory
    # Lovász handed back).
    for _ in range(repeats):
        for name, loss in losses:
            run_once(loss, logits, label)
            best[name] = min(best[name], time_once(loss, logits, label, device))
    rows = [dict(name=name, time=best[name], mem=peak_memory(loss, logits, label, device))
            for name, loss in losses]
    ce = rows[0]
    for r in rows:
        r['ratio'] = r['time'] / max(ce['time'], 1e-9)  # a tick-quantized 0 must not crash
        r['mem_ratio'] = (r['mem'] / ce['mem']) if r['mem'] and ce['mem'] else None
    return rows


def fmt_table(size, device: str, rows: List[Dict]) -> str:
    lines = [f'**{device}, logits {"x".join(map(str, size))}**', '',
             '| loss | fwd+bwd ms | x CE | target | peak MiB | x CE |',
             '|---|---|---|---|---|---|']
    for r in rows:
        metric = r['name'].split(' ')[1] if r['name'].startswith('AutoSegLoss') else None
        limits = TARGET_COMPILE if r['name'].endswith('(compile)') else TARGET
        target = f'<= {limits[metric]:.0f}x' if metric else ''
        if metric:
            target += ' ok' if r['ratio'] <= limits[metric] else ' MISSED'
        mem = f'{r["mem"]:.0f}' if r['mem'] is not None else 'n/a'
        mem_ratio = f'{r["mem_ratio"]:.2f}x' if r['mem_ratio'] is not None else 'n/a'
        lines.append(f'| {r["name"]} | {r["time"] * 1e3:.1f} | {r["ratio"]:.2f}x | {target} '
                     f'| {mem} | {mem_ratio} |')
    return '\n'.join(lines)


def parse_size(text: str) -> Tuple[int, int, int, int]:
    parts = text.lower().split('x')
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SystemExit(f'--sizes: expected NxCxHxW, got {text!r}')
    return tuple(int(p) for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', nargs='+', default=['2x19x512x512'],
                        help='logit shapes NxCxHxW')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs (best is kept)')
    parser.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'],
                        help="'auto': CPU, and CUDA too when available")
    parser.add_argument('--threads', type=int, default=1, help='CPU threads for torch')
    parser.add_argument('--no-compile', action='store_true',
                        help='leave out the compile=True rows (no C++ compiler needed)')
    parser.add_argument('--out', default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kept = _keep_heap()
    devices = ['cpu'] if args.device == 'cpu' else ['cuda'] if args.device == 'cuda' else (
        ['cpu', 'cuda'] if torch.cuda.is_available() else ['cpu'])
    sizes = [parse_size(s) for s in args.sizes]
    tables = []
    for device in devices:
        for size in sizes:
            rows = bench(size, device, args.repeats, compile=not args.no_compile)
            tables.append(fmt_table(size, device, rows))
            print(tables[-1] + '\n', flush=True)
    gpu = torch.cuda.get_device_name(0) if 'cuda' in devices else None
    note = (f'torch {torch.__version__}, {args.threads} CPU thread(s), '
            f'{platform.processor() or platform.machine()}'
            f'{", " + gpu if gpu else ""}; best of {args.repeats} run(s), '
            'the losses timed round-robin, each right after an untimed run of itself (CPU: '
            'process CPU time, user + system; CUDA: synchronized wall time). '
            'Guard rails (issue 16): eager <= 6x CE time for the IoU family (all but BF1), '
            "<= 15x for BF1; compile=True <= 3x and <= 8x. '(compile)': compile=True, "
            'torch.compile of the same surrogate code (compilation happens in the untimed '
            'warm-up). Command: `python benchmarks/loss_speed.py '
            f'--sizes {" ".join(args.sizes)} --repeats {args.repeats} --threads {args.threads}`. '
            'CPU memory is the resident-set high-water mark growth (approximate).'
            + (' Steady glibc heap in this process (no mmap, fixed trim threshold, see '
               '_keep_heap).' if kept else ''))
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('# AutoSegLoss speed and memory vs MMSeg losses\n\n' + '\n\n'.join(tables) +
                '\n\n' + note + '\n')
    print(note)
    print(f'written to {args.out}')


if __name__ == '__main__':
    main()
