"""The loss-file rule's side messages and the loss_weight check."""
import json
import math
import re

import pytest
from mmengine.logging import MMLogger

from mmseg_autoloss.losses.auto_seg_loss import AutoSegLoss
from mmseg_autoloss.utils.loss_config import merge_loss_settings

THETA = [0.3, 0.6, 0.4, 0.2, 0.5, 0.7, 0.1, 0.8, 0.6, 0.3, 0.2, 0.9]


def _log_of(tmp_path, name, fn):
    log = tmp_path / f'{name}.log'
    MMLogger.get_instance(name, log_file=str(log), log_level='INFO')
    fn()
    return log.read_text()


def test_a_file_that_decides_the_metric_says_so(tmp_path):
    path = tmp_path / 'biou.json'
    path.write_text(json.dumps(dict(target_metric='BIoU', num_pieces=2, theta=THETA, tol=2)))
    text = _log_of(tmp_path, 'implied_metric', lambda: AutoSegLoss(theta_file=str(path)))
    assert 'WARNING' in text
    assert (f"theta_file {str(path)!r} sets target_metric='BIoU', parameterization='bezier', "
            "num_pieces=2, tol=2") in text
    assert 'this is a BIoU loss because of the file' in text
    # Named in the config: an info line, no warning.
    text = _log_of(tmp_path, 'named_metric',
                   lambda: AutoSegLoss(theta_file=str(path), target_metric='BIoU'))
    assert 'WARNING' not in text and "sets parameterization='bezier', num_pieces=2, tol=2" in text


@pytest.mark.parametrize('value', [math.nan, math.inf, -math.inf, -0.5, '1.0', None, True])
def test_loss_weight_must_be_a_finite_nonnegative_number(value):
    with pytest.raises(ValueError, match=re.escape(
            f'AutoSegLoss: loss_weight must be a finite number >= 0, got {value!r}')):
        AutoSegLoss(loss_weight=value)
    assert AutoSegLoss(loss_weight=0.4).loss_weight == pytest.approx(0.4)
    assert AutoSegLoss(loss_weight=0).loss_weight == 0.0


def test_merge_loss_settings_rule():
    params = dict(target_metric='BF1', num_pieces=1, tol=5, drop_bg=False)
    merged = merge_loss_settings(dict(parameterization='linear'), params, 'x')
    assert merged == dict(target_metric='BF1', parameterization='linear', num_pieces=1, tol=5,
                          drop_bg=False, class_reduction=None, ce_weight=None, mix_metric=None,
                          mix_weight=None)
    with pytest.raises(ValueError, match='tol=3 contradicts x, which has tol=5'):
        merge_loss_settings(dict(tol=3), params, 'x')
    assert merge_loss_settings(dict(tol=3), params, 'x', overridable=('tol', ))['tol'] == 3
    assert merge_loss_settings(dict(tol=5.0), params, 'x')['tol'] == 5.0  # equal is no conflict
