"""The target-metric table: equal to the hand-written facts, and open to a
user's metric (one entry + one relaxed function) end to end."""
import pytest
import torch

from mmseg_autoloss.surrogates import (DEFAULT_NUM_PIECES, METRIC_NUM_G, METRICS, TargetMetric,
                                       boundary_evaluator_names, get_target_metric, num_theta,
                                       register_target_metric, relaxed_metric, relaxed_miou,
                                       remove_target_metric, target_metric_names)
from toy_metric import TOY, toy_registered

# Written by hand from SPEC §1-§4 (an independent check of metric_table.py):
# name: (number of g, default pieces, SegMetric metric, result key, boundary)
BY_HAND = {
    'mIoU': (2, 2, 'mIoU', 'mIoU', False),
    'FWIoU': (2, 2, 'FWIoU', 'FWIoU', False),
    'mAcc': (1, 2, 'mAcc', 'mAcc', False),
    'gAcc': (1, 2, 'aAcc', 'aAcc', False),
    'BIoU': (2, 2, 'BIoU', 'BIoU', True),
    'BF1': (4, 1, 'BF1', 'BF1', True),
    'mDice': (2, 2, 'mDice', 'mDice', False),
    'mIoU_I': (2, 2, 'mIoU_I', 'mIoU_I', False),
    'mIoU_C': (2, 2, 'mIoU_C', 'mIoU_C', False),
}
# the list tests/hooks/test_hooks.py and tests/surrogates/test_parameterization.py spell out
HOOK_TEST_LIST = ('mIoU', 'FWIoU', 'mAcc', 'gAcc', 'mDice', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C')


def test_table_equals_the_hand_written_lists():
    table = {name: get_target_metric(name) for name in target_metric_names()}
    assert {n: (e.num_g, e.num_pieces, e.evaluator, e.result_key, e.boundary)
            for n, e in table.items()} == BY_HAND
    assert set(HOOK_TEST_LIST) == set(METRICS) == set(BY_HAND)
    assert {n: e.tol for n, e in table.items() if e.boundary} == {'BIoU': 5, 'BF1': 5}
    assert all(e.tol is None for e in table.values() if not e.boundary)
    assert boundary_evaluator_names() == ('BIoU', 'BF1')
    # the old constants are views of the table
    assert dict(METRIC_NUM_G) == {n: v[0] for n, v in BY_HAND.items()}
    assert dict(DEFAULT_NUM_PIECES) == {n: v[1] for n, v in BY_HAND.items()}
    assert tuple(METRICS) == tuple(BY_HAND) and METRICS == tuple(BY_HAND)


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_g=0), 'num_g'), (dict(num_g=True), 'num_g'), (dict(num_pieces=0), 'num_pieces'),
    (dict(relaxed=3), 'relaxed'), (dict(boundary=True, tol=-1), 'tol'),
    (dict(boundary=True, tol=2.0), 'tol'), (dict(tol=3), 'tol'), (dict(name=''), 'name')])
def test_bad_entries_name_the_field(kwargs, match):
    args = dict(name='toy', num_g=2, relaxed=relaxed_miou)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TargetMetric(**args)


def test_builtins_cannot_be_replaced_or_removed():
    with pytest.raises(KeyError, match='already registered'):
        register_target_metric(TargetMetric('mIoU', num_g=2, relaxed=relaxed_miou), force=True)
    with pytest.raises(KeyError, match='built in'):
        remove_target_metric('mIoU')
    with pytest.raises(ValueError, match=r"target_metric='miou' is not supported; valid names"):
        get_target_metric('miou')


# ------------------------------------------------------------ a toy metric
@pytest.fixture
def toy_metric():
    with toy_registered() as toy:
        yield toy


def test_toy_metric_through_the_surrogate_math(toy_metric):
    assert 'mIoU_sq' in METRICS and METRIC_NUM_G['mIoU_sq'] == 2
    assert num_theta('mIoU_sq') == 2 * 2  # 2 g with n = 1
    with pytest.raises(KeyError, match='already registered; pass force=True'):
        register_target_metric(TOY)
    assert register_target_metric(TOY, force=True) is TOY
    torch.manual_seed(0)
    probs = torch.rand(2, 3, 8, 8).softmax(1)
    label = torch.randint(0, 3, (2, 8, 8))
    value = relaxed_metric(probs, label, 'mIoU_sq')
    assert value == pytest.approx(float(relaxed_metric(probs, label, 'mIoU'))**2)
    one_hot = torch.nn.functional.one_hot(label, 3).permute(0, 3, 1, 2).float()
    assert float(relaxed_metric(one_hot, label, 'mIoU_sq')) == pytest.approx(1.0)


def test_toy_metric_is_gone_after_removal():
    assert 'mIoU_sq' not in METRICS
    with pytest.raises(ValueError, match='not supported'):
        num_theta('mIoU_sq')


# ---------------------------------------------------- best_loss.json schema
def test_loss_params_schema_version(tmp_path):
    import json

    from mmseg_autoloss.surrogates import load_loss_params
    from mmseg_autoloss.surrogates.presets import LOSS_PARAMS_VERSION

    assert LOSS_PARAMS_VERSION == 3
    path = tmp_path / 'best_loss.json'
    base = dict(target_metric='mAcc', num_pieces=2, theta=[0.5] * 6)
    for version in (None, 0, 1, LOSS_PARAMS_VERSION):  # files written before load too
        extra = {} if version is None else dict(schema_version=version)
        path.write_text(json.dumps(dict(base, **extra)))
        assert load_loss_params(str(path))['theta'] == pytest.approx([0.5] * 6)
    for bad in (LOSS_PARAMS_VERSION + 1, '1', True):
        path.write_text(json.dumps(dict(base, schema_version=bad)))
        with pytest.raises(ValueError, match='schema_version'):
            load_loss_params(str(path))
    # version 2 carries the mix and the class mean; a bad value is named
    path.write_text(json.dumps(dict(base, schema_version=2, ce_weight=0.25,
                                    class_reduction='present')))
    params = load_loss_params(str(path))
    assert params['ce_weight'] == 0.25 and params['class_reduction'] == 'present'
    for key, bad in (('ce_weight', 1.5), ('class_reduction', 'some')):
        path.write_text(json.dumps(dict(base, schema_version=2, **{key: bad})))
        with pytest.raises(ValueError, match=f'{key}.*{bad}'):
            load_loss_params(str(path))
