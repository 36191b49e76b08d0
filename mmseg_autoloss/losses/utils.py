"""Input checks and helpers shared by every loss of the plugin."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from ..utils.validate import check_label_range

# Keys that MMSeg's base configs put into ``loss_decode`` for
# CrossEntropyLoss; a user dict without ``_delete_=True`` merges into them.
CE_ONLY_KEYS = ('use_sigmoid', 'use_mask', 'avg_non_ignore', 'class_weight', 'reduction')


def reject_unknown_keys(loss_type: str, extra: Dict) -> None:
    """Raise a clear error for constructor keys a loss does not take.

    Args:
        loss_type (str): Registered name of the loss, for the message.
        extra (dict): The ``**kwargs`` the loss did not consume.
    """
    if not extra:
        return
    ce_keys = sorted(k for k in extra if k in CE_ONLY_KEYS)
    if ce_keys:
        raise TypeError(
            f'{loss_type} got CrossEntropyLoss-only key(s) '
            f'{ {k: extra[k] for k in ce_keys} }: the loss_decode dict of your config was '
            "merged into the base config's CrossEntropyLoss. Write "
            f"loss_decode=dict(_delete_=True, type='{loss_type}', ...) or give a list of "
            'loss dicts.')
    raise TypeError(f'{loss_type} got unexpected config key(s) {sorted(extra)}')


def check_seg_inputs(pred: torch.Tensor, target: torch.Tensor, ignore_index: int,
                     loss_type: str, soft_target: bool = False,
                     check_values: bool = True) -> None:
    """Check logits (N, C, H, W) against labels (N, H, W) or soft (N, C, H, W).

    ``check_values`` also checks the hard label values, which reads them on
    the host (a device sync): losses do it at their first call or on request.

    Raises:
        ValueError: naming the offending shape or label values.
    """
    if pred.dim() != 4:
        raise ValueError(f'{loss_type}: cls_score must be (N, C, H, W), got shape {tuple(pred.shape)}')
    n, c, h, w = pred.shape
    if soft_target:
        if target.shape != pred.shape:
            raise ValueError(f'{loss_type}: soft label shape {tuple(target.shape)} does not match '
                             f'cls_score shape {tuple(pred.shape)}')
        return
    if target.shape != (n, h, w):
        raise ValueError(f'{loss_type}: label shape {tuple(target.shape)} does not match cls_score '
                         f'shape {tuple(pred.shape)} (expected label (N, H, W) = {(n, h, w)})')
    if target.dtype.is_floating_point:
        raise ValueError(f'{loss_type}: hard labels must be an integer tensor, got {target.dtype}')
    if not check_values:
        return
    check_label_range(target, c, ignore_index, owner=f'{loss_type}: ')


def one_hot_with_ignore(target: torch.Tensor, num_classes: int, ignore_index: int,
                        dtype: torch.dtype = torch.float32
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """One-hot labels (N, C, H, W) with all-zero rows on ignored pixels.

    Returns:
        tuple: ``(one_hot, valid)`` with ``valid`` of shape (N, 1, H, W).
    """
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    one_hot = F.one_hot(safe.long(), num_classes).permute(0, 3, 1, 2).to(dtype)
    valid = valid[:, None].to(dtype)
    return one_hot * valid, valid


def apply_pixel_weight(valid: torch.Tensor, weight: Optional[torch.Tensor]) -> torch.Tensor:
    """Fold MMSeg's optional per-pixel ``weight`` (N, H, W) into the valid mask."""
    if weight is None:
        return valid
    if weight.dim() == 3:
        weight = weight[:, None]
    if weight.shape[0] != valid.shape[0] or weight.shape[-2:] != valid.shape[-2:]:
        raise ValueError(f'weight shape {tuple(weight.shape)} does not match the label shape '
                         f'{(valid.shape[0],) + tuple(valid.shape[-2:])}')
    return valid * weight.to(valid.dtype)


def mean_cross_entropy(cls_score: torch.Tensor, label: torch.Tensor, ignore_index: int,
                       weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Softmax cross-entropy averaged over the non-ignored pixels (0 when
    every pixel is ignored; no host read), in float32; ``weight`` (N, H, W)
    weights the pixels as MMSeg's pixel samplers do."""
    ce = F.cross_entropy(cls_score.float(), label.long(), ignore_index=ignore_index,
                         reduction='none')
    valid = (label != ignore_index).to(ce.dtype)
    if weight is not None:
        ce, valid = ce * weight, valid * weight
    return ce.sum() / valid.sum().clamp_min(1)
