"""torchrun worker for test_sync_stats.py: DDP gradients with and without sync_stats.

Each rank trains a small conv net on its share of a batch under DDP; rank 0
also runs the whole batch in one process and writes the differences.
"""
import copy
import json
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

import mmseg_autoloss  # noqa: F401  (registers the losses)
from mmseg.registry import MODELS

PRESET = {'mIoU': 'voc_miou', 'FWIoU': 'voc_fwiou', 'mAcc': 'voc_macc', 'gAcc': 'voc_gacc',
          'BIoU': 'voc_biou', 'BF1': 'voc_bf1'}
LOSSES = [(f'AutoSegLoss {m}', dict(type='AutoSegLoss', target_metric=m, tol=2,
                                    class_reduction='present' if m == 'mIoU' else 'all',
                                    **({'preset': PRESET[m]} if m in PRESET else {})))
          for m in ('mIoU', 'mAcc', 'BF1', 'mIoU_I')]
# one of each kind of statistic: dataset-level sums (with the hard union of
# 'present'), per-class accuracy, boundaries, per-image and per-class means
LOSSES += [('AutoSegLoss mIoU_C present', dict(type='AutoSegLoss', target_metric='mIoU_C',
                                               class_reduction='present')),
           ('JaccardMetricLoss D+I+C', dict(type='JaccardMetricLoss', mIoUD=1.0, mIoUI=0.5,
                                            mIoUC=0.5))]
PER_RANK, C, H, W = 3, 4, 16, 16


def batch(world: int):
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(world * PER_RANK, 3, H, W, generator=gen, dtype=torch.float64)
    label = torch.randint(0, C, (world * PER_RANK, 1, H // 4, W // 4), generator=gen)
    label = nn.functional.interpolate(label.double(), size=(H, W))[:, 0].long()
    label[0, :5, :7] = 255  # only rank 0 has void: the ranks' counts differ
    label[1, label[1] == 3] = 2  # class 3 absent from one image
    return images, label


def main(out: str) -> None:
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    images, label = batch(world)
    mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    results = {}
    for name, cfg in LOSSES:
        for sync in (True, False):
            torch.manual_seed(0)
            net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                nn.Conv2d(8, C, 1)).double()
            ref_net = copy.deepcopy(net)
            loss = MODELS.build(dict(cfg, sync_stats=sync))
            ddp = DistributedDataParallel(net)  # kept alive: its reducer averages in backward
            value = loss(ddp(images[mine]), label[mine])
            value.backward()
            # one process, the whole batch (no collective inside)
            ref = MODELS.build(cfg)(ref_net(images), label)
            ref.backward()
            grad_err = max((p.grad - q.grad).abs().max().item()
                           for p, q in zip(net.parameters(), ref_net.parameters()))
            grad_scale = max(q.grad.abs().max().item() for q in ref_net.parameters())
            values = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
            dist.all_gather(values, value.detach().reshape(1))
            results[f'{name} sync={sync}'] = dict(
                loss_err=max(abs(v.item() - ref.item()) for v in values), grad_err=grad_err,
                grad_scale=grad_scale)
    if rank == 0:
        with open(out, 'w') as f:
            json.dump(results, f, indent=1)
    # The last DDP reducer holds the process group. Dropped at return, with
    # the GIL held, it ran ~ProcessGroupGloo, which joins gloo's threads while
    # one of them waits for the GIL to free the all_gather's tensors: a hang
    # at exit (py-spy). Drop it while the group is registered, let the
    # threads go idle, then destroy the group.
    del ddp
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
