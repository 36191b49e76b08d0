"""``BoundaryReCAMLoss``: ReCAM's pooled softmax cross-entropy for segmentation.

The math is in :mod:`mmseg_autoloss.surrogates.recam` (plain torch); this
module checks the config, owns the optional learnable re-classifier (ReCAM's
FC layer 2) and plugs into MMSeg's ``loss_decode``.
"""
import math
import numbers
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from ..surrogates.recam import MASK_REGIONS, MASK_SOURCES, boundary_recam_loss
from ..utils.loss_config import check_weight
from ..utils.validate import check_tol
from .utils import check_seg_inputs, reject_unknown_keys

__all__ = ['BoundaryReCAMLoss']

_NAME = 'BoundaryReCAMLoss'


@MODELS.register_module()
class BoundaryReCAMLoss(nn.Module):
    """Boundary-aware ReCAM-style loss (method.md §7).

    For every image and every class k in its ground truth, the class scores
    are averaged under a soft mask of class k taken from the network's own
    output (no threshold), optionally weighted up on the ground-truth
    boundary band around class k, and the pooled score vector is classified
    as k with softmax cross-entropy. The loss is the mean over those
    (image, class) pairs times ``loss_weight``.

    Args:
        mask_source (str): ``'prob'`` (softmax probability) or
            ``'relu_logit'`` (ReLU(logit) / per-image max, as a CAM).
        tol (int): Half width in pixels of the band around each class's
            ground-truth boundary. Default 3.
        boundary_weight (float): Extra mask weight on the band; 0 gives the
            plain ReCAM-style loss. Default 1.0.
        use_reclassifier (bool): Pass the pooled scores through a learnable
            C×C linear layer initialised to the identity (ReCAM's FC2). It is
            a submodule of the decode head, so the model's optimizer trains
            it. Default False.
        num_classes (int, optional): C; required with ``use_reclassifier``,
            otherwise only checked against the logits when given.
        mask_region (str): ``'image'`` (ReCAM: mask over the whole image) or
            ``'gt'`` (mask k restricted to class k's ground-truth pixels).
            Default ``'image'``.
        detach_mask (bool): Use the masks as constants. Default True (see
            the comment in :func:`~mmseg_autoloss.surrogates.recam.boundary_recam_loss`).
        loss_weight (float): Multiplier of the loss (ReCAM's λ). Default 1.0.
        loss_name (str): Name in the log; must start with ``loss_`` to be
            back-propagated by MMSeg. Default ``'loss_recam'``.
        ignore_index (int): Label ignored when the head does not pass one.
            Default 255.
        eps (float): Numerical floor of the mask normalizations. Default 1e-6.
    """

    def __init__(self,
                 mask_source: str = 'prob',
                 tol: int = 3,
                 boundary_weight: float = 1.0,
                 use_reclassifier: bool = False,
                 num_classes: Optional[int] = None,
                 mask_region: str = 'image',
                 detach_mask: bool = True,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_recam',
                 ignore_index: int = 255,
                 eps: float = 1e-6,
                 **kwargs) -> None:
        super().__init__()
        self._labels_checked = False
        reject_unknown_keys(_NAME, kwargs)
        if mask_source not in MASK_SOURCES:
            raise ValueError(f'{_NAME}: mask_source must be one of {MASK_SOURCES}, '
                             f'got {mask_source!r}')
        if mask_region not in MASK_REGIONS:
            raise ValueError(f'{_NAME}: mask_region must be one of {MASK_REGIONS}, '
                             f'got {mask_region!r}')
        check_tol(tol, f'{_NAME}: ')
        if not isinstance(use_reclassifier, bool):
            raise TypeError(f'{_NAME}: use_reclassifier must be a bool, got {use_reclassifier!r}')
        if not isinstance(detach_mask, bool):
            raise TypeError(f'{_NAME}: detach_mask must be a bool, got {detach_mask!r}')
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, numbers.Integral)
                                        or num_classes < 2):
            raise ValueError(f'{_NAME}: num_classes must be an integer >= 2, got {num_classes!r}')
        if use_reclassifier and num_classes is None:
            raise ValueError(f'{_NAME}: use_reclassifier=True needs num_classes (the decode '
                             "head's num_classes) to size the C×C re-classifier")
        if not isinstance(loss_name, str) or not loss_name:
            raise ValueError(f'{_NAME}: loss_name must be a non-empty str, got {loss_name!r}')
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
            raise ValueError(f'{_NAME}: ignore_index must be an int, got {ignore_index!r}')
        self.boundary_weight = check_weight(_NAME, boundary_weight, 'boundary_weight')
        self.loss_weight = check_weight(_NAME, loss_weight)
        eps_ok = (isinstance(eps, numbers.Real) and not isinstance(eps, bool)
                  and math.isfinite(eps) and eps > 0)
        if not eps_ok:
            raise ValueError(f'{_NAME}: eps must be a finite number > 0, got {eps!r}')
        self.mask_source = mask_source
        self.mask_region = mask_region
        self.tol = int(tol)
        self.use_reclassifier = use_reclassifier
        self.num_classes = None if num_classes is None else int(num_classes)
        self.detach_mask = detach_mask
        self.ignore_index = int(ignore_index)
        self.eps = float(eps)
        self._loss_name = loss_name
        self.reclassifier = None
        if use_reclassifier:
            # skip_init draws no random numbers, so a model with this loss
            # gets the same initial weights as without it under one seed;
            # the identity start makes training begin from the plain
            # pooled scores.
            self.reclassifier = nn.utils.skip_init(nn.Linear, self.num_classes,
                                                   self.num_classes)
            with torch.no_grad():
                self.reclassifier.weight.copy_(torch.eye(self.num_classes))
                self.reclassifier.bias.zero_()

    def _reclassify(self, scores: torch.Tensor) -> torch.Tensor:
        # Cast to the scores' dtype (float64 checks, mixed precision); the
        # cast is differentiable, so the float32 parameters still train.
        lin = self.reclassifier
        return F.linear(scores, lin.weight.to(scores.dtype), lin.bias.to(scores.dtype))

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score (Tensor): (N, C, H, W) logits.
            label (Tensor): (N, H, W) integer labels.
            weight (Tensor, optional): (N, H, W) per-pixel weights.
            ignore_index (int, optional): Overrides ``self.ignore_index``
                (MMSeg's decode head passes its own).

        Returns:
            Tensor: Scalar loss.
        """
        ignore_index = self.ignore_index if ignore_index is None else ignore_index
        # the label values are read on the host (a device sync) once
        check_seg_inputs(cls_score, label, ignore_index, _NAME,
                         check_values=not self._labels_checked)
        self._labels_checked = True
        num_classes = cls_score.shape[1]
        if self.num_classes is not None and num_classes != self.num_classes:
            raise ValueError(f'{_NAME}: num_classes={self.num_classes} but cls_score has '
                             f'{num_classes} channels (shape {tuple(cls_score.shape)})')
        if weight is not None and weight.shape != label.shape:
            raise ValueError(f'{_NAME}: weight shape {tuple(weight.shape)} does not match '
                             f'label shape {tuple(label.shape)}')
        loss = boundary_recam_loss(
            cls_score, label,
            mask_source=self.mask_source, tol=self.tol,
            boundary_weight=self.boundary_weight, mask_region=self.mask_region,
            detach_mask=self.detach_mask, ignore_index=ignore_index, weight=weight,
            reclassifier=self._reclassify if self.reclassifier is not None else None,
            eps=self.eps)
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """Name of the loss item in MMSeg's log (``loss_`` prefix = trained)."""
        return self._loss_name

    def extra_repr(self) -> str:
        return (f'mask_source={self.mask_source!r}, tol={self.tol}, '
                f'boundary_weight={self.boundary_weight}, mask_region={self.mask_region!r}, '
                f'detach_mask={self.detach_mask}, use_reclassifier={self.use_reclassifier}, '
                f'loss_weight={self.loss_weight}')
