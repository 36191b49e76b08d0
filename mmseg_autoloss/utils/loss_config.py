"""Find the ``AutoSegLoss`` dicts of a model config and put parameters in."""
import copy
from typing import Dict, List, Optional, Sequence

__all__ = ['find_autoseg_losses', 'apply_loss_params', 'loss_target_metric']

AUTOSEG_TYPES = ('AutoSegLoss', 'mmseg_autoloss.AutoSegLoss')
DEFAULT_HEADS = ('decode_head', 'auxiliary_head')
# Keys of best_loss.json that configure an AutoSegLoss.
LOSS_KEYS = ('target_metric', 'parameterization', 'num_pieces', 'theta', 'tol', 'drop_bg')


def loss_target_metric(loss_cfg: dict) -> str:
    """The target metric an AutoSegLoss config dict resolves to (explicit,
    else from its preset or theta file, else AutoSegLoss's default 'mIoU')."""
    if loss_cfg.get('target_metric') is not None:
        return loss_cfg['target_metric']
    from mmseg_autoloss.surrogates.presets import get_preset, load_loss_params
    if loss_cfg.get('preset') is not None:
        return get_preset(loss_cfg['preset'])['target_metric']
    if loss_cfg.get('theta_file') is not None:
        return load_loss_params(loss_cfg['theta_file'])['target_metric']
    return 'mIoU'


def _losses_of_head(head) -> List[dict]:
    if head is None:
        return []
    heads = head if isinstance(head, (list, tuple)) else [head]
    found = []
    for h in heads:
        loss = h.get('loss_decode')
        for item in (loss if isinstance(loss, (list, tuple)) else [loss]):
            if isinstance(item, dict) and item.get('type') in AUTOSEG_TYPES:
                found.append(item)
    return found


def find_autoseg_losses(model_cfg: dict, heads: Optional[Sequence[str]] = None) -> List[dict]:
    """The ``AutoSegLoss`` config dicts in the given heads (in place references).

    Args:
        model_cfg (dict): ``cfg.model``.
        heads (Sequence[str], optional): Head keys to look in; default
            decode and auxiliary heads.

    Returns:
        list[dict]: The loss dicts, mutable views into ``model_cfg``.
    """
    heads = DEFAULT_HEADS if heads is None else heads
    found = []
    for key in heads:
        found += _losses_of_head(model_cfg.get(key))
    return found


def apply_loss_params(cfg, params: Dict, heads: Optional[Sequence[str]] = None,
                      require: bool = True) -> List[dict]:
    """Put searched parameters into every ``AutoSegLoss`` of ``cfg.model``.

    The loss keeps its other keys (``loss_weight``, ``loss_name``, ...); a
    preset/control point/theta_file entry is replaced by ``theta``. Only
    losses whose ``target_metric`` matches the parameters' are changed.

    Args:
        cfg (Config): Full config (modified in place).
        params (dict): ``target_metric``, ``theta`` and optionally
            ``parameterization``, ``num_pieces``, ``tol``, ``drop_bg``.
        heads (Sequence[str], optional): Heads to search; default decode and
            auxiliary heads.
        require (bool): Raise if no matching AutoSegLoss is found.

    Returns:
        list[dict]: The updated loss dicts.
    """
    losses = find_autoseg_losses(cfg.model, heads)
    metric = params['target_metric']
    matched = [d for d in losses if loss_target_metric(d) == metric]
    if require and not matched:
        have = [loss_target_metric(d) for d in losses]
        raise ValueError(
            f'no AutoSegLoss with target_metric={metric!r} in heads '
            f'{list(heads or DEFAULT_HEADS)} of the config (found AutoSegLoss target_metrics: '
            f'{have}); add loss_decode=dict(_delete_=True, type="AutoSegLoss", '
            f'target_metric={metric!r}) to the config')
    for d in matched:
        for key in ('preset', 'control_points', 'theta_file'):
            d.pop(key, None)
        for key in LOSS_KEYS:
            if params.get(key) is not None:
                d[key] = copy.deepcopy(params[key])
    return matched
