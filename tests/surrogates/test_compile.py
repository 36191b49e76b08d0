"""compile=True is torch.compile of the eager code: same values and gradients."""
import pytest
import torch
from torch._dynamo.utils import counters

from mmseg_autoloss.surrogates import (METRIC_NUM_G, METRICS, PRESETS, build_g_functions,
                                       relaxed_metric)

C = 4


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles afresh and checks that it did (past dynamo's
    recompile limit a function runs eagerly and would be compared with itself)."""
    torch._dynamo.reset()
    counters.clear()
    yield


def _batch(seed, n=2, h=12, w=10, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    # blocky labels, class 3 absent
    label = torch.randint(0, C - 1, (n, (h + 2) // 3, (w + 2) // 3), generator=gen)
    label = label.repeat_interleave(3, 1).repeat_interleave(3, 2)[:, :h, :w].contiguous()
    label[0, :2, :3] = 255
    logits = 2 * torch.randn(n, C, h, w, generator=gen, dtype=dtype)
    weight = torch.rand(n, h, w, generator=gen, dtype=dtype)
    return logits, label, weight


def _gs(metric, param='bezier', num_pieces=None, seed=None):
    if seed is not None:
        theta = torch.rand(METRIC_NUM_G[metric] * 2 * (2 * num_pieces - 1),
                           generator=torch.Generator().manual_seed(seed))
        return build_g_functions(METRIC_NUM_G[metric], num_pieces, param, theta=theta.tolist())
    p = PRESETS['voc_bf1' if metric == 'BF1' else 'voc_macc' if metric in ('mAcc', 'gAcc')
                else 'voc_miou']
    return build_g_functions(METRIC_NUM_G[metric], p['num_pieces'],
                             control_points=p['control_points'])


def _value_and_grad(metric, logits, label, gs, compile, from_logits=True, **kw):
    z = logits.clone().requires_grad_()
    value = relaxed_metric(z if from_logits else torch.softmax(z, 1), label, metric, gs,
                           from_logits=from_logits, compile=compile, **kw)
    value.backward()
    return value.detach(), z.grad


@pytest.mark.parametrize('metric', METRICS)
def test_compiled_equals_eager(metric):
    """float64, ignored pixels, pixel weights, a class absent from the labels,
    both class reductions (the second reuses the compiled graph's code)."""
    logits, label, weight = _batch(3)
    for reduction in ('all', 'present'):
        kw = dict(weight=weight, tol=2, class_reduction=reduction, drop_bg=reduction == 'all')
        v0, g0 = _value_and_grad(metric, logits, label, _gs(metric), False, **kw)
        v1, g1 = _value_and_grad(metric, logits, label, _gs(metric), True, **kw)
        assert v1.item() == pytest.approx(v0.item(), abs=1e-12)
        torch.testing.assert_close(g1, g0, rtol=1e-9, atol=1e-12)
    assert counters['stats']['unique_graphs'] >= 1


@pytest.mark.parametrize('param, num_pieces', [('linear', 2), ('bezier', 3)])
def test_compiled_parameterizations_float32_and_new_theta(param, num_pieces):
    """Other pieces, float32, and a new θ reuses the graph (θ enters as tensors)."""
    logits, label, _ = _batch(5, dtype=torch.float32)
    gs = _gs('mIoU', param, num_pieces, seed=1)
    v0, g0 = _value_and_grad('mIoU', logits, label, gs, False)
    v1, g1 = _value_and_grad('mIoU', logits, label, gs, True)
    assert v1.item() == pytest.approx(v0.item(), abs=1e-5)
    torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-7)
    graphs = counters['stats']['unique_graphs']
    other = _gs('mIoU', param, num_pieces, seed=2)
    v2, _ = _value_and_grad('mIoU', logits, label, other, True)
    v3, _ = _value_and_grad('mIoU', logits, label, other, False)
    assert v2.item() == pytest.approx(v3.item(), abs=1e-5)
    assert counters['stats']['unique_graphs'] == graphs


def test_compiled_gradcheck_no_grad_and_plain_callables():
    gen = torch.Generator().manual_seed(9)
    label = torch.randint(0, 3, (2, 5, 5), generator=gen)
    label[0, 0, :3] = 255
    logits = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    gs = _gs('BF1')
    assert torch.autograd.gradcheck(
        lambda z: relaxed_metric(z, label, 'BF1', gs, tol=1, from_logits=True, compile=True),
        (logits, ))
    with torch.no_grad():
        value = relaxed_metric(logits, label, 'BF1', gs, tol=1, from_logits=True, compile=True)
    ref = relaxed_metric(logits, label, 'BF1', gs, tol=1, from_logits=True)
    assert value.item() == pytest.approx(ref.item(), abs=1e-12)
    # g's that are not PiecewiseG have no packed constants: the eager path runs
    plain = [lambda y, g=g: g(y) for g in gs]
    other = relaxed_metric(logits, label, 'BF1', plain, tol=1, from_logits=True, compile=True)
    assert other.item() == pytest.approx(ref.item(), abs=1e-12)
