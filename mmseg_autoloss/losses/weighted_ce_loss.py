"""Class-weighted softmax cross-entropy that tolerates ``ignore_index``.

MMSeg 1.2.2's ``CrossEntropyLoss(class_weight=...)`` averages by indexing
the weights with the label map, so any ``ignore_index`` pixel (CamVid's
void) raises ``IndexError``. This loss averages as ``F.cross_entropy``
does: ``sum_i w[y_i] * CE_i / sum_i w[y_i]`` over the non-ignored pixels.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from .utils import reject_unknown_keys


@MODELS.register_module()
class WeightedCrossEntropyLoss(nn.Module):
    """Cross-entropy with per-class weights (e.g. SegNet's median-frequency
    balancing, :func:`mmseg_autoloss.datasets.class_weights.median_frequency_weights`).

    Args:
        class_weight (sequence[float]): One weight per class.
        loss_weight (float): Multiplier of the loss.
        loss_name (str): Key of the loss in the log.
    """

    def __init__(self, class_weight: Sequence[float], loss_weight: float = 1.0,
                 loss_name: str = 'loss_wce', **kwargs) -> None:
        super().__init__()
        reject_unknown_keys('WeightedCrossEntropyLoss', kwargs)
        weights = torch.as_tensor(class_weight, dtype=torch.float32)
        if weights.ndim != 1 or not len(weights) or not bool(torch.isfinite(weights).all()) \
                or bool((weights < 0).any()):
            raise ValueError('WeightedCrossEntropyLoss: class_weight must be a non-empty list of '
                             f'finite non-negative numbers, got {class_weight!r}')
        self.register_buffer('class_weight', weights, persistent=False)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: Optional[torch.Tensor] = None, ignore_index: int = 255,
                **kwargs) -> torch.Tensor:
        if cls_score.shape[1] != len(self.class_weight):
            raise ValueError(f'WeightedCrossEntropyLoss: {len(self.class_weight)} class weights '
                             f'for {cls_score.shape[1]} classes')
        if weight is not None:
            raise ValueError('WeightedCrossEntropyLoss does not take per-pixel weights (a '
                             "decode head's sampler); use CrossEntropyLoss with the sampler")
        return self.loss_weight * F.cross_entropy(
            cls_score, label, weight=self.class_weight.to(cls_score), ignore_index=ignore_index)

    @property
    def loss_name(self) -> str:
        return self._loss_name
