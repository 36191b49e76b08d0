"""The authors' searched surrogate parameters and the search's JSON format.

method.md §4: PASCAL VOC, R50-DeepLabV3+, piecewise Bézier, published as ABSOLUTE
control points (B_1u, B_1v, B_2u, …) per g, g's concatenated AND then OR
(BF1: g1..g4, one free point each).

``best_loss.json`` (written by the search, read by :func:`load_loss_params`
and ``AutoSegLoss(theta_file=...)``)::

    {"target_metric": str, "parameterization": "bezier" | "linear",
     "num_pieces": int, "theta": [floats], "control_points": [floats],
     "tol": int (optional), "drop_bg": bool (optional), ...}

Other keys are ignored. Either ``theta`` or ``control_points`` may be left
out; when both are there they must describe the same curves.
"""
import copy
import json
from typing import Any, Dict, List

import torch

from ..utils.validate import check_share, check_tol
from .parameterization import (check_control_points, check_num_pieces,
                               check_parameterization, check_target_metric, check_theta,
                               control_points_to_theta, theta_to_control_points)
from .relaxed_metrics import CLASS_REDUCTIONS
from .target_metrics import get_target_metric

__all__ = ['PRESETS', 'get_preset', 'load_loss_params', 'normalize_loss_params',
           'LOSS_PARAMS_VERSION']

#: Schema of ``best_loss.json`` (its ``schema_version``). A file without one
#: was written before the key existed (version 0) and reads the same; 2 adds
#: ``class_reduction`` and ``ce_weight`` (a reader of 1 would drop them), 3
#: ``mix_metric`` and ``mix_weight``.
LOSS_PARAMS_VERSION = 3

_MIOU = [
    5.69728440e-04, 6.43720450e-01, 3.38589169e-01, 7.05543360e-01, 6.25281252e-01,
    7.79551927e-01, 6.90375570e-01, 1.30628900e-02, 8.34170515e-01, 9.62431815e-01,
    9.42998269e-01, 9.80038125e-01
]
_FWIOU_BIOU = [
    3.65390355e-04, 9.84171689e-01, 9.69491959e-01, 9.92340326e-01, 9.88328516e-01,
    9.95552719e-01, 3.54609758e-01, 2.67221928e-01, 5.60551465e-01, 4.35290039e-01,
    5.65432191e-01, 6.01448298e-01
]
_ACC = [2.1453928e-02, 7.3905742e-01, 4.1163361e-01, 7.9865617e-01, 9.1986191e-01, 9.5041156e-01]
_BF1 = [
    0.8113003373146057, 0.8526162505149841, 0.17164576053619385, 0.03164796531200409,
    0.20997394621372223, 0.44903290271759033, 0.07847517728805542, 0.8753038048744202
]


def _preset(metric: str, points: List[float], num_pieces: int = 2, **extra) -> Dict[str, Any]:
    return dict(target_metric=metric, parameterization='bezier', num_pieces=num_pieces,
                control_points=list(points), **extra)


PRESETS: Dict[str, Dict[str, Any]] = {
    'voc_miou': _preset('mIoU', _MIOU),
    'voc_fwiou': _preset('FWIoU', _FWIOU_BIOU),
    'voc_biou': _preset('BIoU', _FWIOU_BIOU, tol=5, drop_bg=True),
    'voc_macc': _preset('mAcc', _ACC),
    'voc_gacc': _preset('gAcc', _ACC),
    'voc_bf1': _preset('BF1', _BF1, num_pieces=1, tol=5, drop_bg=False),
}


def normalize_loss_params(params: Dict[str, Any], source: str = 'loss params') -> Dict[str, Any]:
    """Validate a parameter dict and fill in both ``theta`` and ``control_points``.

    Args:
        params (dict): At least ``target_metric``, ``num_pieces`` and one of
            ``theta`` / ``control_points``; ``parameterization`` defaults to
            'bezier'.
        source (str): Where the dict came from, for error messages.

    Returns:
        dict: ``target_metric``, ``parameterization``, ``num_pieces``,
        ``theta``, ``control_points`` (lists of float) and ``tol`` /
        ``drop_bg`` when given.
    """
    if not isinstance(params, dict):
        raise ValueError(f'{source}: expected a JSON object, got {type(params).__name__}')
    for key in ('target_metric', 'num_pieces'):
        if key not in params:
            raise ValueError(f'{source}: missing key {key!r}')
    version = params.get('schema_version')
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or not 0 <= version <= LOSS_PARAMS_VERSION):
        raise ValueError(f'{source}: schema_version={version!r} is not one this version of '
                         f'mmseg_autoloss reads (0 to {LOSS_PARAMS_VERSION}); update it')
    try:
        metric = check_target_metric(params['target_metric'])
        n = check_num_pieces(params['num_pieces'])
        param = check_parameterization(params.get('parameterization', 'bezier'))
    except ValueError as err:
        raise ValueError(f'{source}: {err}') from None
    k = get_target_metric(metric).num_g
    theta, points = params.get('theta'), params.get('control_points')
    if theta is None and points is None:
        raise ValueError(f"{source}: needs 'theta' or 'control_points'")
    try:
        if theta is not None:
            th = check_theta(theta, n, k).to(torch.float64)
            pts_from_th = theta_to_control_points(th, n)
            if points is not None:
                pts = check_control_points(points, n, k, name='control_points').to(torch.float64)
                if not torch.allclose(pts, pts_from_th, atol=1e-5):
                    raise ValueError('theta and control_points describe different curves: '
                                     f'theta gives control points {pts_from_th.tolist()}')
            pts = pts_from_th
        else:
            pts = check_control_points(points, n, k).to(torch.float64)
            th = control_points_to_theta(pts, n)
    except ValueError as err:
        raise ValueError(f'{source}: {err}') from None
    out = dict(target_metric=metric, parameterization=param, num_pieces=n, theta=th.tolist(),
               control_points=pts.tolist())
    if params.get('tol') is not None:
        out['tol'] = check_tol(params['tol'], f'{source}: ')
    if params.get('drop_bg') is not None:
        if not isinstance(params['drop_bg'], bool):
            raise ValueError(f"{source}: drop_bg must be a bool, got {params['drop_bg']!r}")
        out['drop_bg'] = params['drop_bg']
    if params.get('class_reduction') is not None:
        if params['class_reduction'] not in CLASS_REDUCTIONS:
            raise ValueError(f"{source}: class_reduction={params['class_reduction']!r} is not "
                             f'one of {list(CLASS_REDUCTIONS)}')
        out['class_reduction'] = params['class_reduction']
    if params.get('ce_weight') is not None:
        out['ce_weight'] = check_share(params['ce_weight'], f'{source}: ')
    if params.get('mix_metric') is not None:
        try:
            out['mix_metric'] = check_target_metric(params['mix_metric'])
        except ValueError as err:
            raise ValueError(f'{source}: mix_metric: {err}') from None
    if params.get('mix_weight') is not None:
        out['mix_weight'] = check_share(params['mix_weight'], f'{source}: ', 'mix_weight')
    return out


def get_preset(name: str) -> Dict[str, Any]:
    """A preset by name (:data:`PRESETS`), with ``theta`` and ``control_points``."""
    if name not in PRESETS:
        raise ValueError(f'unknown preset {name!r}; valid: {sorted(PRESETS)}')
    return normalize_loss_params(copy.deepcopy(PRESETS[name]), source=f'preset {name!r}')


def load_loss_params(path: str) -> Dict[str, Any]:
    """Read a ``best_loss.json`` written by the search (see module doc).

    Every setting the file carries is binding for the loss that reads it
    (``AutoSegLoss(theta_file=...)``, ``tools/train.py --loss-params``): the
    rule is ``mmseg_autoloss.utils.loss_config.merge_loss_settings``.

    Returns:
        dict: As :func:`normalize_loss_params`.
    """
    try:
        with open(path, encoding='utf-8') as f:
            params = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'theta_file {path!r} is not valid JSON: {err}') from None
    return normalize_loss_params(params, source=f'theta_file {path!r}')
