"""The CE share w of ``w·CE + (1 − w)·surrogate`` and the 'present' class
mean as settings of the search space: the loss, the space, a search round,
best_loss.json and the retrain config."""
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.config import Config
from mmseg.registry import MODELS

from search_config import search_cfg
from mmseg_autoloss.search import LossSearchRunner
from mmseg_autoloss.search.search_space import SearchSpace
from mmseg_autoloss.search.settings import SearchSettings
from mmseg_autoloss.surrogates import identity_theta


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 4, 9, 7, generator=g)
    label = torch.randint(0, 4, (2, 9, 7), generator=g)
    label[0, :2] = 255
    return logits, label


def _loss(**kw):
    return MODELS.build(dict(type='AutoSegLoss', preset='voc_miou', **kw))


def test_ce_weight_one_is_cross_entropy_over_labelled_pixels():
    logits, label = _batch()
    ce = F.cross_entropy(logits, label, ignore_index=255)
    assert float(_loss(ce_weight=1.0)(logits, label)) == pytest.approx(float(ce), rel=1e-6)
    assert float(_loss(ce_weight=0.0)(logits, label)) == float(_loss()(logits, label))


@settings(max_examples=15, deadline=None)
@given(w=st.floats(0, 1), seed=st.integers(0, 50))
def test_the_loss_is_the_convex_mix(w, seed):
    logits, label = _batch(seed)
    mixed = float(_loss(ce_weight=w)(logits, label))
    ends = float(_loss()(logits, label)), float(_loss(ce_weight=1.0)(logits, label))
    assert mixed == pytest.approx((1 - w) * ends[0] + w * ends[1], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize('bad', [-0.1, 1.5, True, '0.5'])
def test_bad_ce_weight_is_named(bad):
    with pytest.raises(ValueError, match=f'AutoSegLoss: ce_weight must be a number in '
                                         fr'\[0, 1\], got {bad!r}'):
        _loss(ce_weight=bad)


def test_space_with_the_mix_has_one_more_dimension():
    space = SearchSpace('mIoU', 'bezier', 2, mix_ce=0.25, class_reduction='present')
    assert space.dim == space.g_dim + 1 == 13 and space.names[-1] == 'ce_weight'
    assert space.default() == identity_theta('mIoU', 2) + [0.25]
    theta = [0.4] * 12 + [0.6]
    params = space.loss_params(theta)
    assert params['theta'] == [0.4] * 12 and params['ce_weight'] == 0.6
    assert params['class_reduction'] == 'present'
    assert len(space.best_loss(theta)['control_points']) == 12
    plain = SearchSpace('mIoU', 'bezier', 2)
    assert 'ce_weight' not in plain.loss_params([0.4] * 12) and plain.dim == 12


@pytest.mark.parametrize('key, value, says', [
    ('mix_ce', 1.2, r'search.mix_ce: ce_weight must be a number in \[0, 1\], got 1.2'),
    ('class_reduction', 'batch', r"search.class_reduction='batch'"),
])
def test_bad_space_settings_are_named(key, value, says):
    with pytest.raises(ValueError, match=says):
        SearchSettings.from_cfg({key: value})


@pytest.mark.slow
def test_search_round_with_the_mix_writes_it_to_best_loss_and_the_retrain_config(
        synthetic_root, tmp_path):
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=4,
                     **{'search.mix_ce': 0.25, 'search.class_reduction': 'present',
                        'search.init_theta': 'voc_miou'})
    LossSearchRunner.from_cfg(cfg).train()
    with open(osp.join(tmp_path, 'best_loss.json')) as f:
        best = json.load(f)
    assert 0 <= best['ce_weight'] <= 1 and best['class_reduction'] == 'present'
    assert len(best['theta']) == 12 and best['schema_version'] == 3
    ledger = [json.loads(line) for line in open(osp.join(tmp_path, 'ledger.jsonl'))]
    assert all(len(r['theta']) == 13 and len(r['control_points']) == 12 for r in ledger)
    # the proxies trained the mix each sampled
    proxy = Config.fromfile(osp.join(tmp_path, 'proxies', 'r00_p01', 'proxy_config.py'))
    assert proxy.model.decode_head.loss_decode.ce_weight == ledger[1]['theta'][-1]
    retrain = Config.fromfile(osp.join(tmp_path, 'retrain_config.py'))
    loss = retrain.model.decode_head.loss_decode
    assert loss.ce_weight == best['ce_weight'] and loss.class_reduction == 'present'
    built = MODELS.build(dict(type='AutoSegLoss', theta_file=osp.join(tmp_path, 'best_loss.json')))
    assert built.ce_weight == best['ce_weight'] and built.class_reduction == 'present'
    with pytest.raises(ValueError, match='ce_weight=0.9 contradicts'):
        MODELS.build(dict(type='AutoSegLoss', ce_weight=0.9,
                          theta_file=osp.join(tmp_path, 'best_loss.json')))
