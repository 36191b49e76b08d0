"""One proxy training: an ordinary MMSeg run of the base config with a
sampled theta, trained on the search's train split and scored on the hold-out.
"""
import contextlib
import copy
import json
import math
import os
import os.path as osp
import time
import traceback
import warnings
from typing import Dict, Optional

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg_autoloss.utils.loss_config import apply_loss_params
from . import defaults
from .settings import SearchSettings

__all__ = ['make_proxy_config', 'run_proxy', 'proxy_seed', 'read_attempt',
           'set_scheduler_end']

ERROR_FILE = 'error.txt'
ATTEMPT_FILE = 'attempt.json'
# mmengine prints some messages once per run with print() (e.g. "Loads
# checkpoint by local backend" for every warm-started proxy): a proxy's
# plain prints go here, so the search console has one line per proxy.
STDOUT_FILE = 'stdout.txt'


def proxy_seed(seed: int, round_idx: int, index: int) -> int:
    """Seed of one proxy: fixed by (search seed, round, index) only, so the
    same proxy gets the same seed on any rank or worker."""
    return (seed * 1_000_003 + round_idx * 1_009 + index) % (2**31 - 1)


def set_scheduler_end(schedulers, max_iters: int) -> None:
    for sched in schedulers if isinstance(schedulers, list) else [schedulers]:
        if sched.get('by_epoch', defaults.SCHEDULER_BY_EPOCH) is False or 'end' in sched:
            if sched.get('end') is None or sched['end'] > max_iters:
                sched['end'] = max_iters
            sched['begin'] = min(sched.get('begin', defaults.SCHEDULER_BEGIN), max_iters)


def _set_crop(cfg: Config, crop_size) -> None:
    crop_size = tuple(crop_size)
    for t in cfg.train_dataloader.dataset.get('pipeline') or []:
        if t.get('type') == 'RandomCrop':
            t['crop_size'] = crop_size
    if cfg.model.get('data_preprocessor') is not None:
        cfg.model.data_preprocessor['size'] = crop_size


def _set_hold_out(cfg: Config, settings: SearchSettings, split_files: Dict[str, str]) -> None:
    """Train on the search's train split, validate on its hold-out with the
    reward metric (in place)."""
    train_ds = cfg.train_dataloader.dataset
    val_ds = copy.deepcopy(train_ds)
    val_ds['pipeline'] = copy.deepcopy(
        cfg.val_dataloader.dataset.get('pipeline', cfg.get('test_pipeline')))
    val_ds['test_mode'] = True
    train_ds['ann_file'] = split_files['train']
    val_ds['ann_file'] = split_files['hold_out']
    val_batch = settings.proxy.val_batch_size
    cfg.val_dataloader = dict(
        batch_size=(val_batch if val_batch is not None else
                    cfg.val_dataloader.get('batch_size', defaults.DATALOADER_BATCH_SIZE)),
        num_workers=cfg.val_dataloader.get('num_workers', defaults.DATALOADER_NUM_WORKERS),
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=val_ds)
    cfg.val_evaluator = dict(type='SegMetric', metrics=settings.reward_metrics,
                             tol=settings.tol, drop_bg=settings.drop_bg)
    for key in ('test_dataloader', 'test_cfg', 'test_evaluator'):
        if key in cfg:
            cfg.pop(key)


def _set_hooks(cfg: Config, settings: SearchSettings, max_iters: int) -> None:
    """No checkpoints or drawings in a proxy; the loss guard and the search's
    proxy hooks added (in place)."""
    hooks = cfg.get('default_hooks') or {}
    hooks['checkpoint'] = None  # proxies keep no weights; the ledger keeps the result
    hooks.pop('visualization', None)  # proxies draw nothing
    if hooks.get('logger') is not None:
        hooks['logger']['interval'] = max(1, max_iters // 5)
    cfg.default_hooks = hooks
    custom = list(cfg.get('custom_hooks') or [])
    custom += [dict(type='FiniteLossGuardHook')]
    custom += copy.deepcopy(list(settings.proxy_custom_hooks))
    cfg.custom_hooks = custom


def make_proxy_config(base_cfg: Config, settings: SearchSettings, params: Dict, seed: int,
                      work_dir: str, split_files: Dict[str, str], name: str) -> Config:
    """The config of one proxy run.

    Args:
        base_cfg: The search config (``runner_type``/``search`` are dropped).
        settings: Search settings.
        params: Loss parameters (``target_metric``, ``theta``, ...).
        seed: Proxy seed.
        work_dir: Proxy work dir.
        split_files: ``{'train': path, 'hold_out': path}`` image-name lists.
        name: Unique experiment name (mmengine's logger/visualizer instances).

    Returns:
        Config: Ready for ``Runner.from_cfg``.
    """
    cfg = copy.deepcopy(base_cfg)
    for key in ('runner_type', 'search', 'resume', 'load_from', 'launcher'):
        if key in cfg:
            cfg.pop(key)
    apply_loss_params(cfg, params, heads=settings.heads)
    proxy = settings.proxy
    max_iters = proxy.max_iters
    cfg.work_dir = work_dir
    cfg.experiment_name = name
    cfg.launcher = 'none'
    if cfg.get('visualizer') is not None:
        cfg.visualizer['name'] = name
    cfg.randomness = dict(seed=seed, deterministic=settings.deterministic)
    cfg.log_level = proxy.log_level
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    cfg.val_cfg = dict(type='ValLoop')
    if cfg.get('param_scheduler') is not None:
        set_scheduler_end(cfg.param_scheduler, max_iters)
    if proxy.lr is not None:
        cfg.optim_wrapper.optimizer['lr'] = proxy.lr
    if proxy.crop_size is not None:
        _set_crop(cfg, proxy.crop_size)
    if proxy.batch_size is not None:
        cfg.train_dataloader.batch_size = proxy.batch_size
    _set_hold_out(cfg, settings, split_files)
    _set_hooks(cfg, settings, max_iters)
    return cfg


def read_attempt(work_dir: str) -> Optional[Dict]:
    """The ``attempt.json`` a proxy writes when it starts (pid, attempt), or None."""
    try:
        with open(osp.join(work_dir, ATTEMPT_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _is_infrastructure(e: BaseException) -> bool:
    """Errors of the machine, not of theta: out of host or device memory."""
    return isinstance(e, MemoryError) or type(e).__name__ == 'OutOfMemoryError'


def _write_error(work_dir: str, text: str) -> None:
    with open(osp.join(work_dir, ERROR_FILE), 'w') as f:
        f.write(text if text.endswith('\n') else text + '\n')


# IterTimerHook's scalars, which share the ``val/`` prefix with the metrics
_TIMER_KEYS = ('val/time', 'val/data_time')


def _hub_metrics(runner) -> Dict[str, float]:
    """The last validation's metrics from the runner's message hub (mmengine's
    RuntimeInfoHook stores each as the scalar ``val/<name>``)."""
    out = {}
    for key, buf in runner.message_hub.log_scalars.items():
        if key.startswith('val/') and key not in _TIMER_KEYS:
            value = buf.current()
            if isinstance(value, (int, float)) or hasattr(value, 'item'):
                out[key[4:]] = float(value)
    return out


def _train_and_score(task: Dict, record: Dict, work_dir: str) -> None:
    """Train one proxy through mmengine's Runner and put its hold-out
    reward (or 'nan' status) into ``record``."""
    cfg = Config.fromfile(task['config'])
    if task.get('attempt'):
        # mmengine keeps one logger/message hub per experiment name in
        # the process: a re-run must not find the lost attempt's
        cfg.experiment_name = f"{cfg.experiment_name}_a{task['attempt']}"
        if cfg.get('visualizer') is not None:
            cfg.visualizer['name'] = cfg.experiment_name
    with warnings.catch_warnings(), open(osp.join(work_dir, STDOUT_FILE), 'a') as out:
        # mmseg's deprecation notices would repeat once per proxy
        warnings.simplefilter('ignore')
        runner = Runner.from_cfg(cfg)
        # after from_cfg: the logger's handler keeps the console
        with contextlib.redirect_stdout(out):
            runner.train()
    metrics = _hub_metrics(runner)
    record['metrics'] = metrics
    keys = task.get('reward_keys') or [task['reward_key']]
    missing = [k for k in keys if metrics.get(k) is None]
    if missing:
        raise KeyError(f'the evaluator reported no {missing[0]!r} (got {sorted(metrics)})')
    value = sum(metrics[k] for k in keys) / len(keys)
    reward = value / 100.0
    if not math.isfinite(reward):
        record.update(status='nan', error=f"hold-out {task['reward_key']} is {value}")
        _write_error(work_dir, record['error'])
    else:
        record['reward'] = reward


def run_proxy(task: Dict) -> Dict:
    """Train and score one proxy; never raises (failures become records).

    Args:
        task: ``round``, ``index``, ``seed``, ``theta``, ``control_points``,
            ``config`` (path of the proxy config file), ``reward_key`` (and
            ``reward_keys`` where several metrics are averaged),
            ``threads`` (torch threads, None = leave as is), ``attempt``.

    Returns:
        dict: The ledger record: status 'ok', or 'nan' / 'failed' (theta's
        fault: the reason is in ``error`` and ``<work_dir>/error.txt``), or
        'infra' (the machine's fault, e.g. out of memory: not a ledger
        record, the pool re-runs the proxy).
    """
    start = time.time()
    work_dir = osp.dirname(task['config'])
    record = dict(round=task['round'], index=task['index'], seed=task['seed'],
                  theta=task['theta'], control_points=task['control_points'],
                  status='ok', reward=None, metrics=None, error=None,
                  rank=task.get('rank', defaults.TASK_RANK), worker=os.getpid(), work_dir=work_dir)
    # an earlier attempt's error must not outlive this one
    if osp.exists(osp.join(work_dir, ERROR_FILE)):
        os.remove(osp.join(work_dir, ERROR_FILE))
    with open(osp.join(work_dir, ATTEMPT_FILE), 'w') as f:
        json.dump(dict(pid=os.getpid(), attempt=task.get('attempt', defaults.FIRST_ATTEMPT)), f)
    threads = task.get('threads')
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        _train_and_score(task, record, work_dir)
    except FloatingPointError as e:
        record.update(status='nan', error=str(e))
        _write_error(work_dir, traceback.format_exc())
    except Exception as e:  # a crashing proxy must not end the search
        where = traceback.extract_tb(e.__traceback__)[-1]
        record.update(status='infra' if _is_infrastructure(e) else 'failed',
                      error=f'{type(e).__name__}: {e} '
                      f'({osp.basename(where.filename)}:{where.lineno})')
        _write_error(work_dir, traceback.format_exc())
    finally:
        if threads:
            torch.set_num_threads(old_threads)
    record['wall_time'] = round(time.time() - start, 3)
    return record
