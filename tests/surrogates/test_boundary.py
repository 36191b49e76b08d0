"""Boundary operators: the blocked min-pool erosion and the sparse window
maximum against MMSeg/torch's max-pool (values and gradients)."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_autoloss.surrogates import boundary
from mmseg_autoloss.surrogates.boundary import dilate, dilate_at, erode, window_argmax


def maxpool_erode(x):
    x4 = x.reshape(-1, 1, *x.shape[-2:])
    return (-F.max_pool2d(-x4, 3, 1, 1)).view_as(x)


@pytest.mark.parametrize('shape', [(2, 3, 5, 7), (1, 1, 1, 9), (1, 1, 9, 1), (1, 1, 1, 1),
                                   (4, 6), (3, 2, 8), (2, 5, 33, 17)])
def test_erode_equals_maxpool_values_and_gradients(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.rand(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    out = erode(x)
    assert out.shape == x.shape
    assert torch.equal(out, maxpool_erode(x))
    g = torch.randn(shape, generator=gen, dtype=torch.float64)
    mine, = torch.autograd.grad(erode(x), x, g)
    ref, = torch.autograd.grad(maxpool_erode(x), x, g)
    torch.testing.assert_close(mine, ref)  # no ties in random input: same argmin


def test_erode_gradcheck_and_many_blocks(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(erode, (x, ))
    g = torch.randn(2, 3, 6, 5, generator=gen, dtype=torch.float64)
    one, = torch.autograd.grad(erode(x), x, g)
    monkeypatch.setattr(boundary, '_ERODE_BLOCK', 1)  # one plane per block
    assert torch.equal(erode(x), maxpool_erode(x))
    many, = torch.autograd.grad(erode(x), x, g)
    assert torch.equal(one, many)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(1, 9), w=st.integers(1, 9))
def test_erode_ties_send_each_gradient_once(seed, h, w):
    """Hard masks are all ties: every output's gradient reaches exactly one
    input holding the window's minimum (a valid subgradient, like max-pool)."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(2, h, w, generator=gen) > 0.5).double().requires_grad_()
    g = torch.rand(2, h, w, generator=gen, dtype=torch.float64)
    out = erode(x)
    assert torch.equal(out, maxpool_erode(x))
    grad, = torch.autograd.grad(out, x, g)
    assert grad.sum().item() == pytest.approx(g.sum().item())
    assert bool((grad >= 0).all())
    # a 1 only receives gradient from a window without any 0 (min 1)
    near_min_one = dilate(out.detach(), 1) == 1
    assert bool((grad[(x.detach() == 1) & ~near_min_one] == 0).all())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), tol=st.integers(0, 6), h=st.integers(1, 12),
       w=st.integers(1, 12), k=st.integers(1, 50))
def test_dilate_at_equals_dense_dilation(seed, tol, h, w, k):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, h, w, generator=gen, dtype=torch.float64)
    index = torch.randint(0, x.numel(), (k, ), generator=gen)
    dense = dilate(x, tol).reshape(-1)[index]
    assert torch.equal(dilate_at(x, index, tol), dense)
    winner = window_argmax(x, index, tol)
    assert torch.equal(x.reshape(-1)[winner], dense)
    # the winner lies in the same plane, within tol rows and columns
    hw = h * w
    assert torch.equal(winner // hw, index // hw)
    assert bool(((winner % hw // w - index % hw // w).abs() <= tol).all())
    assert bool(((winner % w - index % w).abs() <= tol).all())


def test_dilate_at_gradient_and_bad_input():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(1, 2, 7, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 5, 17, 60, 111])
    dense, = torch.autograd.grad(dilate(x, 2).reshape(-1)[index].sum(), x)
    sparse, = torch.autograd.grad(dilate_at(x, index, 2).sum(), x)
    torch.testing.assert_close(sparse, dense)
    assert torch.equal(window_argmax(x, index[:0], 2), index[:0])
    with pytest.raises(ValueError, match='tol'):
        dilate_at(x, index, -1)
    with pytest.raises(ValueError, match=r'\(N, C, H, W\)'):
        dilate_at(x[0], index, 1)
