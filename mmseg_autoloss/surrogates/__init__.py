"""Surrogate math: parameterizations, relaxed metrics, presets (plain torch).

Importable without mmseg and mmengine::

    from mmseg_autoloss.surrogates import relaxed_metric
"""
from ..boundary import (boundary_band, class_boundaries, dilate, dilate_at, erode,
                        hard_boundary, label_edges, valid_edges)
from .parameterization import (DEFAULT_NUM_PIECES, METRIC_NUM_G, METRICS, PARAMETERIZATIONS,
                               PiecewiseG, apply_g, bezier_g, build_g_functions,
                               check_control_points, check_parameterization, check_target_metric,
                               check_theta, control_points_to_theta, full_control_points,
                               g_formula, identity_theta, linear_g, num_params_per_g, num_theta,
                               theta_to_control_points)
from .presets import PRESETS, get_preset, load_loss_params, normalize_loss_params
from .relaxed_metrics import (CLASS_REDUCTIONS, check_labels, relaxed_bf1, relaxed_biou,
                              relaxed_fwiou, relaxed_gacc, relaxed_macc, relaxed_mdice,
                              relaxed_metric, relaxed_miou, relaxed_miou_class,
                              relaxed_miou_image, soft_and, soft_boundary, soft_or, soft_xor)
from .target_metrics import (TargetMetric, boundary_evaluator_names, get_target_metric,
                             register_target_metric, remove_target_metric, target_metric_names)
from . import metric_table  # noqa: F401,E402  (registers the built-in metrics)

__all__ = [
    'erode', 'dilate', 'dilate_at', 'hard_boundary', 'label_edges', 'valid_edges', 'class_boundaries',
    'boundary_band',
    'METRICS', 'METRIC_NUM_G', 'DEFAULT_NUM_PIECES', 'PARAMETERIZATIONS', 'num_theta',
    'num_params_per_g', 'identity_theta', 'theta_to_control_points', 'control_points_to_theta',
    'full_control_points', 'check_theta', 'check_control_points', 'check_target_metric',
    'check_parameterization', 'PiecewiseG', 'build_g_functions', 'bezier_g', 'linear_g',
    'g_formula', 'apply_g', 'PRESETS', 'get_preset', 'load_loss_params',
    'normalize_loss_params', 'CLASS_REDUCTIONS', 'check_labels', 'relaxed_metric',
    'relaxed_miou', 'relaxed_fwiou', 'relaxed_macc', 'relaxed_gacc', 'relaxed_biou',
    'relaxed_bf1', 'relaxed_mdice', 'relaxed_miou_image', 'relaxed_miou_class', 'soft_and',
    'soft_or', 'soft_xor', 'soft_boundary', 'TargetMetric', 'register_target_metric',
    'remove_target_metric', 'get_target_metric', 'target_metric_names',
    'boundary_evaluator_names'
]
