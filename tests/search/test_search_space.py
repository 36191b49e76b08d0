"""The search space of theta: layout, bounds, names, start point, loss arguments."""
import pytest

from mmseg_autoloss.search.search_space import SearchSpace
from mmseg_autoloss.search.settings import SearchSettings
from mmseg_autoloss.surrogates import identity_theta, normalize_loss_params, num_theta
from mmseg_autoloss.surrogates.presets import LOSS_PARAMS_VERSION


@pytest.mark.parametrize('metric,n,dim', [('mIoU', 2, 12), ('mAcc', 2, 6), ('BF1', 1, 8),
                                          ('mIoU', 3, 20)])
def test_layout(metric, n, dim):
    space = SearchSpace(metric, 'bezier', n, tol=5)
    assert space.dim == dim == num_theta(metric, n)
    assert space.bounds == [(0.0, 1.0)] * dim
    assert len(space.names) == len(set(space.names)) == dim
    assert space.default() == identity_theta(metric, n)


def test_names_follow_the_flat_layout():
    assert SearchSpace('BF1', 'bezier', 1).names == [
        'g0.theta1.u', 'g0.theta1.v', 'g1.theta1.u', 'g1.theta1.v', 'g2.theta1.u',
        'g2.theta1.v', 'g3.theta1.u', 'g3.theta1.v']
    assert SearchSpace('mAcc', 'bezier', 2).names[:4] == [
        'g0.theta1.u', 'g0.theta1.v', 'g0.theta2.u', 'g0.theta2.v']


def test_loss_params_and_best_loss_are_loadable():
    space = SearchSpace('BIoU', 'linear', 2, tol=3, drop_bg=True)
    theta = [0.5] * 12
    params = space.loss_params(theta)
    assert params['tol'] == 3 and params['drop_bg'] is True
    best = space.best_loss(theta, reward=0.5)
    assert best['schema_version'] == LOSS_PARAMS_VERSION == 3 and best['reward'] == 0.5
    loaded = normalize_loss_params(best)
    assert loaded['control_points'] == pytest.approx(best['control_points'])
    assert 'tol' not in SearchSpace('mIoU', 'bezier', 2, tol=5).loss_params([0.5] * 12)
    with pytest.raises(ValueError, match='theta has 3 numbers, the search space 12'):
        space.loss_params([0.5] * 3)


def test_settings_give_the_space():
    s = SearchSettings.from_cfg(dict(target_metric='BF1', tol=2))
    assert s.space == SearchSpace('BF1', 'bezier', 1, tol=2, drop_bg=False)
    assert s.loss_params([0.5] * 8) == s.space.loss_params([0.5] * 8)
