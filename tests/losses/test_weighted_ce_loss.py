"""WeightedCrossEntropyLoss: class weights with void pixels, where MMSeg 1.2.2's
CrossEntropyLoss(class_weight=...) fails."""
import numpy as np
import pytest
import torch
from mmseg.registry import MODELS


def _batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 4, generator=g, requires_grad=True)
    label = torch.randint(0, 3, (2, 5, 4), generator=g)
    label[0, 0] = 255
    return logits, label


def test_weighted_mean_over_non_void_pixels_against_numpy():
    logits, label = _batch()
    w = [0.5, 2.0, 1.0]
    loss = MODELS.build(dict(type='WeightedCrossEntropyLoss', class_weight=w, loss_weight=2.0))
    got = loss(logits, label, ignore_index=255)
    x = logits.detach().numpy().transpose(0, 2, 3, 1).reshape(-1, 3)
    y = label.numpy().ravel()
    keep = y != 255
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    nll = -logp[keep, y[keep]]
    wy = np.asarray(w)[y[keep]]
    assert got.item() == pytest.approx(2.0 * (wy * nll).sum() / wy.sum(), rel=1e-5)
    got.backward()
    assert torch.isfinite(logits.grad).all()


def test_mmseg_class_weighted_ce_fails_on_void_and_this_one_does_not():
    logits, label = _batch()
    mmseg_ce = MODELS.build(dict(type='CrossEntropyLoss', class_weight=[0.5, 2.0, 1.0]))
    with pytest.raises(IndexError):
        mmseg_ce(logits, label, ignore_index=255)
    ours = MODELS.build(dict(type='WeightedCrossEntropyLoss', class_weight=[0.5, 2.0, 1.0]))
    assert torch.isfinite(ours(logits, label, ignore_index=255))


@pytest.mark.parametrize('bad, says', [
    (dict(class_weight=[]), 'non-empty'),
    (dict(class_weight=[1.0, -1.0, 1.0]), r'\[1.0, -1.0, 1.0\]'),
    (dict(class_weight=[1.0, float('nan'), 1.0]), 'finite'),
    (dict(class_weight=[1.0, 1.0, 1.0], use_sigmoid=False), '_delete_=True'),
])
def test_bad_settings_are_named(bad, says):
    with pytest.raises((ValueError, TypeError), match=says):
        MODELS.build(dict(type='WeightedCrossEntropyLoss', **bad))


def test_class_count_mismatch_is_named():
    logits, label = _batch()
    loss = MODELS.build(dict(type='WeightedCrossEntropyLoss', class_weight=[1.0, 1.0]))
    with pytest.raises(ValueError, match='2 class weights for 3 classes'):
        loss(logits, label)
