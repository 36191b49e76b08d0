"""compile=True for BF1 against the eager _BoundaryF1Stats: on the CPU the
hand-written kernel (surrogates/csrc/bf1_cpu.cpp, native_boundary.py), and
the torch.compile kernels on padded canvases (fused_boundary.py, CUDA's
path)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch._dynamo.utils import counters

from mmseg_autoloss.surrogates import build_g_functions, fused_boundary, native, native_boundary
from mmseg_autoloss.surrogates import num_theta, relaxed_metric
from mmseg_autoloss.surrogates.boundary import window_argmax
from mmseg_autoloss.surrogates.fused_boundary import canvas_margin, canvas_window_argmax


def _gs(param='bezier', num_pieces=1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    theta = torch.rand(num_theta('BF1', num_pieces), generator=gen)
    return build_g_functions(4, num_pieces, param, theta=theta.tolist())


def _run(scores, label, gs, compile, from_logits=True, **kw):
    z = scores.clone().requires_grad_()
    value = relaxed_metric(z, label, 'BF1', gs, from_logits=from_logits, compile=compile, **kw)
    value.backward()
    return value.detach(), z.grad


def _batch(seed, n=2, c=4, h=11, w=13, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    # blocky labels: real boundaries, not salt and pepper
    label = torch.randint(0, c, (n, (h + 2) // 3, (w + 2) // 3), generator=gen)
    label = label.repeat_interleave(3, 1).repeat_interleave(3, 2)[:, :h, :w].contiguous()
    label[0, :2, :3] = 255
    return 2 * torch.randn(n, c, h, w, generator=gen, dtype=dtype), label


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles afresh and checks that it did: past dynamo's
    recompile limit a function runs eagerly, and the comparisons below
    would compare the eager path with itself."""
    torch._dynamo.reset()
    counters.clear()
    yield


@pytest.fixture(params=['native', 'inductor'])
def backend(request, monkeypatch):
    """Which compiled path the CPU takes (``NATIVE_CPU``)."""
    monkeypatch.setattr(fused_boundary, 'NATIVE_CPU', request.param == 'native')
    return request.param


def _check_backend(backend: str, graphs: int = 4) -> None:
    """The path under test really ran: the native kernel compiles no graph
    (and must be buildable here), the inductor one at least ``graphs``."""
    if backend == 'native':
        assert native_boundary.native_kernel() is not None
        assert counters['stats']['unique_graphs'] == 0
    else:
        assert counters['stats']['unique_graphs'] >= graphs


# width 13: no margin gives whole 8-wide rows; tol 0: no recall window
@pytest.mark.parametrize('param, num_pieces, tol, width', [('bezier', 1, 1, 13),
                                                           ('bezier', 2, 3, 16),
                                                           ('linear', 2, 0, 16)])
def test_compiled_bf1_equals_eager(param, num_pieces, tol, width, backend):
    logits, label = _batch(tol + width, w=width)
    gen = torch.Generator().manual_seed(1)
    weight = torch.rand(label.shape, generator=gen, dtype=logits.dtype)
    gs = _gs(param, num_pieces, seed=tol)
    for kw in (dict(tol=tol, weight=weight), dict(tol=tol, drop_bg=True)):
        v0, g0 = _run(logits, label, gs, False, **kw)
        v1, g1 = _run(logits, label, gs, True, **kw)
        assert v1.item() == pytest.approx(v0.item(), abs=1e-12)
        torch.testing.assert_close(g1, g0, rtol=1e-9, atol=1e-13)
    _check_backend(backend)


def test_compiled_bf1_ties_follow_the_eager_rules(backend):
    """One-hot probabilities tie everywhere (erosion minima, window maxima):
    the compiled winners must be the eager ones, so the gradients match
    exactly, not just up to a valid subgradient."""
    logits, label = _batch(4, c=3, h=12, w=12)
    probs = torch.nn.functional.one_hot(logits.argmax(1), 3).movedim(-1, 1).double()
    gs = _gs('bezier', 2, seed=5)
    v0, g0 = _run(probs, label, gs, False, from_logits=False, tol=2)
    v1, g1 = _run(probs, label, gs, True, from_logits=False, tol=2)
    assert v1.item() == pytest.approx(v0.item(), abs=1e-12)
    assert bool((g0 != 0).any())
    torch.testing.assert_close(g1, g0, rtol=1e-9, atol=1e-13)
    _check_backend(backend)


def test_compiled_bf1_many_classes_float32_and_no_grad(backend):
    """40 classes need two int32 bit groups; float32 agrees to rounding; a
    no-grad forward gives the same value."""
    logits, label = _batch(8, c=40, h=16, w=24, dtype=torch.float32)
    gs = _gs('bezier', 1, seed=2)
    v0, g0 = _run(logits, label, gs, False, tol=2)
    v1, g1 = _run(logits, label, gs, True, tol=2)
    assert v1.item() == pytest.approx(v0.item(), abs=1e-5)
    torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-8)
    with torch.no_grad():
        v2 = relaxed_metric(logits, label, 'BF1', gs, from_logits=True, compile=True, tol=2)
    assert v2.item() == pytest.approx(v1.item(), abs=1e-6)
    _check_backend(backend, 5)  # 4 with grad, the boundary again without


def test_compiled_bf1_gradcheck_and_half_precision(backend):
    logits, label = _batch(9, n=1, c=3, h=7, w=8)
    gs = _gs('bezier', 2, seed=3)
    z = logits.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: relaxed_metric(x, label, 'BF1', gs, from_logits=True, compile=True, tol=1),
        (z, ))
    # float16 input runs in float32 (like the eager path), compiled or not
    half = logits.half()
    ref = relaxed_metric(half, label, 'BF1', gs, from_logits=True, tol=1)
    out = relaxed_metric(half, label, 'BF1', gs, from_logits=True, tol=1, compile=True)
    assert out.item() == pytest.approx(ref.item(), abs=1e-5)
    _check_backend(backend)


def test_native_bf1_falls_back_past_its_piece_limit():
    """g's with more pieces than the CPU kernel is built for (5 Bézier
    pieces) take the torch.compile kernels, with the same result."""
    logits, label = _batch(11, n=1, c=3, h=9, w=10)
    gs = _gs('bezier', 5, seed=4)
    assert native_boundary.native_packs(gs, torch.float64) is None
    # called past the guard, the kernel refuses instead of reading garbage
    packs = [g.packed(torch.float64, torch.device('cpu')) for g in gs]
    probs = torch.softmax(logits, 1).contiguous()
    with pytest.raises(ValueError, match='1 to 4 pieces, got 5'):
        native_boundary.native_forward(
            native_boundary.native_kernel(), probs, torch.ones(1, 9, 10, dtype=torch.float64),
            torch.zeros(1, 1, 9, 10, dtype=torch.int32), torch.zeros(3, dtype=torch.long),
            torch.arange(3, dtype=torch.int32), torch.tensor([0, 95]), 2,
            torch.stack([c for c, _ in packs]), torch.stack([t for _, t in packs]), False)
    v0, g0 = _run(logits, label, gs, False, tol=2)
    v1, g1 = _run(logits, label, gs, True, tol=2)
    assert v1.item() == pytest.approx(v0.item(), abs=1e-12)
    torch.testing.assert_close(g1, g0, rtol=1e-9, atol=1e-13)
    assert counters['stats']['unique_graphs'] >= 4


def test_native_kernel_build_failure_is_reported(tmp_path, monkeypatch):
    """A compiler that fails: load_kernel names the source and the
    compiler's output; native_kernel warns once and gives None (the
    inductor kernels take over)."""
    monkeypatch.setenv('MMSEG_AUTOLOSS_CACHE', str(tmp_path))
    monkeypatch.setenv('CXX', 'false')
    monkeypatch.setattr(native, '_LIBS', {})
    with pytest.raises(RuntimeError, match=r'building .*bf1_cpu\.cpp with false failed'):
        native.load_kernel('bf1_cpu')
    assert not list(tmp_path.rglob('*.so'))  # no half-built library left
    monkeypatch.setattr(native_boundary, '_NATIVE_ERRORS', [])
    with pytest.warns(UserWarning, match='could not be built'):
        assert native_boundary.native_kernel() is None
    assert native_boundary.native_kernel() is None  # remembered, no second build


def test_native_kernel_is_cached_by_source_and_flags(tmp_path, monkeypatch):
    monkeypatch.setenv('MMSEG_AUTOLOSS_CACHE', str(tmp_path))
    monkeypatch.setattr(native, '_LIBS', {})
    lib = native.load_kernel('bf1_cpu')
    built = list((tmp_path / 'kernels').glob('bf1_cpu-*.so'))
    assert len(built) == 1 and lib.bf1_max_pieces() == native_boundary.MAX_PIECES
    monkeypatch.setattr(native, '_LIBS', {})
    stamp = built[0].stat().st_mtime_ns
    native.load_kernel('bf1_cpu')  # a new process: loaded, not rebuilt
    assert built[0].stat().st_mtime_ns == stamp


def test_canvas_margin_rounds_rows_to_whole_vectors():
    assert canvas_margin(128, 5) == 8  # 144 = 18 * 8
    assert canvas_margin(512, 0) == 4
    assert canvas_margin(13, 3) == 3  # odd width: no margin helps, the minimum
    for width in range(1, 40):
        for tol in range(0, 7):
            t = canvas_margin(width, tol)
            assert max(tol, 1) <= t <= max(tol, 1) + 3


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), tol=st.integers(0, 4), h=st.integers(1, 9),
       w=st.integers(1, 9), levels=st.sampled_from([2, 5, 1000]))
def test_canvas_window_argmax_is_window_argmax(seed, tol, h, w, levels):
    """The two-stage search on the -inf-padded canvas finds the same
    position (first maximum in row-major order) as the direct window
    search, ties included (few levels: many ties)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, levels, (2, 3, h, w), generator=gen).double()
    index = torch.randint(0, x.numel(), (17, ), generator=gen)
    t = canvas_margin(w, tol)
    e = torch.full((2, 3, h + 2, w + 2 * t), -float('inf'), dtype=x.dtype)
    e[:, :, 1:1 + h, t:t + w] = x
    row_max = torch.nn.functional.max_pool2d(x, (1, 2 * tol + 1), 1, (0, tol)) if tol else x
    value, pos = canvas_window_argmax(e, row_max, index, tol, t)
    expected = window_argmax(x, index, tol)
    plane, rest = pos.div((h + 2) * (w + 2 * t), rounding_mode='floor'), pos.remainder(
        (h + 2) * (w + 2 * t))
    row, col = rest.div(w + 2 * t, rounding_mode='floor') - 1, rest.remainder(w + 2 * t) - t
    assert torch.equal((plane * h + row) * w + col, expected)
    assert torch.equal(value, x.reshape(-1)[expected])


def test_native_bf1_threads_split_planes_and_images():
    """With several torch threads the kernel runs on chunks of channels
    (boundary, backward) and of images (softmax, its Jacobian): the same
    values and gradients as one thread."""
    logits, label = _batch(12, n=3, c=5, h=14, w=17)
    gs = _gs('bezier', 1, seed=6)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        v1, g1 = _run(logits, label, gs, True, tol=2)
        torch.set_num_threads(3)
        v3, g3 = _run(logits, label, gs, True, tol=2)
    finally:
        torch.set_num_threads(before)
    assert v3.item() == v1.item()
    assert torch.equal(g3, g1)
    v0, g0 = _run(logits, label, gs, False, tol=2)
    torch.testing.assert_close(g1, g0, rtol=1e-9, atol=1e-13)
    _check_backend('native')


@pytest.mark.parametrize('h, w', [(1, 1), (1, 7), (7, 1), (2, 2)])
def test_native_bf1_thin_images(h, w):
    """Images one pixel high or wide: the kernel's row rings and window
    clamps at both borders at once."""
    gen = torch.Generator().manual_seed(h * 10 + w)
    label = torch.randint(0, 3, (2, h, w), generator=gen)
    logits = torch.randn(2, 3, h, w, generator=gen, dtype=torch.float64)
    gs = _gs('bezier', 2, seed=1)
    for tol in (0, 1, 3):
        v0, g0 = _run(logits, label, gs, False, tol=tol)
        v1, g1 = _run(logits, label, gs, True, tol=tol)
        assert v1.item() == pytest.approx(v0.item(), abs=1e-12)
        torch.testing.assert_close(g1, g0, rtol=1e-9, atol=1e-13)
    _check_backend('native')


def test_native_kernel_builds_without_an_optional_library(tmp_path, monkeypatch):
    """libmvec is optional: if linking it fails (say, no libmvec.so link),
    the kernel is built without it and still agrees with the eager path."""
    monkeypatch.setenv('MMSEG_AUTOLOSS_CACHE', str(tmp_path))
    monkeypatch.setattr(native, '_LIBS', {})
    monkeypatch.setattr(native, '_optional_flags', lambda: ['-DBF1_LIBMVEC', '-lno_such_lib'])
    native.load_kernel('bf1_cpu')
    assert len(list((tmp_path / 'kernels').glob('bf1_cpu-*.so'))) == 1
    logits, label = _batch(13, n=1, c=3, h=9, w=10, dtype=torch.float32)
    gs = _gs('bezier', 1, seed=7)
    v0, g0 = _run(logits, label, gs, False, tol=2)
    v1, g1 = _run(logits, label, gs, True, tol=2)
    assert v1.item() == pytest.approx(v0.item(), abs=1e-6)
    torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-7)
    _check_backend('native')
