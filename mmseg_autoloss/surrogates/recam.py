"""ReCAM-style pooled softmax cross-entropy for segmentation (method.md §7).

Plain torch, no mmseg import. ReCAM (seed 004) multiplies each class's soft
activation map into the features, pools them, and classifies the pooled
vector with softmax cross-entropy against that single class, so classes that
respond on the same pixels must compete. The segmentation analogue here:

    M[n, k]   = soft mask of class k from the network's own output
                (softmax probability, or ReLU(logit) / max as in CAM),
                zero on ignored pixels, times (1 + boundary_weight · band_k)
                where band_k = Dil_tol(BD(y_k)) is the ground-truth boundary
                band around class k;
    s[n, k]   = Σ_hw M[n, k] · z[n, :] / (Σ_hw M[n, k] + eps)   (C scores)
    L         = mean over (n, k) with k in image n's labels of
                CE(R(s[n, k]), k),  R = identity or a learnable C×C layer.

Everything is batched over images and classes (one einsum for the pooling).
"""
from typing import Callable, Optional

import torch

from ..boundary import class_boundaries

__all__ = ['MASK_SOURCES', 'MASK_REGIONS', 'class_soft_masks', 'boundary_emphasis',
           'masked_class_scores', 'recam_pooled_ce', 'boundary_recam_loss']

MASK_SOURCES = ('prob', 'relu_logit')
MASK_REGIONS = ('image', 'gt')


def class_soft_masks(logits: torch.Tensor, mask_source: str = 'prob',
                     valid: Optional[torch.Tensor] = None,
                     eps: float = 1e-6) -> torch.Tensor:
    """Soft, unthresholded per-class masks from the network's own output.

    Args:
        logits (Tensor): (N, C, H, W) class scores.
        mask_source (str): ``'prob'``: softmax probability of each class;
            ``'relu_logit'``: ReLU(logit) divided by its per-image maximum
            over valid pixels (the CAM normalization of ReCAM).
        valid (Tensor, optional): (N, 1, H, W) pixel weights (0 on ignored
            pixels); masks are multiplied by it.
        eps (float): Keeps the max-normalization finite for a class whose
            logits are all negative (its mask is then all zero).

    Returns:
        Tensor: (N, C, H, W) masks in [0, 1].
    """
    if mask_source == 'prob':
        masks = logits.softmax(dim=1)
        return masks if valid is None else masks * valid
    if mask_source == 'relu_logit':
        act = logits.relu()
        if valid is not None:
            act = act * valid
        peak = act.flatten(2).amax(dim=2)[..., None, None]
        return act / (peak + eps)
    raise ValueError(f'mask_source must be one of {MASK_SOURCES}, got {mask_source!r}')


def boundary_emphasis(label: torch.Tensor, num_classes: int, tol: int,
                      boundary_weight: float) -> torch.Tensor:
    """Per-class factor ``1 + boundary_weight · Dil_tol(BD(y_k))``.

    Args:
        label (Tensor): (N, H, W) integer labels; values outside
            ``[0, num_classes)`` (ignore) belong to no class.
        num_classes (int): C.
        tol (int): Half width of the band around each class's boundary.
        boundary_weight (float): Extra weight on the band (0: none).

    Returns:
        Tensor: (N, C, H, W) float factor >= 1.
    """
    band = class_boundaries(label, num_classes, tol).float()
    return 1.0 + boundary_weight * band


def masked_class_scores(logits: torch.Tensor, masks: torch.Tensor,
                        eps: float = 1e-6) -> torch.Tensor:
    """Masked average of all class scores under every class's mask.

    Args:
        logits (Tensor): (N, C, H, W).
        masks (Tensor): (N, K, H, W) non-negative masks.
        eps (float): Added to each mask's total so an empty mask pools to 0.

    Returns:
        Tensor: (N, K, C); row ``[n, k]`` is the score vector pooled with
        mask k of image n.
    """
    n, c = logits.shape[:2]
    m = masks.flatten(2)
    pooled = torch.einsum('nkp,ncp->nkc', m, logits.reshape(n, c, -1))
    return pooled / (m.sum(dim=2, keepdim=True) + eps)


def recam_pooled_ce(pooled: torch.Tensor, present: torch.Tensor,
                    reclassifier: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
                    ) -> torch.Tensor:
    """Softmax cross-entropy of each pooled vector against its own class.

    Args:
        pooled (Tensor): (N, C, C) from :func:`masked_class_scores` with one
            mask per class; row k's target is class k.
        present (Tensor): (N, C) bool, which (image, class) pairs count.
        reclassifier (callable, optional): Maps (..., C) scores to (..., C)
            scores before the softmax (ReCAM's FC layer 2).

    Returns:
        Tensor: Scalar mean over the present pairs; 0 (still attached to the
        graph) when no pair is present.
    """
    scores = pooled if reclassifier is None else reclassifier(pooled)
    nll = -scores.log_softmax(dim=-1).diagonal(dim1=1, dim2=2)
    present = present.to(nll.dtype)
    return (nll * present).sum() / present.sum().clamp(min=1.0)


def boundary_recam_loss(logits: torch.Tensor, label: torch.Tensor, *,
                        mask_source: str = 'prob', tol: int = 3,
                        boundary_weight: float = 1.0, mask_region: str = 'image',
                        detach_mask: bool = True, ignore_index: int = 255,
                        weight: Optional[torch.Tensor] = None,
                        reclassifier: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                        eps: float = 1e-6) -> torch.Tensor:
    """Boundary-aware ReCAM-style loss (unweighted, mean over pairs).

    Args:
        logits (Tensor): (N, C, H, W) class scores.
        label (Tensor): (N, H, W) integer labels.
        mask_source (str): ``'prob'`` or ``'relu_logit'``.
        tol (int): Band half width (pixels) around each class's GT boundary.
        boundary_weight (float): Up-weighting of the band; 0 = plain ReCAM.
        mask_region (str): ``'image'``: masks cover the whole image as in
            ReCAM; ``'gt'``: mask k is also restricted to class k's
            ground-truth region, so each pair only sees its own pixels.
        detach_mask (bool): Treat the masks as constants (see below).
        ignore_index (int): Label value excluded everywhere.
        weight (Tensor, optional): (N, H, W) per-pixel weights.
        reclassifier (callable, optional): Learnable C -> C re-classifier.
        eps (float): Numerical floor of the normalizations.

    Returns:
        Tensor: Scalar loss.
    """
    if mask_region not in MASK_REGIONS:
        raise ValueError(f'mask_region must be one of {MASK_REGIONS}, got {mask_region!r}')
    num_classes = logits.shape[1]
    valid = (label != ignore_index)[:, None].to(logits.dtype)
    if weight is not None:
        valid = valid * weight.reshape(valid.shape).to(logits.dtype)
    # ReCAM back-propagates through the CAM, but there the CAM comes from
    # FC1, which BCE anchors on its own. Here the mask IS the prediction:
    # a gradient through it is scaled by (z_i - s), i.e. grows with the raw
    # logit magnitude, and lets the loss drop by shrinking class k's mask
    # onto the pixels it already wins instead of fixing the contested ones.
    # Detached, the mask only chooses where to look and every pixel's
    # gradient is the bounded (M_i / ΣM)(softmax(s) - e_k).
    source = logits.detach() if detach_mask else logits
    masks = class_soft_masks(source, mask_source, valid, eps)
    labelled = torch.where(label == ignore_index, torch.full_like(label, -1), label)
    if boundary_weight > 0:
        masks = masks * boundary_emphasis(labelled, num_classes, tol,
                                          boundary_weight).to(masks.dtype)
    classes = torch.arange(num_classes, device=label.device).view(1, -1, 1, 1)
    in_class = (labelled[:, None] == classes).to(logits.dtype) * valid
    if mask_region == 'gt':
        masks = masks * in_class
    present = in_class.flatten(2).sum(dim=2) > 0
    pooled = masked_class_scores(logits, masks, eps)
    return recam_pooled_ce(pooled, present, reclassifier)
