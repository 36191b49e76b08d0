"""JDT losses: Jaccard Metric, Dice Semimetric and Compatible Tversky (method.md §6).

For probabilities x and labels y (one-hot or soft), per class:
``|x| = ||x||_1``, ``|y| = ||y||_1``, ``Δ = ||x − y||_1``,
``TP = (|x| + |y| − Δ)/2``, ``FP = |x| − TP``, ``FN = |y| − TP`` and
``loss_c = 1 − (TP + s)/(TP + α·FP + β·FN + s)``. With hard labels this is the
soft Jaccard (α = β = 1), soft Dice (α = β = 0.5) or soft Tversky loss; with
soft labels it is zero exactly when x = y.

The counts are aggregated over the batch (mIoU^D), per image and then
averaged over images (mIoU^I) or per class over images (mIoU^C), as the
fine-grained metrics of :mod:`mmseg_autoloss.evaluation.functional`.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmseg.registry import MODELS

from ..surrogates.sync import batch_max, batch_sum
from ..utils.loss_config import check_weight
from .utils import apply_pixel_weight, check_seg_inputs, one_hot_with_ignore, reject_unknown_keys

_MODES = ('PRESENT', 'ALL')

# ---------------------------------------------------------------- functional


def jdt_counts(prob: torch.Tensor, target: torch.Tensor,
               mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, ...]:
    """Soft TP, FP, FN per image and class from L1 norms (metric-compatible).

    Args:
        prob (Tensor): Probabilities (N, C, H, W).
        target (Tensor): One-hot or soft labels (N, C, H, W).
        mask (Tensor, optional): Pixel weights (N, 1, H, W); 0 drops a pixel.

    Returns:
        tuple[Tensor]: ``(tp, fp, fn)``, each (N, C).
    """
    if mask is not None:
        prob = prob * mask
        target = target * mask
    card_x = prob.sum((2, 3))
    card_y = target.sum((2, 3))
    diff = (prob - target).abs().sum((2, 3))
    tp = (card_x + card_y - diff) / 2
    return tp, card_x - tp, card_y - tp


def tversky_loss_from_counts(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor,
                             alpha: float = 1.0, beta: float = 1.0, smooth: float = 1e-3,
                             gamma: float = 1.0, log_loss: bool = False) -> torch.Tensor:
    """Element-wise ``1 − (TP+s)/(TP+α·FP+β·FN+s)`` (or ``−log`` of the index).

    An entry with an empty denominator (nothing predicted, nothing labelled,
    ``smooth=0``) scores a perfect index of 1.
    """
    den = tp + alpha * fp + beta * fn + smooth
    ok = den > 0
    index = torch.where(ok, (tp + smooth) / torch.where(ok, den, torch.ones_like(den)),
                        torch.ones_like(den))
    if log_loss:
        loss = -torch.log(index.clamp_min(1e-7))
    else:
        # rounding can push 1 - index a hair below 0
        loss = (1.0 - index).clamp_min(0.0)
    if gamma != 1:
        loss = loss**gamma
    return loss


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor, dim,
                   sync: bool = False) -> Tuple[torch.Tensor, ...]:
    """Sum(w·v)/Sum(w) along ``dim``, and which slices had positive weight.

    With ``sync`` and ``dim = 0`` (images) both sums run over all ranks.
    """
    total = batch_sum(weights, dim, sync)
    ok = total > 0
    mean = batch_sum(values * weights, dim, sync) / torch.where(ok, total, torch.ones_like(total))
    return mean, ok


def jdt_loss(prob: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor] = None,
             weights: Tuple[float, float, float] = (1.0, 0.0, 0.0), alpha: float = 1.0,
             beta: float = 1.0, gamma: float = 1.0, smooth: float = 1e-3,
             log_loss: bool = False, class_weights: Optional[torch.Tensor] = None,
             active_mode: str = 'PRESENT', threshold: float = 0.01,
             sync: bool = False) -> torch.Tensor:
    """The JDT loss with dataset(batch)/image/class aggregation.

    Args:
        prob (Tensor): Probabilities (N, C, H, W).
        target (Tensor): One-hot or soft labels (N, C, H, W), zero rows on
            ignored pixels.
        mask (Tensor, optional): Pixel weights (N, 1, H, W).
        weights (tuple): Weights of the mIoU^D, mIoU^I and mIoU^C terms.
        alpha, beta (float): Weights of FP and FN.
        gamma (float): Exponent (>= 1) on each class loss; > 1 focuses on
            badly segmented classes.
        smooth (float): Added to numerator and denominator.
        log_loss (bool): ``−log(index)`` instead of ``1 − index``.
        class_weights (Tensor, optional): (C,) non-negative; class means are
            weighted means.
        active_mode (str): 'PRESENT': average over classes whose label
            reaches ``threshold`` somewhere in the aggregation scope (batch
            for D, image for I/C); 'ALL': every class.
        threshold (float): Presence threshold on label values.
        sync (bool): Aggregate over all DDP ranks' images, as one batch
            (:mod:`mmseg_autoloss.surrogates.sync`).

    Returns:
        Tensor: Scalar loss. With no active class it is ``0·sum(prob)``
        (keeps the graph).
    """
    n, c = prob.shape[:2]
    tp, fp, fn = jdt_counts(prob, target, mask)
    cw = torch.ones(c, dtype=prob.dtype, device=prob.device) if class_weights is None \
        else class_weights.to(prob)
    if mask is not None:
        target = target * mask
    w_d, w_i, w_c = weights
    # keeps the graph (and a zero gradient) when no class is active
    total = prob.sum() * 0.0
    if w_d > 0:
        if active_mode == 'ALL':
            active = torch.ones(c, dtype=prob.dtype, device=prob.device)
        else:
            active = (batch_max(target.amax((0, 2, 3)), sync) > threshold).to(prob.dtype)
        loss_c = tversky_loss_from_counts(batch_sum(tp, 0, sync), batch_sum(fp, 0, sync),
                                          batch_sum(fn, 0, sync), alpha, beta, smooth, gamma,
                                          log_loss)
        # an empty weight sum gives 0 (no active class contributes nothing)
        mean, _ = _weighted_mean(loss_c, cw * active, 0)
        total = total + w_d * mean
    if w_i > 0 or w_c > 0:
        if active_mode == 'ALL':
            active = torch.ones(n, c, dtype=prob.dtype, device=prob.device)
        else:
            active = (target.amax((2, 3)) > threshold).to(prob.dtype)
        loss_nc = tversky_loss_from_counts(tp, fp, fn, alpha, beta, smooth, gamma, log_loss)
        if w_i > 0:
            per_image, ok = _weighted_mean(loss_nc, active * cw, 1)
            mean, _ = _weighted_mean(per_image, ok.to(prob.dtype), 0, sync)
            total = total + w_i * mean
        if w_c > 0:
            per_class, ok = _weighted_mean(loss_nc, active, 0, sync)
            mean, _ = _weighted_mean(per_class, cw * ok.to(prob.dtype), 0)
            total = total + w_c * mean
    return total


# ---------------------------------------------------------------- modules


@MODELS.register_module()
class JDTLoss(nn.Module):
    """JDT loss (Compatible Tversky with fine-grained aggregation).

    Args:
        mIoUD (float): Weight of the batch-level (dataset) term.
        mIoUI (float): Weight of the image-level term.
        mIoUC (float): Weight of the class-level term.
        alpha (float): Weight of false positives (>= 0).
        beta (float): Weight of false negatives (>= 0).
        gamma (float): Exponent on class losses (>= 1).
        smooth (float): Smoothing term (>= 0).
        log_loss (bool): Use ``−log(index)``.
        class_weights (list[float], optional): One non-negative weight per
            class.
        active_classes_mode_hard (str): 'PRESENT' or 'ALL' for hard labels.
        active_classes_mode_soft (str): 'PRESENT' or 'ALL' for soft labels.
        threshold (float): Presence threshold for 'PRESENT', in [0, 1).
        loss_weight (float): Multiplier of the loss.
        loss_name (str): Name in the log; must start with ``loss_``.
        sync_stats (bool): Under DDP, aggregate the counts over all ranks'
            images, so the loss is that of the global batch (off by default,
            as in the authors' release; see docs/method.md).
        check_labels (bool): Check the label values on every call (reads
            them on the host); otherwise only the first call checks.
    """

    default_loss_name = 'loss_jdt'

    def __init__(self,
                 mIoUD: float = 1.0,
                 mIoUI: float = 0.0,
                 mIoUC: float = 0.0,
                 alpha: float = 1.0,
                 beta: float = 1.0,
                 gamma: float = 1.0,
                 smooth: float = 1e-3,
                 log_loss: bool = False,
                 class_weights: Optional[Sequence[float]] = None,
                 active_classes_mode_hard: str = 'PRESENT',
                 active_classes_mode_soft: str = 'ALL',
                 threshold: float = 0.01,
                 loss_weight: float = 1.0,
                 loss_name: Optional[str] = None,
                 sync_stats: bool = False,
                 check_labels: bool = False,
                 **kwargs) -> None:
        super().__init__()
        name = type(self).__name__
        for key, val in (('sync_stats', sync_stats), ('check_labels', check_labels)):
            if not isinstance(val, bool):
                raise TypeError(f'{name}: {key} must be True or False, got {val!r}')
        self.sync_stats, self.check_labels = sync_stats, check_labels
        self._labels_checked = False
        reject_unknown_keys(name, kwargs)
        for key, val in (('mIoUD', mIoUD), ('mIoUI', mIoUI), ('mIoUC', mIoUC), ('alpha', alpha),
                         ('beta', beta), ('smooth', smooth), ('loss_weight', loss_weight)):
            check_weight(name, val, key)
        if mIoUD + mIoUI + mIoUC <= 0:
            raise ValueError(f'{name}: at least one of mIoUD, mIoUI, mIoUC must be > 0, got '
                             f'{(mIoUD, mIoUI, mIoUC)}')
        if alpha + beta <= 0 and smooth <= 0:
            raise ValueError(f'{name}: alpha + beta must be > 0 (or smooth > 0), got '
                             f'alpha={alpha}, beta={beta}, smooth={smooth}')
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 1:
            raise ValueError(f'{name}: gamma must be a number >= 1, got {gamma!r}')
        if not isinstance(threshold, (int, float)) or not 0 <= threshold < 1:
            raise ValueError(f'{name}: threshold must be in [0, 1), got {threshold!r}')
        for key, mode in (('active_classes_mode_hard', active_classes_mode_hard),
                          ('active_classes_mode_soft', active_classes_mode_soft)):
            if mode not in _MODES:
                raise ValueError(f'{name}: {key} must be one of {_MODES}, got {mode!r}')
        if class_weights is not None:
            cw = torch.as_tensor(class_weights, dtype=torch.float32)
            if cw.dim() != 1 or cw.numel() == 0 or bool((cw < 0).any()) or \
                    not bool(torch.isfinite(cw).all()):
                raise ValueError(f'{name}: class_weights must be a list of non-negative '
                                 f'numbers, got {class_weights!r}')
            self.register_buffer('class_weights', cw, persistent=False)
        else:
            self.class_weights = None
        loss_name = self.default_loss_name if loss_name is None else loss_name
        if not isinstance(loss_name, str) or not loss_name.startswith('loss_'):
            raise ValueError(f"{name}: loss_name must start with 'loss_' (MMSeg only "
                             f'back-propagates such keys), got {loss_name!r}')
        self.mIoUD, self.mIoUI, self.mIoUC = float(mIoUD), float(mIoUI), float(mIoUC)
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.smooth = float(smooth)
        self.log_loss = bool(log_loss)
        self.active_classes_mode_hard = active_classes_mode_hard
        self.active_classes_mode_soft = active_classes_mode_soft
        self.threshold = float(threshold)
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    @property
    def target_metric(self) -> str:
        """The hard metric the loss relaxes: 'mIoU', 'mDice' or 'Tversky'."""
        if self.alpha == self.beta == 1.0:
            return 'mIoU'
        if self.alpha == self.beta == 0.5:
            return 'mDice'
        return 'Tversky'

    @property
    def metric_weights(self) -> Dict[str, float]:
        """Weights of the dataset (D), image (I) and class (C) terms."""
        return {'D': self.mIoUD, 'I': self.mIoUI, 'C': self.mIoUC}

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: Optional[torch.Tensor] = None, ignore_index: int = 255,
                **kwargs) -> torch.Tensor:
        """Loss of logits against hard or soft labels.

        Args:
            cls_score (Tensor): Logits (N, C, H, W).
            label (Tensor): Hard labels (N, H, W) (``ignore_index`` skipped)
                or soft labels (N, C, H, W) with values in [0, 1].
            weight (Tensor, optional): Pixel weights (N, H, W).
            ignore_index (int): Ignored label value (hard labels).

        Returns:
            Tensor: Scalar, times ``loss_weight``.
        """
        name = type(self).__name__
        extra = {k: v for k, v in kwargs.items() if v is not None}
        if extra:
            raise TypeError(f'{name}.forward got unsupported argument(s) {sorted(extra)}')
        soft = label.dim() == 4
        check_values = self.check_labels or not self._labels_checked
        check_seg_inputs(cls_score, label, ignore_index, name, soft_target=soft,
                         check_values=check_values)
        self._labels_checked = True
        c = cls_score.shape[1]
        if self.class_weights is not None and self.class_weights.numel() != c:
            raise ValueError(f'{name}: class_weights has {self.class_weights.numel()} entries '
                             f'but cls_score has {c} classes')
        # half precision would lose the small per-class counts
        dtype = torch.float64 if cls_score.dtype == torch.float64 else torch.float32
        prob = cls_score.to(dtype).softmax(dim=1)
        if soft:
            if not label.dtype.is_floating_point:
                raise ValueError(f'{name}: soft labels must be floating point, got {label.dtype}')
            lo, hi = torch.aminmax(label.detach()) if check_values else (0, 1)
            if lo < 0 or hi > 1:
                raise ValueError(f'{name}: soft label values must lie in [0, 1], got range '
                                 f'[{float(lo):.4g}, {float(hi):.4g}]')
            target = label.to(prob)
            mask = None if weight is None else apply_pixel_weight(
                torch.ones_like(prob[:, :1]), weight)
            mode = self.active_classes_mode_soft
        else:
            target, valid = one_hot_with_ignore(label, c, ignore_index, prob.dtype)
            mask = apply_pixel_weight(valid, weight)
            mode = self.active_classes_mode_hard
        loss = jdt_loss(prob, target, mask, (self.mIoUD, self.mIoUI, self.mIoUC), self.alpha,
                        self.beta, self.gamma, self.smooth, self.log_loss, self.class_weights,
                        mode, self.threshold, self.sync_stats)
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the log (MMSeg sums keys starting 'loss_')."""
        return self._loss_name


class _FixedTversky(JDTLoss):
    """A JDT loss whose alpha and beta are part of its definition."""

    fixed_alpha_beta = (1.0, 1.0)

    def __init__(self, **kwargs) -> None:
        fixed = sorted(k for k in ('alpha', 'beta') if k in kwargs)
        if fixed:
            raise TypeError(f'{type(self).__name__} fixes alpha, beta = {self.fixed_alpha_beta}; '
                            f'got {fixed}. Use CompatibleTverskyLoss (or JDTLoss) for other '
                            'values.')
        alpha, beta = self.fixed_alpha_beta
        super().__init__(alpha=alpha, beta=beta, **kwargs)


@MODELS.register_module()
class JaccardMetricLoss(_FixedTversky):
    """Jaccard Metric Loss: JDT with alpha = beta = 1 (targets mIoU).

    Takes the arguments of :class:`JDTLoss` except ``alpha``/``beta``.
    """

    fixed_alpha_beta = (1.0, 1.0)
    default_loss_name = 'loss_jaccard'


@MODELS.register_module()
class DiceSemimetricLoss(_FixedTversky):
    """Dice Semimetric Loss: JDT with alpha = beta = 0.5 (targets mDice).

    Takes the arguments of :class:`JDTLoss` except ``alpha``/``beta``.
    """

    fixed_alpha_beta = (0.5, 0.5)
    default_loss_name = 'loss_dice_semimetric'


@MODELS.register_module()
class CompatibleTverskyLoss(JDTLoss):
    """Compatible Tversky Loss: JDT with free alpha (FP) and beta (FN).

    Defaults alpha = 0.3, beta = 0.7 (recall-leaning, as in the Tversky
    loss literature); other arguments as :class:`JDTLoss`.
    """

    default_loss_name = 'loss_tversky'

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, **kwargs) -> None:
        super().__init__(alpha=alpha, beta=beta, **kwargs)
