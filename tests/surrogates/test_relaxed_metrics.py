"""Relaxed metrics (method.md §1–2): truth table against the evaluation metric,
the per-class shortcut against the literal formulas, gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_autoloss.boundary import dilate as dilate_mask
from mmseg_autoloss.boundary import label_edges
from mmseg_autoloss.evaluation.functional import image_stats, parse_metrics, summarize
from mmseg_autoloss.surrogates import (METRIC_NUM_G, METRICS, PRESETS, build_g_functions,
                                       class_boundaries, dilate, erode, g_formula,
                                       identity_theta,
                                       num_theta, relaxed_metric, soft_and, soft_or, soft_xor)

C = 4
EVAL_NAME = {'gAcc': 'aAcc'}
# Published parameters per metric; the two-g metrics without a preset of their
# own use the mIoU numbers.
PUBLISHED = {'mIoU': 'voc_miou', 'FWIoU': 'voc_fwiou', 'mAcc': 'voc_macc', 'gAcc': 'voc_gacc',
             'BIoU': 'voc_biou', 'BF1': 'voc_bf1', 'mDice': 'voc_miou', 'mIoU_I': 'voc_miou',
             'mIoU_C': 'voc_miou'}


def blocky(gen, n, h, w, block=4, all_classes=False):
    """Random block label maps (boundaries inside the image)."""
    lab = torch.randint(0, C, (n, 1, h // block, w // block), generator=gen)
    if all_classes:  # every class in every image
        lab.view(n, -1)[:, :C] = torch.stack([torch.randperm(C, generator=gen) for _ in range(n)])
    return F.interpolate(lab.float(), size=(h, w), mode='nearest')[:, 0].long()


def make_batch(seed, n=2, h=16, w=16, ignore=True, all_classes=False, void='corners'):
    """``void``: 'corners' (two void patches) or 'voc' (a 3-px void band along
    every label boundary, as PASCAL VOC draws it)."""
    gen = torch.Generator().manual_seed(seed)
    label = blocky(gen, n, h, w, all_classes=all_classes)
    pred = blocky(gen, n, h, w, block=2, all_classes=all_classes)
    noise = torch.rand(n, h, w, generator=gen) < 0.15
    pred = torch.where(noise, torch.randint(0, C, (n, h, w), generator=gen), pred)
    if all_classes:  # every class in every predicted map too (C = 4)
        pred[:, :2, :2] = torch.arange(C).view(1, 2, 2)
    if ignore and void == 'voc':
        band = dilate_mask(label_edges(label).to(torch.uint8), 1) > 0
        label = torch.where(band, torch.full_like(label, 255), label)
    elif ignore:
        label[0, :3, :5] = 255
        label[:, -1, -4:] = 255
    return pred, label


def eval_metric(pred, label, metric, tol, drop_bg):
    stats = image_stats(pred, label, C, 255, tol=tol, drop_bg=drop_bg)
    name = EVAL_NAME.get(metric, metric)
    summary, _ = summarize(stats.numpy(), parse_metrics([name]), drop_bg=drop_bg)
    return summary[name]


def gs_for(metric, theta, param='bezier', num_pieces=2):
    return build_g_functions(METRIC_NUM_G[metric], num_pieces, param, theta=theta)


def theta_for(metric, num_pieces):
    value = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1))
    n = num_theta(metric, num_pieces)
    return st.lists(value, min_size=n, max_size=n)


# ------------------------------------------------------------------ truth table
@pytest.mark.parametrize('metric', METRICS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_truth_table_present(metric, data):
    """One-hot input: surrogate == evaluation metric, for every θ."""
    num_pieces = data.draw(st.sampled_from([1, 2]))
    theta = data.draw(theta_for(metric, num_pieces))
    param = data.draw(st.sampled_from(['bezier', 'linear']))
    seed = data.draw(st.integers(0, 10_000))
    tol, drop_bg = data.draw(st.sampled_from([(1, False), (2, True), (5, False)]))
    pred, label = make_batch(seed, void=data.draw(st.sampled_from(['corners', 'voc'])))
    probs = F.one_hot(pred, C).permute(0, 3, 1, 2).to(torch.float64)
    value = relaxed_metric(probs, label, metric, gs_for(metric, theta, param, num_pieces),
                           class_reduction='present', tol=tol, drop_bg=drop_bg)
    assert value.item() == pytest.approx(eval_metric(pred, label, metric, tol, drop_bg),
                                         abs=1e-6)


@pytest.mark.parametrize('metric', METRICS)
@pytest.mark.parametrize('seed', [0, 1])
def test_truth_table_all_classes(metric, seed):
    """'all' equals the metric on batches where every class occurs."""
    pred, label = make_batch(seed, all_classes=True, ignore=False)
    probs = F.one_hot(pred, C).permute(0, 3, 1, 2).to(torch.float32)
    theta = torch.rand(num_theta(metric, 2), generator=torch.Generator().manual_seed(seed))
    value = relaxed_metric(probs, label, metric, gs_for(metric, theta), class_reduction='all',
                           tol=2)
    assert value.item() == pytest.approx(eval_metric(pred, label, metric, 2, False), abs=1e-5)


def test_all_vs_present_on_absent_class():
    pred, label = make_batch(3, ignore=False)
    label[label == 3] = 0
    pred[pred == 3] = 1  # class 3 in neither map
    probs = F.one_hot(pred, C).permute(0, 3, 1, 2).double()
    for metric in ('mIoU', 'mAcc', 'mDice', 'BIoU'):
        present = relaxed_metric(probs, label, metric, class_reduction='present', tol=1)
        every = relaxed_metric(probs, label, metric, class_reduction='all', tol=1)
        # the absent class counts 0 in the authors' mean over all classes
        assert every.item() == pytest.approx(present.item() * 3 / 4, abs=1e-6)
    for metric in METRICS:  # the truth table holds with absent classes too
        value = relaxed_metric(probs, label, metric, class_reduction='present', tol=1)
        assert value.item() == pytest.approx(eval_metric(pred, label, metric, 1, False), abs=1e-6)


# ------------------------------------------------------------------ literal formulas
def literal(probs, label, metric, gs, w, eps=1e-6):
    """The paper's formulas with one-hot labels and g on both operands."""
    valid = (label != 255)
    y = F.one_hot(torch.where(valid, label, 0), C).permute(0, 3, 1, 2).to(probs.dtype)
    y = y * valid[:, None]
    w = w[:, None]
    if metric in ('mAcc', 'gAcc'):
        inter = (soft_and(probs, y, gs[0]) * w).sum((0, 2, 3))
        count = (y * w).sum((0, 2, 3))
        return ((inter / (count + eps)).mean() if metric == 'mAcc' else
                inter.sum() / (count.sum() + eps))
    inter = soft_and(probs, y, gs[0]) * w
    union = soft_or(probs, y, gs[1]) * w
    if metric in ('mIoU_I', 'mIoU_C'):
        return (inter.sum((2, 3)) / (union.sum((2, 3)) + eps)).mean()
    i, u = inter.sum((0, 2, 3)), union.sum((0, 2, 3))
    if metric == 'mIoU':
        return (i / (u + eps)).mean()
    if metric == 'mDice':
        return (2 * i / (i + u + eps)).mean()
    count = (y * w).sum((0, 2, 3))
    return (count * i / (u + eps)).sum() / (count.sum() + eps)  # FWIoU


@pytest.mark.parametrize('metric', ['mIoU', 'FWIoU', 'mAcc', 'gAcc', 'mDice', 'mIoU_I', 'mIoU_C'])
def test_soft_input_matches_literal_formula(metric):
    gen = torch.Generator().manual_seed(5)
    _, label = make_batch(5)
    probs = torch.softmax(3 * torch.randn(2, C, 16, 16, generator=gen, dtype=torch.float64), 1)
    weight = torch.rand(2, 16, 16, generator=gen, dtype=torch.float64)
    cps = PRESETS[PUBLISHED[metric]]['control_points']
    gs = build_g_functions(METRIC_NUM_G[metric], 2, control_points=cps)
    got = relaxed_metric(probs, label, metric, gs, weight=weight)
    ref = literal(probs, label, metric, gs, weight * (label != 255))
    assert got.item() == pytest.approx(ref.item(), abs=1e-10)


def test_identity_is_soft_jaccard_and_bf1_is_literal():
    gen = torch.Generator().manual_seed(2)
    _, label = make_batch(2, ignore=False)
    probs = torch.softmax(torch.randn(2, C, 16, 16, generator=gen, dtype=torch.float64), 1)
    y = F.one_hot(label, C).permute(0, 3, 1, 2).double()
    i = (probs * y).sum((0, 2, 3))
    u = (probs + y - probs * y).sum((0, 2, 3))
    miou = relaxed_metric(probs, label, 'mIoU', eps=0)
    assert miou.item() == pytest.approx((i / u).mean().item(), abs=1e-12)
    # BF1 from the XOR of method.md §2, BF1 written out
    gs = build_g_functions(4, 1, control_points=PRESETS['voc_bf1']['control_points'])
    edge = soft_xor(probs, erode(probs), gs[:2], gs[2:])
    gt = class_boundaries(label, C).double()
    p = (edge * dilate(gt, 3)).sum((0, 2, 3)) / edge.sum((0, 2, 3))
    r = (dilate(edge, 3) * gt).sum((0, 2, 3)) / gt.sum((0, 2, 3))
    ref = (2 * p * r / (p + r))[gt.sum((0, 2, 3)) > 0].mean()
    got = relaxed_metric(probs, label, 'BF1', gs, tol=3, eps=1e-12)
    assert got.item() == pytest.approx(ref.item(), abs=1e-9)


def test_soft_xor_of_piecewise_gs_matches_the_autograd_formula():
    """The XOR of four PiecewiseG (partial derivatives from the forward pass)
    equals the formula differentiated by autograd through the same g's."""
    gen = torch.Generator().manual_seed(4)
    p0 = torch.softmax(torch.randn(2, C, 12, 12, generator=gen, dtype=torch.float64), 1)
    w = torch.rand(p0.shape, generator=gen, dtype=torch.float64)
    gs = build_g_functions(4, 1, control_points=PRESETS['voc_bf1']['control_points'])
    wrapped = [(lambda g: (lambda y: g(y)))(g) for g in gs]  # not a PiecewiseG: autograd
    out = []
    for g in (gs, wrapped):
        p = p0.clone().requires_grad_()
        e = soft_xor(p, erode(p), g[:2], g[2:])
        out.append((e.detach(), type(e.grad_fn).__name__))
        (e * w).sum().backward()
        out[-1] += (p.grad, )
    assert out[0][1] == '_SoftXorBackward' and out[1][1] != '_SoftXorBackward'
    torch.testing.assert_close(out[0][0], out[1][0], rtol=0, atol=1e-14)
    torch.testing.assert_close(out[0][2], out[1][2], rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize('metric', METRICS)
@pytest.mark.parametrize('params', ['identity', 'published'])
@pytest.mark.parametrize('from_logits', [False, True])
def test_gradcheck(metric, params, from_logits):
    """Full (not fast-mode) gradcheck in float64 on a small batch with ignore."""
    gen = torch.Generator().manual_seed(7)
    label = torch.randint(0, 3, (2, 5, 5), generator=gen)
    label[0, 0, :3] = 255
    if params == 'identity':
        gs = gs_for(metric, identity_theta(metric, 2))
    else:
        p = PRESETS[PUBLISHED[metric]]
        gs = build_g_functions(METRIC_NUM_G[metric], p['num_pieces'],
                               control_points=p['control_points'])
    logits = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)

    def fn(z):
        return relaxed_metric(z if from_logits else torch.softmax(z, 1), label, metric, gs,
                              tol=1, drop_bg=True, from_logits=from_logits,
                              class_reduction='all' if params == 'identity' else 'present')

    assert torch.autograd.gradcheck(fn, (logits, ))


def test_empty_batch_and_weights():
    pred, label = make_batch(4)
    logits = torch.randn(2, C, 16, 16, requires_grad=True)
    for metric in METRICS:
        value = relaxed_metric(torch.softmax(logits, 1), torch.full_like(label, 255), metric,
                               class_reduction='present')
        value.backward()
        assert value.item() == 1.0 and bool(torch.isfinite(logits.grad).all())
        # zero pixel weights are the same as ignoring those pixels
        weight = (torch.rand(2, 16, 16) > 0.3).float()
        a = relaxed_metric(torch.softmax(logits, 1), label, metric, weight=weight, tol=1)
        b = relaxed_metric(torch.softmax(logits, 1), torch.where(weight > 0, label, 255), metric,
                           tol=1)
        if metric not in ('BIoU', 'BF1'):  # boundaries see the ignore label, not weights
            assert a.item() == pytest.approx(b.item(), abs=1e-6), metric


def test_bad_inputs():
    probs = torch.softmax(torch.randn(2, C, 8, 8), 1)
    label = torch.zeros(2, 8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match='valid names'):
        relaxed_metric(probs, label, 'MIOU')
    with pytest.raises(ValueError, match='does not match'):
        relaxed_metric(probs, label[:, :7], 'mIoU')
    with pytest.raises(ValueError, match=r'label values \[9\]'):
        relaxed_metric(probs, torch.full_like(label, 9), 'mIoU')
    with pytest.raises(ValueError, match='needs 4 g'):
        relaxed_metric(probs, label, 'BF1', gs_for('mIoU', identity_theta('mIoU')))
    with pytest.raises(ValueError, match='class_reduction'):
        relaxed_metric(probs, label, 'mIoU', class_reduction='none')
    np.testing.assert_allclose(relaxed_metric(probs, label, 'gAcc').item(),
                               probs[:, 0].mean().item(), atol=1e-5)


@pytest.mark.parametrize('metric', ['mIoU', 'FWIoU', 'mDice', 'mIoU_I', 'mIoU_C', 'BIoU', 'BF1'])
def test_absent_classes_skipped_exactly(metric):
    """Classes absent from the labels skip the full g pass; value and
    gradient equal the literal formula / finite differences."""
    gen = torch.Generator().manual_seed(11)
    label = torch.randint(0, 2, (2, 6, 6), generator=gen) * 2  # classes 0 and 2 only
    label[0, 0, :2] = 255
    p = PRESETS['voc_bf1' if metric == 'BF1' else 'voc_miou']
    gs = build_g_functions(METRIC_NUM_G[metric], p['num_pieces'],
                           control_points=p['control_points'])
    logits = torch.randn(2, C, 6, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    if metric not in ('BIoU', 'BF1'):
        value = relaxed_metric(torch.softmax(logits, 1), label, metric, gs)
        ref = literal(torch.softmax(logits, 1), label, metric, gs,
                      (label != 255).to(torch.float64))
        assert value.item() == pytest.approx(ref.item(), abs=1e-10)
    assert torch.autograd.gradcheck(
        lambda z: relaxed_metric(torch.softmax(z, 1), label, metric, gs, tol=1), (logits, ))


# ------------------------------------------------------------------ fused paths
def _grad_pair(metric, gs, logits, label, weight, **kw):
    """(value, grad) through softmax + probs, and through from_logits."""
    out = []
    for from_logits in (False, True):
        z = logits.clone().requires_grad_()
        value = relaxed_metric(z if from_logits else torch.softmax(z, 1), label, metric, gs,
                               weight=weight, from_logits=from_logits, **kw)
        value.backward()
        out.append((value.detach(), z.grad))
    return out


@pytest.mark.parametrize('metric', METRICS)
@pytest.mark.parametrize('class_reduction', ['all', 'present'])
def test_from_logits_equals_softmax_then_probs(metric, class_reduction):
    """from_logits gives softmax-then-probs, with ignored pixels, pixel weights
    and a class absent from the labels."""
    gen = torch.Generator().manual_seed(21)
    pred, label = make_batch(21, h=24, w=20)
    label[label == 3] = 1  # class 3 absent: the restricted g pass
    p = PRESETS[PUBLISHED[metric]]
    gs = build_g_functions(METRIC_NUM_G[metric], p['num_pieces'],
                           control_points=p['control_points'])
    logits = 2 * torch.randn(2, C, 24, 20, generator=gen, dtype=torch.float64)
    weight = torch.rand(2, 24, 20, generator=gen, dtype=torch.float64)
    kw = dict(tol=2, class_reduction=class_reduction)
    (v0, g0), (v1, g1) = _grad_pair(metric, gs, logits, label, weight, **kw)
    assert v0.item() == pytest.approx(v1.item(), abs=1e-12)
    torch.testing.assert_close(g0, g1, rtol=1e-9, atol=1e-12)


def test_bf1_piecewise_g_equals_plain_callables():
    """PiecewiseG's autograd.Function (g' from the formula's own pass) against
    the same g's as plain callables that autograd differentiates."""
    gen = torch.Generator().manual_seed(4)
    _, label = make_batch(4, h=20, w=20)
    p = PRESETS['voc_bf1']
    gs = build_g_functions(4, 1, control_points=p['control_points'])
    plain = [lambda y, g=g: g_formula(y, *g.packed(y.dtype, y.device), need_slope=False)[0]
             for g in gs]
    logits = torch.randn(2, C, 20, 20, generator=gen, dtype=torch.float64)
    weight = torch.rand(2, 20, 20, generator=gen, dtype=torch.float64)
    results = []
    for fns in (gs, plain):
        z = logits.clone().requires_grad_()
        value = relaxed_metric(z, label, 'BF1', fns, weight=weight, tol=3, from_logits=True)
        value.backward()
        results.append((value.item(), z.grad))
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-12)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('metric', METRICS)
def test_half_precision_input_is_computed_in_float32(metric, dtype):
    gen = torch.Generator().manual_seed(8)
    _, label = make_batch(8)
    p = PRESETS[PUBLISHED[metric]]
    gs = build_g_functions(METRIC_NUM_G[metric], p['num_pieces'],
                           control_points=p['control_points'])
    logits = torch.randn(2, C, 16, 16, generator=gen).to(dtype).requires_grad_()
    value = relaxed_metric(logits, label, metric, gs, tol=2, from_logits=True)
    value.backward()
    ref = relaxed_metric(logits.detach().float(), label, metric, gs, tol=2, from_logits=True)
    assert value.dtype == torch.float32 and value.item() == pytest.approx(ref.item(), abs=1e-6)
    assert logits.grad.dtype == dtype and bool(torch.isfinite(logits.grad).all())
