"""Distributed set-up that also works on CPU (gloo).

mmengine's ``pytorch``/``slurm`` launchers call ``torch.cuda.set_device`` and
fail on a CPU machine. :func:`init_dist_cpu_aware` initialises the process
group itself when no GPU is present, so mmengine's Runner finds it already
initialised and skips its CUDA-only path.
"""
import os
import subprocess
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist

__all__ = ['init_dist_cpu_aware', 'configure_launcher']

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def _slurm_env(port: Optional[int]) -> None:
    """Translate SLURM variables into torch.distributed's env:// variables."""
    try:
        proc_id = int(os.environ['SLURM_PROCID'])
        ntasks = int(os.environ['SLURM_NTASKS'])
        node_list = os.environ['SLURM_NODELIST']
    except KeyError as e:
        raise RuntimeError(f'--launcher slurm needs the SLURM variable {e.args[0]}; run under srun') from e
    addr = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1').strip() or '127.0.0.1'
    os.environ.setdefault('MASTER_PORT', str(port or 29500))
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    os.environ['RANK'] = str(proc_id)


def init_dist_cpu_aware(launcher: str, backend: Optional[str] = None,
                        timeout_s: int = 1800) -> None:
    """Initialise torch.distributed for ``launcher`` on GPU or CPU.

    Args:
        launcher (str): 'none', 'pytorch' (torchrun), 'slurm' (srun) or 'mpi'.
        backend (str, optional): Process group backend; default 'nccl' with
            CUDA and 'gloo' without.
        timeout_s (int): Collective timeout in seconds.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher must be one of {LAUNCHERS}, got {launcher!r}')
    if launcher == 'none' or dist.is_initialized():
        return
    if torch.cuda.is_available():
        from mmengine.dist import init_dist
        init_dist(launcher, backend=backend or 'nccl', timeout=timedelta(seconds=timeout_s))
        return
    if launcher == 'mpi':
        raise RuntimeError("launcher 'mpi' is not supported on CPU; use 'pytorch' (torchrun) or 'slurm'")
    if launcher == 'slurm':
        _slurm_env(None)
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(f"launcher {launcher!r} needs the environment variable {key}; "
                               'start with torchrun --nproc_per_node=N (or srun)')
    dist.init_process_group(backend=backend or 'gloo', init_method='env://',
                            timeout=timedelta(seconds=timeout_s))


def configure_launcher(cfg, launcher: str) -> None:
    """Set ``cfg.launcher`` and, on CPU, initialise gloo and CPU-safe DDP.

    Call before ``Runner.from_cfg(cfg)``.
    """
    cfg.launcher = launcher
    if launcher == 'none':
        return
    if torch.cuda.is_available():
        return  # mmengine's own path works with GPUs
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend', 'gloo')
    init_dist_cpu_aware(launcher, backend='gloo' if backend == 'nccl' else backend)
    # DDP on CPU modules needs device_ids=None, not [LOCAL_RANK].
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
