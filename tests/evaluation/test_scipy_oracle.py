"""BF1 and BIoU against an independent scipy.ndimage oracle (method.md §1).

The oracle shares no code with mmseg_autoloss: boundaries from
``binary_erosion`` with a 3x3 window (outside counts as inside), tolerance
bands from ``binary_dilation`` with a (2·tol+1)² square, per-class sums over
the set, predicted boundaries counted on void pixels as the authors'
evaluator does.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from conftest import void_ring_example
from mmseg_autoloss.evaluation.functional import image_stats, parse_metrics, summarize
from mmseg_autoloss.evaluation.seg_metric import SegMetric

SQUARE3 = np.ones((3, 3), bool)


def _bd(mask):
    return mask & ~ndimage.binary_erosion(mask, SQUARE3, border_value=1)


def _dil(mask, tol):
    return ndimage.binary_dilation(mask, np.ones((2 * tol + 1, ) * 2, bool)) if tol else mask


def oracle(pred, label, c, tol, drop_bg=False, ignore=255):
    """(stats (N, C, 10) as image_stats, BIoU, BF1) from scipy.ndimage."""
    n = pred.shape[0]
    stats = np.zeros((n, c, 10), np.int64)
    for i in range(n):
        p, g, valid = pred[i], label[i], label[i] != ignore
        gt_bd = [_bd(g == k) for k in range(c)]
        pr_bd = [_bd(p == k) for k in range(c)]  # on the full prediction, void included
        band = np.zeros(g.shape, bool)
        for k in range(c):
            if not (drop_bg and k == 0):
                band |= _dil(gt_bd[k], tol)
        for k in range(c):
            gk, pk = (g == k) & valid, (p == k) & valid
            stats[i, k] = [
                (gk & pk).sum(), (pk & ~gk).sum(), (gk & ~pk).sum(),
                (gk & pk & band).sum(), (pk & ~gk & band).sum(), (gk & ~pk & band).sum(),
                pr_bd[k].sum(), (pr_bd[k] & _dil(gt_bd[k], tol)).sum(),
                gt_bd[k].sum(), (gt_bd[k] & _dil(pr_bd[k], tol)).sum()]
    tot = stats.sum(0).astype(float)
    with np.errstate(invalid='ignore', divide='ignore'):
        biou = tot[:, 3] / (tot[:, 3] + tot[:, 4] + tot[:, 5])
        prec = np.nan_to_num(tot[:, 7] / tot[:, 6])
        rec = np.nan_to_num(tot[:, 9] / tot[:, 8])
        f1 = np.nan_to_num(2 * prec * rec / (prec + rec))
    f1 = np.where(tot[:, 8] > 0, f1, np.nan)
    if drop_bg:
        f1[0] = np.nan
    return stats, np.nanmean(biou), np.nanmean(f1)


def voc_like(rng, n, c, h, w, void_band=True, noise=0.2):
    """Blocky labels with VOC's void band (2-3 px along object boundaries)
    and a prediction that is the truth with shifted and flipped blocks."""
    lab = rng.integers(0, c, (n, h // 4 + 1, w // 4 + 1))
    truth = np.kron(lab, np.ones((4, 4), np.int64))[:, :h, :w]
    label = truth.copy()
    if void_band:
        for i in range(n):
            edge = ndimage.maximum_filter(truth[i], 3) != ndimage.minimum_filter(truth[i], 3)
            label[i][ndimage.binary_dilation(edge, iterations=rng.integers(0, 2))] = 255
    pred = np.roll(truth, rng.integers(-1, 2, 2), axis=(1, 2))
    flip = rng.random((n, h, w)) < noise
    pred[flip] = rng.integers(0, c, flip.sum())
    return pred, label, truth


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), c=st.integers(2, 6), n=st.integers(1, 3),
       tol=st.integers(0, 4), drop_bg=st.booleans(), void_band=st.booleans(),
       shape=st.sampled_from([(13, 17), (16, 16), (5, 23)]))
def test_stats_and_metrics_equal_the_oracle(seed, c, n, tol, drop_bg, void_band, shape):
    rng = np.random.default_rng(seed)
    pred, label, _ = voc_like(rng, n, c, *shape, void_band=void_band)
    if not void_band:  # random void pixels instead
        label[rng.random(label.shape) < 0.1] = 255
    ref, biou, bf1 = oracle(pred, label, c, tol, drop_bg)
    stats = image_stats(torch.from_numpy(pred), torch.from_numpy(label), c, 255, tol, drop_bg)
    np.testing.assert_array_equal(stats.numpy(), ref)
    summary, _ = summarize(stats.numpy(), parse_metrics(['BIoU', 'BF1']), drop_bg=drop_bg)
    for key, value in (('BIoU', biou), ('BF1', bf1)):
        if np.isnan(value):
            assert np.isnan(summary[key])
        else:
            assert summary[key] == pytest.approx(value, abs=1e-12)


def test_perfect_prediction_on_void_band_scores_100():
    """The issue's reproducer: a 2-px void ring along the object boundary."""
    truth, label = void_ring_example()
    m = SegMetric(metrics=['mIoU', 'BF1', 'BIoU'], tol=5)
    m.dataset_meta = dict(classes=['bg', 'obj'])
    m.process({}, [dict(pred_sem_seg=dict(data=truth), gt_sem_seg=dict(data=label))])
    assert m.compute_metrics(m.results) == {'mIoU': 100.0, 'BF1': 100.0, 'BIoU': 100.0}
    _, _, bf1 = oracle(truth.numpy(), label.numpy(), 2, 5)
    assert bf1 == 1.0


def test_segmetric_equals_oracle_on_voc_like_set():
    rng = np.random.default_rng(0)
    pred, label, _ = voc_like(rng, 6, 5, 40, 48)
    m = SegMetric(metrics=['BIoU', 'BF1'], tol=3)
    m.dataset_meta = dict(classes=[str(k) for k in range(5)])
    m.process({}, [dict(pred_sem_seg=dict(data=torch.from_numpy(p)[None]),
                        gt_sem_seg=dict(data=torch.from_numpy(g)[None]))
                   for p, g in zip(pred, label)])
    _, biou, bf1 = oracle(pred, label, 5, 3)
    got = m.compute_metrics(m.results)
    assert got['BIoU'] == pytest.approx(round(100 * biou, 2))
    assert got['BF1'] == pytest.approx(round(100 * bf1, 2))
