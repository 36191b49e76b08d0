"""Find the ``AutoSegLoss`` dicts of a model config and put parameters in.

One rule (:func:`merge_loss_settings`) decides what a loss-parameter file
(``best_loss.json``) or a preset means next to the loss's own settings; both
``AutoSegLoss(theta_file=...)`` and ``tools/train.py --loss-params`` apply it.
"""
import copy
import math
import numbers
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ['find_autoseg_losses', 'apply_loss_params', 'loss_target_metric',
           'merge_loss_settings', 'load_theta_file', 'check_weight', 'SETTING_KEYS',
           'PRESET_OVERRIDABLE']

AUTOSEG_TYPES = ('AutoSegLoss', 'mmseg_autoloss.AutoSegLoss')
DEFAULT_HEADS = ('decode_head', 'auxiliary_head')
# What a parameter file or preset sets besides the curves themselves.
SETTING_KEYS = ('target_metric', 'parameterization', 'num_pieces', 'tol', 'drop_bg',
                'class_reduction', 'ce_weight', 'mix_metric', 'mix_weight')
# A preset's boundary settings are the authors' for 512 px VOC images; a
# config may scale them to its images (a searched file's are binding: its
# theta was searched with them).
PRESET_OVERRIDABLE = ('tol', 'drop_bg')
# AutoSegLoss's own default target metric, for the "comes from the file" note.
_DEFAULT_METRIC = 'mIoU'


def merge_loss_settings(explicit: Dict[str, Any], params: Dict[str, Any], source: str,
                        overridable: Sequence[str] = (), owner: str = 'the loss'
                        ) -> Dict[str, Any]:
    """Combine a loss's own settings with those of a parameter file or preset.

    Every key of :data:`SETTING_KEYS` that ``params`` carries is binding: an
    explicit value that differs is refused with both values named, unless the
    key is in ``overridable`` (then the explicit value wins). Keys that
    ``params`` leaves out keep the explicit value.

    Args:
        explicit (dict): The loss's settings, ``None`` for not given.
        params (dict): Normalized parameters (:func:`load_loss_params`,
            :func:`get_preset`).
        source (str): Where ``params`` came from, e.g. ``"theta_file 'x'"``.
        overridable (Sequence[str]): Keys an explicit value may change.
        owner (str): Who gave ``explicit``, for the message.

    Returns:
        dict: Every key of :data:`SETTING_KEYS`, ``None`` where neither side
        gives it.
    """
    out = {}
    for key in SETTING_KEYS:
        mine, theirs = explicit.get(key), params.get(key)
        if mine is not None and theirs is not None and mine != theirs \
                and key not in overridable:
            raise ValueError(
                f'{owner}: {key}={mine!r} contradicts {source}, which has {key}={theirs!r} '
                f'(its theta was found for that value); drop {key} from {owner} or give '
                'the same value')
        out[key] = mine if mine is not None else theirs
    return out


def load_theta_file(path: str, explicit: Dict[str, Any], owner: str = 'AutoSegLoss'
                    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Read ``best_loss.json`` for a loss and apply :func:`merge_loss_settings`.

    Logs what the file sets; a target metric that comes from the file only
    (the loss names none) is logged as a warning when it is not the default.

    Returns:
        tuple[dict, dict]: The normalized file content and the merged
        settings.
    """
    import logging

    from mmengine.logging import print_log

    from mmseg_autoloss.surrogates.presets import load_loss_params
    params = load_loss_params(path)
    where = f'theta_file {path!r}'
    settings = merge_loss_settings(explicit, params, where, owner=owner)
    taken = {k: params[k] for k in SETTING_KEYS
             if params.get(k) is not None and explicit.get(k) is None}
    note, level = '', logging.INFO
    if 'target_metric' in taken and taken['target_metric'] != _DEFAULT_METRIC:
        note = (f': this is a {taken["target_metric"]} loss because of the file (the loss names '
                f'no target_metric; without the file it would be {_DEFAULT_METRIC})')
        level = logging.WARNING
    shown = ', '.join(f'{k}={v!r}' for k, v in taken.items()) or 'nothing beyond theta'
    print_log(f'{owner}: {where} sets {shown}{note}', logger='current', level=level)
    return params, settings


def check_weight(owner: str, value: Any, field: str = 'loss_weight') -> float:
    """A loss weight as a float; a non-number, NaN, inf or negative value is
    refused naming ``owner``, ``field`` and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f'{owner}: {field} must be a finite number >= 0, got {value!r}')
    return float(value)


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
                      require: bool = True, source: str = 'the loss parameters',
                      overridable: Sequence[str] = ()) -> List[dict]:
    """Put searched parameters into every ``AutoSegLoss`` of ``cfg.model``.

    The loss keeps its other keys (``loss_weight``, ``loss_name``, ...); a
    preset/control point/theta_file entry is replaced by ``theta``, and the
    settings follow :func:`merge_loss_settings`, as for
    ``AutoSegLoss(theta_file=...)``. Only losses whose ``target_metric``
    matches the parameters' are changed.

    Args:
        cfg (Config): Full config (modified in place).
        params (dict): ``target_metric``, ``theta`` and optionally
            ``parameterization``, ``num_pieces``, ``tol``, ``drop_bg``.
        heads (Sequence[str], optional): Heads to search; default decode and
            auxiliary heads.
        require (bool): Raise if no matching AutoSegLoss is found.
        source (str): Where ``params`` came from, for messages.
        overridable (Sequence[str]): Keys the loss config may change
            (:data:`PRESET_OVERRIDABLE` for a preset).

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
        owner = f"the config's AutoSegLoss {d.get('loss_name', 'loss_autoseg')!r}"
        settings = merge_loss_settings({k: d.get(k) for k in SETTING_KEYS}, params, source,
                                       overridable, owner=owner)
        for key in ('preset', 'control_points', 'theta_file'):
            d.pop(key, None)
        d['theta'] = copy.deepcopy(list(params['theta']))
        d.update({k: v for k, v in settings.items() if v is not None})
    return matched
