"""Tests of the metric core (mmseg_autoloss/evaluation/functional.py)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_autoloss.evaluation.functional import (STAT_FIELDS, image_stats, parse_metrics,
                                                  summarize, worst_case_mean)

SETTINGS = dict(max_examples=20, deadline=None)
ALL = ['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'mDice', 'BIoU', 'BF1']
F = {name: i for i, name in enumerate(STAT_FIELDS)}


def _values(pred, label, c, metrics, q=(1, 5), tol=5, drop_bg=False, ignore_index=255):
    stats = image_stats(torch.as_tensor(pred), torch.as_tensor(label), c, ignore_index, tol,
                        drop_bg)
    summary, per_class = summarize(stats.numpy(), parse_metrics(metrics, q), drop_bg=drop_bg)
    return summary, per_class


def _random_maps(seed, n, c, h, w, ignore_frac=0.1, blocky=True):
    g = torch.Generator().manual_seed(seed)
    if blocky:  # regions larger than a pixel, so boundaries are not everywhere
        lab = torch.randint(0, c, (n, 1, h // 4 + 1, w // 4 + 1), generator=g).float()
        lab = torch.nn.functional.interpolate(lab, scale_factor=4, mode='nearest')
        lab = lab[:, 0, :h, :w].long()
    else:
        lab = torch.randint(0, c, (n, h, w), generator=g)
    pred = lab.clone()
    flip = torch.rand(n, h, w, generator=g) < 0.3
    pred[flip] = torch.randint(0, c, (int(flip.sum()), ), generator=g)
    lab[torch.rand(n, h, w, generator=g) < ignore_frac] = 255
    return pred, lab


# ------------------------------------------------------------ per-image counts
# (every column against scipy.ndimage: test_scipy_oracle.py)


def test_batched_equals_single_images():
    pred, label = _random_maps(3, 4, 5, 20, 24)
    batched = image_stats(pred, label, 5)
    single = torch.cat([image_stats(pred[i], label[i], 5) for i in range(4)])
    assert torch.equal(batched, single)


def test_bad_inputs_raise_clear_errors():
    p = torch.zeros(4, 5, dtype=torch.long)
    with pytest.raises(ValueError, match='does not match label shape'):
        image_stats(p, torch.zeros(4, 6, dtype=torch.long), 3)
    with pytest.raises(ValueError, match=r'label values \[7\]'):
        image_stats(p, torch.full((4, 5), 7), 3)
    with pytest.raises(ValueError, match=r'label values \[3\]'):
        # value C itself, next to ignored pixels (the internal sentinel row)
        image_stats(p, torch.tensor([[3, 255, 0, 0, 0]] * 4), 3)
    with pytest.raises(ValueError, match='prediction values'):
        image_stats(torch.full((4, 5), 3), torch.zeros(4, 5, dtype=torch.long), 3)
    with pytest.raises(ValueError, match='integer'):
        image_stats(p.float(), p, 3)
    with pytest.raises(ValueError, match='tol'):
        image_stats(p, p, 3, tol=-2)


# ------------------------------------------------------------ metric names


@pytest.mark.parametrize('names, match', [
    (['mIoU', 'mIOU'], "unknown metric 'mIOU'"),
    (['BF2'], "unknown metric 'BF2'"),
    (['mIoU_D_q5'], 'image \\(I\\) and class \\(C\\)'),
    (['mIoU_C_q0'], 'q must'),
    (['mIoU_C_q101'], 'q must'),
    (['mIoU_C_qx'], 'q must'),
    ([], 'at least one'),
])
def test_parse_metrics_rejects(names, match):
    with pytest.raises(ValueError, match=match):
        parse_metrics(names)


@pytest.mark.parametrize('q', [(0, ), (-1, ), (100.5, ), (float('nan'), ), ('5', ), (True, )])
def test_parse_metrics_rejects_bad_q(q):
    with pytest.raises(ValueError, match='q must'):
        parse_metrics(['mIoU_C_q'], q)


def test_parse_metrics_keys():
    keys = [r[0] for r in parse_metrics(['gAcc', 'mIoU_C_q', 'mDice_I_q2.5', 'mAcc_D'],
                                        q=(1, 5, 100))]
    assert keys == ['aAcc', 'mIoU_C_q1', 'mIoU_C_q5', 'mIoU_C_q100', 'mDice_I_q2.5', 'mAcc_D']


# ------------------------------------------------------------ fine-grained


def _loop_reference(pred, label, c, q):
    """Per-image Python loop straight from method.md §1 (fine-grained, worst case)."""
    out = {}
    for score in ('IoU', 'Acc', 'Dice'):
        per_image, per_class = [], [[] for _ in range(c)]
        for p, g in zip(pred.numpy(), label.numpy()):
            keep = g != 255
            p, g = p[keep], g[keep]
            vals = []
            for k in np.unique(g):  # classes of this image's ground truth
                tp = np.sum((p == k) & (g == k))
                fp = np.sum((p == k) & (g != k))
                fn = np.sum((p != k) & (g == k))
                v = {'IoU': tp / (tp + fp + fn), 'Acc': tp / (tp + fn),
                     'Dice': 2 * tp / (2 * tp + fp + fn)}[score]
                vals.append(v)
                per_class[k].append(v)
            if vals:
                per_image.append(np.mean(vals))
        if not per_image:
            return {}
        out[f'm{score}_I'] = np.mean(per_image)
        out[f'm{score}_C'] = np.mean([np.mean(v) for v in per_class if v])
        for qq in q:
            lowest = sorted(per_image)[:max(1, int(math.floor(qq * len(per_image) / 100 + 1e-9)))]
            out[f'm{score}_I_q{qq:g}'] = np.mean(lowest)
            worst = [np.mean(sorted(v)[:max(1, int(math.floor(qq * len(v) / 100 + 1e-9)))])
                     for v in per_class if v]
            out[f'm{score}_C_q{qq:g}'] = np.mean(worst)
    return out


@settings(**SETTINGS)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 12), c=st.integers(2, 6))
def test_fine_grained_match_per_image_loop(seed, n, c):
    g = torch.Generator().manual_seed(seed)
    # few classes per image, some classes absent from the whole set
    label = torch.randint(0, max(2, c - 1), (n, 9, 11), generator=g)
    label[torch.rand(n, 9, 11, generator=g) < 0.2] = 255
    label[0] = 255  # an image without labelled pixels counts nowhere
    pred = torch.randint(0, c, (n, 9, 11), generator=g)
    q = (1, 25, 50, 100)
    names = [f'm{s}_{lv}' for s in ('IoU', 'Acc', 'Dice') for lv in 'IC']
    names += [f'm{s}_{lv}_q' for s in ('IoU', 'Acc', 'Dice') for lv in 'IC']
    summary, _ = _values(pred, label, c, names, q=q)
    ref = _loop_reference(pred, label, c, q)
    if n == 1:  # no labelled pixel at all: undefined
        assert all(math.isnan(v) for v in summary.values())
        return
    assert summary.keys() == ref.keys()
    for key, val in ref.items():
        assert summary[key] == pytest.approx(val, abs=1e-12), key


def test_dataset_level_aliases_and_fwiou():
    pred, label = _random_maps(0, 3, 4, 16, 16)
    s, per_class = _values(pred, label, 4, ['mIoU', 'mIoU_D', 'mAcc', 'mAcc_D', 'mDice',
                                            'mDice_D', 'FWIoU', 'aAcc'])
    assert s['mIoU'] == s['mIoU_D'] and s['mAcc'] == s['mAcc_D'] and s['mDice'] == s['mDice_D']
    keep = label != 255
    p, g = pred[keep].numpy(), label[keep].numpy()
    iou = [np.sum((p == k) & (g == k)) / np.sum((p == k) | (g == k)) for k in range(4)]
    freq = [np.mean(g == k) for k in range(4)]
    assert s['FWIoU'] == pytest.approx(float(np.dot(freq, iou)))
    assert s['aAcc'] == pytest.approx(float(np.mean(p == g)))
    assert per_class['IoU'] == pytest.approx(iou)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10**6), q1=st.floats(0.5, 100), q2=st.floats(0.5, 100))
def test_worst_case_is_monotone_in_q_and_q100_is_the_mean(seed, q1, q2):
    rng = np.random.default_rng(seed)
    vals = rng.random((15, 3))
    present = rng.random((15, 3)) < 0.6
    lo, hi = sorted((q1, q2))
    w_lo, w_hi = worst_case_mean(vals, present, lo), worst_case_mean(vals, present, hi)
    ok = present.any(0)
    assert np.all(w_lo[ok] <= w_hi[ok] + 1e-12)
    mean = np.array([vals[present[:, k], k].mean() if ok[k] else np.nan for k in range(3)])
    np.testing.assert_allclose(worst_case_mean(vals, present, 100), mean)


# ------------------------------------------------------------ hand-made boundaries


def _square(shift=(0, 0), size=40):
    m = torch.zeros(size, size, dtype=torch.long)
    m[10 + shift[0]:20 + shift[0], 10 + shift[1]:20 + shift[1]] = 1
    return m


def test_shifted_square_bf1_and_biou():
    gt, pred = _square(), _square((0, 1))
    # tol=0: a 1-px shift keeps the top/bottom edges (9 of 36 outline pixels
    # each for the square, 11 of 44 ring pixels each for the background):
    # P = R = 1/2 for both classes.
    s, pc = _values(pred, gt, 2, ['BF1'], tol=0)
    assert pc['BF1'].tolist() == [0.5, 0.5] and s['BF1'] == 0.5
    # tol >= 1: every boundary pixel has its counterpart one pixel away.
    for tol in (1, 5):
        assert _values(pred, gt, 2, ['BF1'], tol=tol)[0]['BF1'] == 1.0
    # BIoU, tol=1: band = 14x14 square minus the 6x6 centre (160 px). In the
    # band: square GT 64 px, square pred 64 px, overlap 90 - 36 = 54, so
    # IoU_fg = 54/74; background: intersection 160 - 74 = 86, union 106.
    s, pc = _values(pred, gt, 2, ['BIoU', 'mIoU'], tol=1)
    assert pc['BIoU'] == pytest.approx([86 / 106, 54 / 74])
    assert s['BIoU'] == pytest.approx((86 / 106 + 54 / 74) / 2)
    # drop_bg: only the square's outline makes the band (12x12 minus 6x6 =
    # 108 px): fg 64 / 64, overlap 54 (as above); background 44 / 44 px,
    # intersection 108 - 74 = 34, union 54.
    s, pc = _values(pred, gt, 2, ['BIoU', 'BF1'], tol=1, drop_bg=True)
    assert pc['BIoU'] == pytest.approx([34 / 54, 54 / 74])
    assert math.isnan(pc['BF1'][0]) and pc['BF1'][1] == 1.0


def test_thin_line_bf1():
    gt = torch.zeros(40, 40, dtype=torch.long)
    gt[10, 5:35] = 1
    pred = torch.zeros_like(gt)
    pred[12, 5:35] = 1  # two rows lower
    # tol=1: the line is 2 px away (F1 = 0); background boundary: rows 9/11
    # (+2 end pixels) vs rows 11/13 (+2): 32 + 2 of 66 match each way.
    s, pc = _values(pred, gt, 2, ['BF1', 'mIoU'], tol=1)
    assert pc['BF1'] == pytest.approx([34 / 66, 0.0])
    assert pc['IoU'][1] == 0.0
    s, pc = _values(pred, gt, 2, ['BF1'], tol=2)
    assert pc['BF1'].tolist() == [1.0, 1.0]


def test_empty_class_is_nan_and_left_out():
    gt, pred = _square(), _square((0, 1))
    s, pc = _values(pred, gt, 3, ['mIoU', 'BIoU', 'BF1', 'mIoU_C', 'mAcc'], tol=1)
    for key in ('IoU', 'BIoU', 'BF1', 'IoU_C', 'Acc'):
        assert math.isnan(pc[key][2]), key
    s2, _ = _values(pred, gt, 2, ['mIoU', 'BIoU', 'BF1', 'mIoU_C', 'mAcc'], tol=1)
    assert s == s2
    # predicted but absent from the ground truth: IoU 0, BF1 undefined
    pred2 = pred.clone()
    pred2[30:35, 30:35] = 2
    s3, pc3 = _values(pred2, gt, 3, ['mIoU', 'BF1'], tol=1)
    assert pc3['IoU'][2] == 0.0 and math.isnan(pc3['BF1'][2])
    # nan_to_num counts undefined classes, as MMSeg's IoUMetric does
    stats = image_stats(pred, gt, 3).numpy()
    s4, _ = summarize(stats, parse_metrics(['mIoU']), nan_to_num=0)
    assert s4['mIoU'] == pytest.approx(s['mIoU'] * 2 / 3)


def test_nothing_labelled_gives_nan_not_crash():
    label = torch.full((2, 5, 5), 255)
    s, _ = _values(torch.zeros(2, 5, 5, dtype=torch.long), label, 3, ALL + ['mIoU_I', 'mIoU_C_q'])
    assert all(math.isnan(v) for v in s.values())
    s, _ = summarize(np.zeros((0, 3, len(STAT_FIELDS)), np.int64), parse_metrics(ALL))
    assert all(math.isnan(v) for v in s.values())
