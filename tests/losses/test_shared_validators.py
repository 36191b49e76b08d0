"""One ``tol`` rule and one label-range check for losses, metrics and search.

``tol`` is an integer >= 0; a bool is never a tol, and neither is a float
(even an integral one): every component that takes a tol accepts and
refuses the same values.
"""
import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

from mmseg_autoloss.boundary import check_tol as boundary_check_tol
from mmseg_autoloss.boundary import dilate
from mmseg_autoloss.evaluation import SegMetric
from mmseg_autoloss.evaluation.functional import image_stats
from mmseg_autoloss.search.settings import SearchSettings
from mmseg_autoloss.surrogates import check_labels, normalize_loss_params, relaxed_metric
from mmseg_autoloss.utils.validate import DEFAULT_TOL, check_label_range, check_tol

GOOD = [0, 1, 5, np.int64(3)]
BAD = [True, False, -1, 5.0, 2.5, '5', None]
LABEL = torch.tensor([[[0, 1], [2, 255]]])


def _consumers():
    """Every place that takes a tol, as fn(tol) -> anything (raises on a bad one)."""
    p = torch.rand(1, 3, 2, 2)
    return {
        'check_tol': check_tol,
        'boundary.check_tol': boundary_check_tol,
        'dilate': lambda tol: dilate(p, tol),
        'relaxed_metric': lambda tol: relaxed_metric(p, LABEL, 'BF1', tol=tol),
        'image_stats': lambda tol: image_stats(LABEL.clamp(max=2), LABEL, 3, tol=tol),
        'SegMetric': lambda tol: SegMetric(metrics=['BIoU'], tol=tol),
        'AutoSegLoss': lambda tol: MODELS.build(dict(type='AutoSegLoss', target_metric='BIoU',
                                                     tol=tol)),
        'BoundaryReCAMLoss': lambda tol: MODELS.build(dict(type='BoundaryReCAMLoss', tol=tol)),
        'SearchSettings': lambda tol: SearchSettings.from_cfg(dict(target_metric='BIoU',
                                                                   tol=tol)),
        'loss params': lambda tol: normalize_loss_params(
            dict(target_metric='BIoU', num_pieces=2, theta=[0.5] * 12, tol=tol)),
    }


@pytest.mark.parametrize('name', sorted(_consumers()))
def test_every_component_has_the_same_tol_rule(name):
    fn = _consumers()[name]
    for tol in GOOD:
        fn(tol)
    for tol in BAD:
        if tol is None and name in ('AutoSegLoss', 'loss params'):
            continue  # None there means "the default" / "not given"
        with pytest.raises((ValueError, TypeError), match='tol'):
            fn(tol)


def test_tol_default_is_one_constant():
    assert DEFAULT_TOL == 5
    assert SegMetric(metrics=['BIoU']).tol == DEFAULT_TOL
    assert MODELS.build(dict(type='AutoSegLoss', target_metric='BF1')).tol == DEFAULT_TOL
    assert SearchSettings.from_cfg(dict(target_metric='BIoU')).tol == DEFAULT_TOL
    assert check_tol(np.int64(3)) == 3 and type(check_tol(np.int64(3))) is int


@pytest.mark.parametrize('check', [
    lambda lab: check_label_range(lab, 3, 255),
    lambda lab: check_labels(lab, 3, 255),
    lambda lab: image_stats(lab.clamp(0, 2), lab, 3),
    lambda lab: MODELS.build(dict(type='AutoSegLoss', check_labels=True))(
        torch.randn(1, 3, 2, 2), lab, ignore_index=255),
])
def test_one_label_range_message(check):
    check(LABEL)  # 255 is ignore_index
    bad = torch.tensor([[[0, 7], [-1, 255]]])
    with pytest.raises(ValueError, match=r'label values \[-1, 7\] are outside \[0, 2\] '
                       r'\(num_classes=3\) and not ignore_index=255'):
        check(bad)
