"""Distributed set-up that also works on CPU (gloo).

mmengine's ``pytorch``/``slurm`` launchers call ``torch.cuda.set_device`` and
fail on a CPU machine. :func:`init_dist_cpu_aware` initialises the process
group itself when no GPU is present, so mmengine's Runner finds it already
initialised and skips its CUDA-only path.
"""
import json
import os
import subprocess
import time
from datetime import timedelta
from typing import Any, Callable, List, Optional

import torch
import torch.distributed as dist

__all__ = ['init_dist_cpu_aware', 'configure_launcher', 'gather_json', 'RankTimeout']

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


def _attempt_store(timeout: timedelta) -> dict:
    """``init_process_group`` arguments with a store of this torchrun attempt.

    torchrun's rendezvous store outlives a restarted group; with
    ``--standalone`` (c10d rendezvous) a restarted rank can read the dead
    attempt's gloo addresses and fail to connect. Keys under the attempt's
    own prefix keep the attempts apart.
    """
    rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    agent = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True'
    store = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), world,
                          is_master=not agent and rank == 0, timeout=timeout, multi_tenant=True)
    attempt = os.environ['TORCHELASTIC_RESTART_COUNT']
    return dict(store=dist.PrefixStore(f'/mmseg_autoloss/attempt_{attempt}', store), rank=rank,
                world_size=world)


def init_dist_cpu_aware(launcher: str, backend: Optional[str] = None,
                        timeout_s: float = 1800) -> None:
    """Initialise torch.distributed for ``launcher`` on GPU or CPU.

    Args:
        launcher (str): 'none', 'pytorch' (torchrun), 'slurm' (srun) or 'mpi'.
        backend (str, optional): Process group backend; default 'nccl' with
            CUDA and 'gloo' without.
        timeout_s (float): Collective timeout in seconds.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher must be one of {LAUNCHERS}, got {launcher!r}')
    if launcher == 'none' or dist.is_initialized():
        return
    timeout = timedelta(seconds=timeout_s)
    elastic = launcher == 'pytorch' and 'TORCHELASTIC_RESTART_COUNT' in os.environ
    if torch.cuda.is_available():
        from mmengine.dist import init_dist
        # mmengine takes the timeout in seconds
        init_dist(launcher, backend=backend or 'nccl', timeout=timeout_s,
                  **(_attempt_store(timeout) if elastic else {}))
        return
    if launcher == 'mpi':
        raise RuntimeError("launcher 'mpi' is not supported on CPU; use 'pytorch' (torchrun) or 'slurm'")
    if launcher == 'slurm':
        _slurm_env(None)
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(f"launcher {launcher!r} needs the environment variable {key}; "
                               'start with torchrun --nproc_per_node=N (or srun)')
    if elastic:
        dist.init_process_group(backend=backend or 'gloo', timeout=timeout,
                                **_attempt_store(timeout))
    else:
        dist.init_process_group(backend=backend or 'gloo', init_method='env://', timeout=timeout)


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


class RankTimeout(RuntimeError):
    """Some ranks did not report within the timeout."""


def _default_store():
    # The store the process group was set up with (env:// or torchrun's
    # agent store): the only channel that lets a rank ask which others have
    # reported without blocking in a collective.
    from torch.distributed import distributed_c10d
    return distributed_c10d._get_default_store()


def gather_json(obj: Any, tag: str, timeout_s: float, report_s: float = 60.0,
                log: Optional[Callable[[str], None]] = None) -> List[Any]:
    """``all_gather_object`` for JSON-able objects that names the ranks it waits for.

    Each rank publishes ``obj`` in the process group's store under ``tag``,
    then polls for the others': every ``report_s`` seconds ``log`` gets the
    ranks that have not reported; after ``timeout_s`` seconds
    :class:`RankTimeout` names them (a blocking collective would wait for
    the backend's timeout without a word).

    Args:
        obj: This rank's contribution (``json.dumps``-able).
        tag: Unique per call and the same on every rank (e.g. 'round3').
        timeout_s: Seconds to wait for the others after this rank reported.
        report_s: Seconds between "waiting for" messages.
        log: Receives the messages (e.g. ``logger.warning``).

    Returns:
        list: The objects of ranks 0..world_size-1.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    store = _default_store()
    # torchrun's agent store outlives a restarted group: keep attempts apart
    prefix = f"mmseg_autoloss/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/{tag}/"
    keys = [f'{prefix}{r}' for r in range(world)]
    store.set(keys[rank], json.dumps(obj))
    start = time.monotonic()
    next_report = start + report_s
    missing = [r for r in range(world) if r != rank]
    while missing:
        missing = [r for r in missing if not store.check([keys[r]])]
        if not missing:
            break
        waited = time.monotonic() - start
        if waited >= timeout_s:
            raise RankTimeout(
                f'rank(s) {missing} of {world} did not report {tag} within {timeout_s:.0f} s '
                f'(search.dist.timeout_s); rank {rank} gives up. A rank may be frozen, '
                'killed or far slower than the others; under torchrun --max-restarts=N the '
                'group restarts and the search resumes from its ledger')
        if log is not None and time.monotonic() >= next_report:
            log(f'rank {rank}: waiting for rank(s) {missing} to report {tag} '
                f'({waited:.0f} s of {timeout_s:.0f} s)')
            next_report += report_s
        time.sleep(min(0.5, report_s))
    return [json.loads(store.get(k)) for k in keys]
