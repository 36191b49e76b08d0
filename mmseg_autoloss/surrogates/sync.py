"""Batch statistics summed over images and, optionally, over DDP ranks.

Plain torch. Every surrogate here is a function of per-class sums over the
batch; under DDP each rank sees only its own images, so without syncing the
sums a 4 GPU × 4 image run optimizes a 4-image metric (method.md §6). With
``sync=True`` the sums are all-reduced through ``torch.distributed.nn``,
whose backward all-reduces the gradient too: every rank computes the same
global loss L, rank r's local sums receive ``world_size · ∂L/∂S``, and DDP's
mean over ranks then yields exactly the gradient of the global-batch loss
(no further scaling).
"""
import warnings

import torch
import torch.distributed as dist

# torch >= 2.6 points to torch.distributed._functional_collectives, whose
# all_reduce has no autograd; the autograd-aware one is the point here.
warnings.filterwarnings('ignore', message=r'torch\.distributed\.nn\.functional\.all_reduce is '
                        'deprecated', category=FutureWarning)

__all__ = ['world_size', 'batch_sum', 'batch_max']


def world_size() -> int:
    """Ranks of the default process group (1 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def batch_sum(x: torch.Tensor, dim=0, sync: bool = False) -> torch.Tensor:
    """``x.sum(dim)`` (``dim=None``: ``x`` as is), all-reduced with autograd
    over the ranks when ``sync`` and running distributed."""
    total = x if dim is None else x.sum(dim)
    if sync and world_size() > 1:
        from torch.distributed.nn.functional import all_reduce
        total = all_reduce(total)
    return total


def batch_max(x: torch.Tensor, sync: bool = False) -> torch.Tensor:
    """Element-wise max over the ranks (no gradient; e.g. class presence)."""
    if not (sync and world_size() > 1):
        return x
    out = x.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out
