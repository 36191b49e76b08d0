"""``SurrogateMonitorHook``: surrogate value next to the hard metric it relaxes."""
import logging
import math
from contextlib import contextmanager
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmseg.models.utils import resize
from mmseg.registry import HOOKS

from ..evaluation.functional import (class_level, image_level, image_stats, needs_boundary,
                                     parse_metrics, score_matrix, summarize)
from ..surrogates.target_metrics import get_target_metric, target_metric_names
from ..utils.validate import DEFAULT_TOL

_MODES = ('train', 'eval')


def _short_name(loss: nn.Module) -> str:
    name = getattr(loss, 'loss_name', type(loss).__name__)
    return name[5:] if name.startswith('loss_') else name


def hard_metric(stats: np.ndarray, loss: nn.Module) -> float:
    """The hard metric (fraction) that ``loss`` relaxes, on a batch's stats.

    AutoSegLoss-like modules name it in ``target_metric`` (SegMetric names,
    ``gAcc`` allowed; ``tol``/``drop_bg`` attributes used for boundaries).
    JDT losses combine the Tversky index with their own alpha/beta at the
    dataset (batch), image and class levels, weighted like the loss.
    """
    weights = getattr(loss, 'metric_weights', None)
    if weights is not None:
        alpha, beta = float(loss.alpha), float(loss.beta)
        tot = stats[..., :3].astype(np.float64)
        present = (stats[..., 0] + stats[..., 2]) > 0
        per_img = score_matrix(tot[..., 0], tot[..., 1], tot[..., 2], 'Tversky', alpha, beta)
        summed = tot.sum(0)
        parts = {
            'D': lambda: score_matrix(summed[:, 0], summed[:, 1], summed[:, 2], 'Tversky',
                                      alpha, beta),
            'I': lambda: image_level(per_img, present),
            'C': lambda: class_level(per_img, present),
        }
        num = den = 0.0
        for level, w in weights.items():
            if w > 0:
                vals = parts[level]()
                vals = vals[~np.isnan(vals)]
                if vals.size == 0:
                    return float('nan')
                num += w * float(vals.mean())
                den += w
        return num / den if den > 0 else float('nan')
    requests = parse_metrics([scored_as(loss)])
    summary, _ = summarize(stats, requests, drop_bg=bool(getattr(loss, 'drop_bg', False)),
                           bg_index=int(getattr(loss, 'bg_index', 0)))
    return summary[requests[0][0]]


def scored_as(loss: nn.Module) -> str:
    """The SegMetric name that scores ``loss.target_metric``: a registered
    target metric's evaluator (a user's metric too), else the name itself
    (the JDT losses' 'mIoU', 'mDice', ...)."""
    name = loss.target_metric
    return get_target_metric(name).evaluator if name in target_metric_names() else name


def surrogate_value(loss_value: float, loss: nn.Module) -> float:
    """``1 − loss / (loss_weight · Σ level weights)``: the relaxed metric."""
    scale = float(getattr(loss, 'loss_weight', 1.0))
    weights = getattr(loss, 'metric_weights', None)
    if weights is not None:
        scale *= sum(w for w in weights.values() if w > 0)
    return 1.0 - loss_value / scale if scale > 0 else float('nan')


@contextmanager
def _untouched(model: nn.Module, mode: str):
    """Run without gradients, RNG draws or buffer updates; restore the mode."""
    was_training = model.training
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()} if mode == 'train' else {}
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            model.train(mode == 'train')
            yield
    finally:
        with torch.no_grad():
            for name, buf in model.named_buffers():
                if name in buffers:
                    buf.copy_(buffers[name])
        model.train(was_training)


@HOOKS.register_module()
class SurrogateMonitorHook(Hook):
    """Log how well each metric surrogate tracks its hard metric.

    Every ``interval`` training iterations, the model is run on that
    iteration's batch (after the update) without gradients; for each loss of
    ``decode_head.loss_decode`` that relaxes a metric (AutoSegLoss:
    ``target_metric``; JDT losses: IoU/Dice/Tversky), the hook records

    - ``train/surrogate_<name>``: ``1 − loss/loss_weight`` (for JDT divided
      also by the sum of its D/I/C weights), the surrogate metric;
    - ``train/hard_<name>``: the same metric of the argmax prediction;

    in mmengine's message hub, so LoggerHook prints them and the visualizer
    backends store them. ``<name>`` is the loss name without ``loss_``.

    Training is not changed: no gradients, the RNG state is restored, and in
    ``mode='train'`` (BN with batch statistics, as the loss sees it) all
    buffers are restored after the forward; ``mode='eval'`` uses the running
    statistics instead.

    Args:
        interval (int): Log every ``interval`` iterations.
        mode (str): 'train' or 'eval' forward.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL) so the scalars are logged

    def __init__(self, interval: int = 50, mode: str = 'train') -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'SurrogateMonitorHook: interval must be a positive integer, got '
                             f'{interval!r}')
        if mode not in _MODES:
            raise ValueError(f'SurrogateMonitorHook: mode must be one of {_MODES}, got {mode!r}')
        self.interval = interval
        self.mode = mode

    @staticmethod
    def _head(model: nn.Module) -> Optional[nn.Module]:
        model = model.module if is_model_wrapper(model) else model
        head = getattr(model, 'decode_head', None)
        if isinstance(head, nn.Module) and hasattr(head, 'loss_decode'):
            return head
        return None

    @staticmethod
    def _monitored(head: nn.Module) -> List[Tuple[str, nn.Module]]:
        losses = head.loss_decode
        losses = list(losses) if isinstance(losses, nn.ModuleList) else [losses]
        pairs, used = [], set()
        for loss in losses:
            if getattr(loss, 'target_metric', None) is None:
                continue
            name = base = _short_name(loss)
            k = 1
            while name in used:
                k += 1
                name = f'{base}_{k}'
            used.add(name)
            pairs.append((name, loss))
        return pairs

    @staticmethod
    def _stats_key(loss: nn.Module) -> Tuple:
        """(tol, or None without a boundary metric; drop_bg; bg_index) of a loss."""
        if getattr(loss, 'metric_weights', None) is not None or \
                not needs_boundary(parse_metrics([scored_as(loss)])):
            return (None, False, 0)
        return (int(getattr(loss, 'tol', DEFAULT_TOL)), bool(getattr(loss, 'drop_bg', False)),
                int(getattr(loss, 'bg_index', 0)))

    def before_train(self, runner) -> None:
        head = self._head(runner.model)
        if head is None:
            print_log('SurrogateMonitorHook: the model has no single decode_head with '
                      'loss_decode; nothing to monitor', logger='current', level=logging.WARNING)
            return
        pairs = self._monitored(head)
        if not pairs:
            print_log('SurrogateMonitorHook: no loss in decode_head.loss_decode has a metric '
                      'surrogate; nothing to monitor', logger='current', level=logging.WARNING)
        for name, loss in pairs:
            print_log(f'SurrogateMonitorHook: train/surrogate_{name} vs train/hard_{name} '
                      f'({type(loss).__name__} -> {loss.target_metric}) every '
                      f'{self.interval} iterations', logger='current')

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if data_batch is None or not self.every_n_train_iters(runner, self.interval):
            return
        for key, val in self.measure(runner.model, data_batch).items():
            runner.message_hub.update_scalar(f'train/{key}', val)

    def measure(self, model: nn.Module, data_batch: dict) -> Dict[str, float]:
        """Surrogate and hard values of every monitored loss on one batch.

        Args:
            model (nn.Module): The (possibly wrapped) segmentor.
            data_batch (dict): A batch as the dataloader yields it.

        Returns:
            dict[str, float]: ``surrogate_<name>`` and ``hard_<name>`` values
            (fractions); NaN hard values are left out.
        """
        head = self._head(model)
        pairs = self._monitored(head) if head is not None else []
        if not pairs:
            return {}
        model = model.module if is_model_wrapper(model) else model
        out, cache = {}, {}
        with _untouched(model, self.mode):
            data = model.data_preprocessor(data_batch, True)
            logits = head.forward(model.extract_feat(data['inputs']))
            label = torch.stack([s.gt_sem_seg.data for s in data['data_samples']]).squeeze(1)
            logits = resize(logits, size=label.shape[-2:], mode='bilinear',
                            align_corners=head.align_corners)
            pred = logits.argmax(1)
            for name, loss in pairs:
                loss_value = float(loss(logits, label, weight=None,
                                        ignore_index=head.ignore_index))
                key = self._stats_key(loss)
                if key not in cache:
                    tol, drop_bg, bg_index = key
                    cache[key] = image_stats(pred, label, head.num_classes, head.ignore_index,
                                             tol or 0, drop_bg, bg_index,
                                             boundary=tol is not None).cpu().numpy()
                out[f'surrogate_{name}'] = surrogate_value(loss_value, loss)
                hard = hard_metric(cache[key], loss)
                if not math.isnan(hard):
                    out[f'hard_{name}'] = hard
        return out
