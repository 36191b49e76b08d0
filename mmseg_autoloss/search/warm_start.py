"""Warm-started proxies (``search.proxy.warm_start``).

Every proxy of a search starts from the same weights instead of from scratch:

- a checkpoint the user has (a ``load_from``-style path: a segmentor
  checkpoint or a state dict whose parameter names are the model's), from
  which each proxy trains its ``max_iters`` with its sampled theta;
- ``dict(iters=K, loss='CE')``: one shared run, trained once per search with
  a hand-made loss on the search's train split for K iterations and saved in
  ``<work_dir>/warm_start/``; each proxy loads its weights and trains the
  remaining ``max_iters - K`` iterations with its theta (a fresh optimizer
  and poly schedule, as after ``load_from``).

The shared run is an ordinary proxy run of the pool (its own seed from the
search seed, the proxies' data and hold-out), resumable from its last
checkpoint, and recorded in the ledger as round -1.
"""
import copy
import os
import os.path as osp
from typing import Dict, List, Optional

import torch

from mmseg_autoloss.utils.checkpoint import check_checkpoint_file
from mmseg_autoloss.utils.fileio import atomic_open
from mmseg_autoloss.utils.loss_config import find_autoseg_losses
from . import defaults
from .proxy import make_proxy_config, proxy_seed, set_scheduler_end
from .proxy_settings import WARM_START_KEY as KEY
from .proxy_settings import WarmStartSettings, check_warm_start

__all__ = ['WarmStart', 'check_warm_start', 'check_checkpoint_architecture', 'theta_iters',
           'WARM_ROUND']

WARM_ROUND = -1  # the shared run's ledger round: before every proxy round
WARM_DIR = 'warm_start'
WEIGHTS_FILE = 'warm_start.pth'
CONFIG_FILE = 'warm_start_config.py'


def theta_iters(settings) -> int:
    """Iterations each proxy trains with its theta (after a shared run's K)."""
    return settings.proxy.theta_iters


def _state_dict(ckpt) -> Dict[str, torch.Tensor]:
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not any(torch.is_tensor(v) for v in state.values()):
        return {}
    # mmengine's load_from strips a wrapper's 'module.' prefix the same way
    return {(k[7:] if k.startswith('module.') else k): v for k, v in state.items()
            if torch.is_tensor(v)}


def check_checkpoint_architecture(model_cfg, path: str, key: str = KEY) -> int:
    """Refuse a checkpoint that does not fit the model, before any training.

    Args:
        model_cfg: ``cfg.model`` of the search.
        path: Checkpoint file.
        key: Config key named in the messages.

    Returns:
        int: How many of the model's tensors the checkpoint sets.

    Raises:
        ValueError: unreadable file, no tensor name in common with the
            model, a tensor the model does not have, or one of another
            shape (a file may leave some of the model's tensors out).
    """
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    try:
        check_checkpoint_file(path)
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        raise ValueError(f'{key}={path!r}: cannot be read as a checkpoint '
                         f'({type(e).__name__}: {e})') from e
    state = _state_dict(ckpt)
    if not state:
        raise ValueError(f'{key}={path!r}: holds no state dict of tensors')
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(copy.deepcopy(model_cfg))
    own = model.state_dict()
    common = sorted(set(state) & set(own))
    if not common:
        raise ValueError(
            f'{key}={path!r}: is a checkpoint of another architecture: no tensor name in common '
            f'with the model (checkpoint: {sorted(state)[:3]}..., model: {sorted(own)[:3]}...). '
            'A backbone-only file (e.g. ImageNet weights) belongs in model.backbone.init_cfg')
    foreign = sorted(set(state) - set(own))
    if foreign:
        raise ValueError(f'{key}={path!r}: is a checkpoint of another architecture: '
                         f'{len(foreign)} tensor(s) the model does not have (e.g. '
                         f'{foreign[:3]}); every tensor of the file must fit the model')
    wrong = [f'{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in common
             if state[k].shape != own[k].shape]
    if wrong:
        raise ValueError(f'{key}={path!r}: is a checkpoint of another architecture: '
                         f'{len(wrong)} tensor(s) differ in shape from the model\'s '
                         f'(checkpoint vs model: {"; ".join(wrong[:3])})')
    return len(common)


def _replace_losses(cfg, heads, loss) -> None:
    """Swap every AutoSegLoss of the searched heads for the shared run's loss
    (the head's ``loss_weight`` is kept unless ``loss`` sets one)."""
    for d in find_autoseg_losses(cfg.model, heads):
        weight = d.get('loss_weight', defaults.LOSS_WEIGHT)
        new = (dict(type='CrossEntropyLoss', use_sigmoid=False, loss_name='loss_ce')
               if loss == 'CE' else copy.deepcopy(dict(loss)))
        new.setdefault('loss_weight', weight)
        d.clear()
        d.update(new)


class WarmStart:
    """The warm start of one search.

    Args:
        value: ``search.proxy.warm_start`` as built by the settings.
        work_dir: Search work dir.
    """

    def __init__(self, value: WarmStartSettings, work_dir: str) -> None:
        self.settings = value
        self.shared = value.shared
        self.value = value.to_cfg()
        self.dir = osp.join(work_dir, WARM_DIR)
        self.iters = value.iters
        self.loss = value.loss if self.shared else None

    @classmethod
    def build(cls, cfg, settings, work_dir: str) -> Optional['WarmStart']:
        """The search's warm start, None when off; a user checkpoint is
        checked against the model here, before any training."""
        value = settings.proxy.warm_start
        if value is None:
            return None
        if not value.shared and '://' not in value.checkpoint:
            check_checkpoint_architecture(cfg.model, value.checkpoint)
        return cls(value, work_dir)

    @property
    def weights(self) -> str:
        """The file every proxy loads."""
        return osp.join(self.dir, WEIGHTS_FILE) if self.shared else self.value

    def configure(self, cfg, settings) -> None:
        """Make one proxy config start from :attr:`weights` and train its
        theta iterations (in place)."""
        cfg.load_from = self.weights
        if self.shared:
            remaining = theta_iters(settings)
            cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=remaining,
                                 val_interval=remaining)
            if cfg.get('param_scheduler') is not None:
                set_scheduler_end(cfg.param_scheduler, remaining)
            hooks = cfg.get('default_hooks') or {}
            if hooks.get('logger') is not None:
                hooks['logger']['interval'] = max(1, remaining // 5)

    def seed(self, search_seed: int) -> int:
        return proxy_seed(search_seed, WARM_ROUND, 0)

    def finished(self, records: List[Dict]) -> Optional[Dict]:
        """The shared run's ledger record when its weights are on disk."""
        for rec in records:
            if rec['round'] == WARM_ROUND and rec['status'] == 'ok' and osp.isfile(self.weights):
                return rec
        return None

    def make_task(self, base_cfg, settings, split_files: Dict[str, str]) -> Dict:
        """Write the shared run's config; returns its pool task."""
        params = settings.space.loss_params(settings.space.default())
        seed = self.seed(settings.seed)
        cfg = make_proxy_config(base_cfg, settings, params, seed, self.dir, split_files,
                                'warm_start')
        _replace_losses(cfg, settings.heads, self.loss)
        k = self.iters
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=k, val_interval=k)
        if cfg.get('param_scheduler') is not None:
            set_scheduler_end(cfg.param_scheduler, k)
        hooks = cfg.default_hooks
        hooks['checkpoint'] = dict(type='CheckpointHook', by_epoch=False,
                                   interval=max(1, k // 4), max_keep_ckpts=1, save_last=True)
        if hooks.get('logger') is not None:
            hooks['logger']['interval'] = max(1, k // 5)
        # a killed shared run continues from its last checkpoint (mmengine's
        # auto-resume finds none on the first start and trains from scratch)
        cfg.resume = True
        os.makedirs(self.dir, exist_ok=True)
        path = osp.join(self.dir, CONFIG_FILE)
        cfg.dump(path)
        return dict(round=WARM_ROUND, index=0, seed=seed, theta=None, control_points=None,
                    config=path, rank=0, **settings.reward_task())

    def save_weights(self) -> None:
        """Keep the model weights of the finished shared run (what proxies load)."""
        from mmengine.runner import find_latest_checkpoint
        last = find_latest_checkpoint(self.dir)
        if last is None or not osp.isfile(last):
            raise RuntimeError(f'the warm-start run in {self.dir} left no checkpoint')
        ckpt = torch.load(last, map_location='cpu', weights_only=True)
        done = (ckpt.get('meta') or {}).get('iter')
        if done != self.iters:
            raise RuntimeError(f'the warm-start checkpoint {last} is at iteration {done}, '
                               f'expected {self.iters}')
        with atomic_open(self.weights, 'wb') as f:
            torch.save(dict(state_dict=ckpt['state_dict'], meta=dict(iter=done, source=last)), f)

    def prepare(self, base_cfg, settings, split_files: Dict[str, str], pool, ledger,
                logger, on_event=None) -> Optional[Dict]:
        """Train the shared run unless the ledger has it (rank 0 only).

        Returns:
            dict: Its ledger record; None for a user checkpoint.
        """
        if not self.shared:
            logger.info(f'warm start: every proxy loads {self.value}')
            return None
        rec = self.finished(ledger.records())
        if rec is not None:
            logger.info(f'warm start: the shared {self.iters}-iteration run is in the ledger '
                        f'({self.weights}), not re-run')
            return rec
        task = self.make_task(base_cfg, settings, split_files)
        logger.info(f'warm start: training the shared run ({self.iters} iterations, loss '
                    f'{self.loss!r}) in {self.dir}')
        recs = list(pool.run([task], on_event) if on_event is not None else pool.run([task]))
        rec = recs[0]
        if rec['status'] != 'ok':
            raise RuntimeError(f"the warm-start run failed ({rec['status']}: {rec['error']}); "
                               f'see {self.dir}/error.txt; rerun with --resume')
        self.save_weights()
        rec.update(kind='warm_start', iters=self.iters, loss=self.loss, weights=self.weights)
        ledger.append(rec)
        reward = rec.get('reward')
        logger.info(f"warm start: done in {rec['wall_time']:.1f}s, hold-out "
                    f"{settings.reward_key} {100 * reward:.2f}; weights {self.weights}")
        return rec
