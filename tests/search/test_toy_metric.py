"""A user's target metric end to end: one table entry plus one relaxed
function give an AutoSegLoss that trains and a search that runs."""
import json
import os.path as osp

import pytest
import torch
from mmseg.registry import MODELS

from search_config import search_cfg
from mmseg_autoloss.search import LossSearchRunner
from mmseg_autoloss.surrogates.presets import LOSS_PARAMS_VERSION
from toy_metric import toy_registered


@pytest.fixture
def toy_metric():
    with toy_registered() as toy:
        yield toy


def test_toy_metric_autoseg_loss_forward_backward(toy_metric):
    loss = MODELS.build(dict(type='AutoSegLoss', target_metric='mIoU_sq',
                             theta=[0.3, 0.6, 0.5, 0.5]))
    assert loss.num_pieces == 1 and len(loss.gs) == 2
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 16, 16, requires_grad=True)
    label = torch.randint(0, 3, (2, 16, 16))
    value = loss(logits, label, ignore_index=255)
    value.backward()
    assert 0 < float(value.detach()) < 1 and torch.isfinite(logits.grad).all()
    assert float(logits.grad.abs().sum()) > 0


@pytest.mark.slow
def test_toy_metric_tiny_search_round(toy_metric, synthetic_root, tmp_path):
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=4,
                     **{'search.target_metric': 'mIoU_sq',
                        'search.controller': dict(type='RandomSearchController',
                                                  _delete_=True)})
    for head in (cfg.model.decode_head, cfg.model.auxiliary_head):
        head.loss_decode['target_metric'] = 'mIoU_sq'
    LossSearchRunner.from_cfg(cfg).train()
    with open(osp.join(tmp_path, 'best_loss.json')) as f:
        best = json.load(f)
    assert best['target_metric'] == 'mIoU_sq' and best['num_pieces'] == 1
    assert len(best['theta']) == 4 and 'tol' not in best and best['schema_version'] == LOSS_PARAMS_VERSION == 3
    assert 0 <= best['reward'] <= 1


def test_surrogate_monitor_scores_a_users_metric_with_its_evaluator(toy_metric):
    from mmseg_autoloss.hooks.surrogate_monitor_hook import hard_metric, scored_as
    from mmseg_autoloss.evaluation.functional import image_stats
    loss = MODELS.build(dict(type='AutoSegLoss', target_metric='mIoU_sq',
                             theta=[0.3, 0.6, 0.5, 0.5]))
    assert scored_as(loss) == 'mIoU'
    label = torch.randint(0, 3, (2, 16, 16), generator=torch.Generator().manual_seed(0))
    assert hard_metric(image_stats(label, label, 3, 255, 2).numpy(), loss) == pytest.approx(1.0)
    pred = label.clone()
    pred[0, :8] = (pred[0, :8] + 1) % 3
    stats = image_stats(pred, label, 3, 255, 2).numpy()
    # SegMetric's mIoU of the same counts (the toy's evaluator)
    tp, fp, fn = (stats[..., k].sum(0) for k in range(3))
    assert hard_metric(stats, loss) == pytest.approx(float((tp / (tp + fp + fn)).mean()))
