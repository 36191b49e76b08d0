"""compile=True: the soft confusion (surrogates/fused.py) and the soft
boundary (surrogates/fused_boundary.py) as torch.compile'd kernels give the
eager path's values and gradients."""
import pytest
import torch

from mmseg_autoloss.surrogates import METRIC_NUM_G, PRESETS, build_g_functions, relaxed_metric
from mmseg_autoloss.surrogates import fused, fused_boundary
from mmseg_autoloss.surrogates.relaxed_metrics import COMPILABLE

C = 4


def _batch(seed, n=2, h=12, w=10, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    label = torch.randint(0, C - 1, (n, h, w), generator=gen)  # class 3 absent
    label[0, :2, :3] = 255
    logits = 2 * torch.randn(n, C, h, w, generator=gen, dtype=dtype)
    weight = torch.rand(n, h, w, generator=gen, dtype=dtype)
    return logits, label, weight


def _gs(metric='mIoU'):
    p = PRESETS['voc_bf1' if metric == 'BF1' else 'voc_miou']
    return build_g_functions(METRIC_NUM_G[metric], p['num_pieces'],
                             control_points=p['control_points'])


def _value_and_grad(metric, logits, label, gs, compile, from_logits, **kw):
    z = logits.clone().requires_grad_()
    value = relaxed_metric(z if from_logits else torch.softmax(z, 1), label, metric, gs,
                           from_logits=from_logits, compile=compile, **kw)
    value.backward()
    return value.detach(), z.grad


@pytest.mark.parametrize('metric', COMPILABLE)
@pytest.mark.parametrize('from_logits', [True, False])
@pytest.mark.parametrize('class_reduction', ['all', 'present'])
def test_compiled_equals_eager(metric, from_logits, class_reduction):
    """Same value and gradient in float64, with ignored pixels, pixel
    weights and a class absent from the labels (the eager path skips it)."""
    logits, label, weight = _batch(3)
    kw = dict(weight=weight, tol=2, class_reduction=class_reduction)
    v0, g0 = _value_and_grad(metric, logits, label, _gs(metric), False, from_logits, **kw)
    v1, g1 = _value_and_grad(metric, logits, label, _gs(metric), True, from_logits, **kw)
    assert v1.item() == pytest.approx(v0.item(), abs=1e-12)
    torch.testing.assert_close(g1, g0, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('param, num_pieces', [('linear', 2), ('bezier', 1), ('bezier', 3)])
def test_compiled_parameterizations_and_float32(param, num_pieces):
    """Linear pieces run through the same packed formula; float32 agrees
    with the eager float32 path to rounding."""
    gen = torch.Generator().manual_seed(num_pieces)
    theta = torch.rand(2 * 2 * (2 * num_pieces - 1), generator=gen).tolist()
    gs = build_g_functions(2, num_pieces, param, theta=theta)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        logits, label, _ = _batch(5, dtype=dtype)
        v0, g0 = _value_and_grad('mIoU', logits, label, gs, False, True)
        v1, g1 = _value_and_grad('mIoU', logits, label, gs, True, True)
        assert v1.item() == pytest.approx(v0.item(), abs=tol)
        torch.testing.assert_close(g1, g0, rtol=1e-4 if dtype == torch.float32 else 1e-9,
                                   atol=tol)


@pytest.mark.parametrize('from_logits', [True, False])
def test_compiled_gradcheck(from_logits):
    gen = torch.Generator().manual_seed(9)
    label = torch.randint(0, 3, (2, 5, 5), generator=gen)
    label[0, 0, :3] = 255
    logits = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    gs = _gs()

    def fn(z):
        return relaxed_metric(z if from_logits else torch.softmax(z, 1), label, 'mIoU', gs,
                              from_logits=from_logits, compile=True)

    assert torch.autograd.gradcheck(fn, (logits, ))


def test_compiled_without_grad_and_with_plain_callables():
    logits, label, _ = _batch(6)
    gs = _gs()
    with torch.no_grad():
        value = relaxed_metric(logits, label, 'mIoU', gs, from_logits=True, compile=True)
    ref = relaxed_metric(logits, label, 'mIoU', gs, from_logits=True)
    assert value.item() == pytest.approx(ref.item(), abs=1e-12)
    # g's that are not PiecewiseG cannot be packed: the eager path runs
    plain = [lambda y, g=g: g(y) for g in gs]
    other = relaxed_metric(logits, label, 'mIoU', plain, from_logits=True, compile=True)
    assert other.item() == pytest.approx(ref.item(), abs=1e-12)


def test_compile_failure_names_the_cause_and_the_way_out(monkeypatch):
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise OSError('no C++ compiler found')
        return run

    monkeypatch.setattr(fused, '_COMPILED', {})
    monkeypatch.setattr(torch, 'compile', broken_compile)
    logits, label, _ = _batch(7)
    with pytest.raises(RuntimeError, match=r'confusion_forward.*no C\+\+ compiler.*'
                       r'compile=False'):
        relaxed_metric(logits, label, 'mIoU', _gs(), from_logits=True, compile=True)
    # BF1's torch.compile kernels (the CPU's own kernel is tested in
    # test_fused_boundary.py)
    monkeypatch.setattr(fused_boundary, 'NATIVE_CPU', False)
    with pytest.raises(RuntimeError, match=r'probs_canvas.*no C\+\+ compiler.*compile=False'):
        relaxed_metric(logits, label, 'BF1', _gs('BF1'), from_logits=True, compile=True)
