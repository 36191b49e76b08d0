"""mmseg_autoloss.boundary (erosion, dilation, edges, band) against scipy.ndimage."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from mmseg_autoloss.boundary import (boundary_band, class_boundaries, dilate, dilate_at, erode,
                                     hard_boundary, label_edges, valid_edges)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(1, 12), w=st.integers(1, 12),
       tol=st.integers(0, 5))
def test_erode_dilate_equal_scipy_grey_morphology(seed, h, w, tol):
    x = np.random.default_rng(seed).random((2, 3, h, w))
    t = torch.from_numpy(x)
    # outside the image never wins: pad with +inf for the min, -inf for the max
    ref_e = ndimage.grey_erosion(x, size=(1, 1, 3, 3), mode='constant', cval=np.inf)
    ref_d = ndimage.grey_dilation(x, size=(1, 1, 2 * tol + 1, 2 * tol + 1), mode='constant',
                                  cval=-np.inf)
    np.testing.assert_array_equal(erode(t).numpy(), ref_e)
    np.testing.assert_array_equal(dilate(t, tol).numpy(), ref_d)
    np.testing.assert_array_equal(dilate(t[0, 0], tol).numpy(), ref_d[0, 0])
    # a tensor with a gradient takes the pooling path: same values
    g = t.clone().requires_grad_()
    np.testing.assert_array_equal(erode(g).detach().numpy(), ref_e)
    np.testing.assert_array_equal(dilate(g, tol).detach().numpy(), ref_d)
    # hard masks (bool, uint8) are dilated in their own dtype
    m = x > 0.7
    ref_m = ndimage.binary_dilation(m, np.ones((1, 1, 2 * tol + 1, 2 * tol + 1), bool)) \
        if tol else m
    np.testing.assert_array_equal(dilate(torch.from_numpy(m), tol).numpy(), ref_m)
    np.testing.assert_array_equal(dilate(torch.from_numpy(m).to(torch.uint8), tol).numpy(),
                                  ref_m.astype(np.uint8))
    np.testing.assert_array_equal(
        erode(torch.from_numpy(m)).numpy(),
        ndimage.binary_erosion(m, np.ones((1, 1, 3, 3), bool), border_value=1))


def test_erode_gradient_is_max_pool_gradient():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(erode, (x, ))
    assert torch.autograd.gradcheck(lambda v: dilate(v, 2), (x, ))
    ref = -F.max_pool2d(-x.reshape(-1, 1, 6, 5), 3, 1, 1).view_as(x)
    g = torch.randn(2, 3, 6, 5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(erode(x), x, g)[0],
                               torch.autograd.grad(ref, x, g)[0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(1, 12), w=st.integers(1, 12),
       c=st.integers(1, 4), tol=st.integers(0, 4), drop_bg=st.booleans())
def test_edges_boundaries_band_equal_scipy(seed, h, w, c, tol, drop_bg):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, c, (2, h, w))
    lab[rng.random((2, h, w)) < 0.15] = 255
    label = torch.from_numpy(lab)
    cross = np.ones((3, 3), bool)
    bd = class_boundaries(label, c).numpy()
    near = class_boundaries(label, c, tol).numpy()
    square = np.ones((2 * tol + 1, 2 * tol + 1), bool)
    band_ref = np.zeros((2, h, w), bool)
    for i in range(2):
        for k in range(c):
            m = lab[i] == k
            # image border is not a boundary: outside counts as inside
            ref = m & ~ndimage.binary_erosion(m, cross, border_value=1)
            np.testing.assert_array_equal(bd[i, k], ref)
            np.testing.assert_array_equal(near[i, k], ndimage.binary_dilation(ref, square)
                                          if tol and ref.any() else ref)
            np.testing.assert_array_equal(hard_boundary(torch.from_numpy(m).double()).numpy(),
                                          ref.astype(float))
            if not (drop_bg and k == 0) and ref.any():
                band_ref[i] |= ndimage.binary_dilation(ref, square) if tol else ref
    np.testing.assert_array_equal(boundary_band(label, c, tol, drop_bg).numpy(), band_ref)
    # a pixel differs from a 3x3 neighbour (any value, void included)
    edges = label_edges(label).numpy()
    for i in range(2):
        hi = ndimage.maximum_filter(lab[i], 3, mode='nearest')
        lo = ndimage.minimum_filter(lab[i], 3, mode='nearest')
        np.testing.assert_array_equal(edges[i], hi != lo)


def test_bad_input():
    with pytest.raises(ValueError, match='tol'):
        dilate(torch.zeros(3, 3), -1)
    with pytest.raises(ValueError, match='2-D, 3-D or 4-D'):
        erode(torch.zeros(3))


@pytest.mark.parametrize('shape', [(2, 3, 7, 9), (1, 1, 1, 5), (2, 1, 4, 1), (3, 16, 16)])
@pytest.mark.parametrize('kernel,minimum', [(3, True), (3, False), (5, False), (11, False)])
def test_window_filter_gradient_equals_max_pool2d(shape, kernel, minimum):
    """Eager erosion/dilation route gradients as F.max_pool2d does, ties included."""
    gen = torch.Generator().manual_seed(kernel + len(shape))
    x = torch.randint(0, 4, shape, generator=gen).double().requires_grad_()  # many ties
    g = torch.rand(shape, generator=gen, dtype=torch.double)
    r = kernel // 2
    src = (-x if minimum else x).reshape(-1, 1, *shape[-2:])
    ref = F.max_pool2d(F.max_pool2d(src, (1, kernel), 1, (0, r)), (kernel, 1), 1, (r, 0))
    ref = (-ref if minimum else ref).view(shape)
    out = erode(x) if minimum else dilate(x, r)
    assert torch.equal(out, ref)
    g_ref, = torch.autograd.grad(ref, x, g)
    g_out, = torch.autograd.grad(out, x, g)
    torch.testing.assert_close(g_out, g_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize('num_classes', [4, 300])
def test_valid_edges_bytes_and_wide_labels_equal_scipy(num_classes):
    """Fewer than 255 classes are compared as bytes, more as float32: the
    same edges, every value off the classes one "no class" value."""
    rng = np.random.default_rng(num_classes)
    # 256 and 259 wrap to classes 0 and 3 as bytes
    values = np.array([0, 1, 2, 3, num_classes - 1, num_classes, 256, 259, 1000, -1])
    # 3x3 blocks, so that a wrapped value next to its class would hide an edge
    lab = np.kron(values[rng.integers(0, len(values), (2, 4, 4))], np.ones((1, 3, 3), int))
    valid = (lab >= 0) & (lab < num_classes)
    merged = np.where(valid, lab, -1)
    ref = np.stack([(ndimage.maximum_filter(m, 3, mode='nearest') !=
                     ndimage.minimum_filter(m, 3, mode='nearest')) for m in merged]) & valid
    label = torch.from_numpy(lab)
    np.testing.assert_array_equal(valid_edges(label, num_classes).numpy(), ref)
    np.testing.assert_array_equal(
        valid_edges(label, num_classes, torch.from_numpy(valid)).numpy(), ref)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(1, 12), w=st.integers(1, 12),
       c=st.integers(1, 4), tol=st.integers(0, 6), ties=st.booleans())
def test_dilate_at_equals_max_pool2d_at_channel(seed, h, w, c, tol, ties):
    """dilate_at = F.max_pool2d's dilation read at one channel per pixel, in
    value and gradient (first maximum of the window, ties included)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(2, c, h, w, generator=gen, dtype=torch.float64)
    if ties:
        x = (x * 3).round()
    x.requires_grad_()
    index = torch.randint(0, c, (2, h, w), generator=gen)
    g = torch.rand(2, h, w, generator=gen, dtype=torch.float64)
    ref = F.max_pool2d(x, 2 * tol + 1, 1, tol).gather(1, index[:, None])[:, 0]
    out = dilate_at(x, index, tol)
    assert torch.equal(out, ref)
    g_ref, = torch.autograd.grad(ref, x, g)
    g_out, = torch.autograd.grad(out, x, g)
    torch.testing.assert_close(g_out, g_ref, rtol=0, atol=1e-12)


def test_dilate_at_bad_input():
    with pytest.raises(ValueError, match='index'):
        dilate_at(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 4, dtype=torch.long), 1)
    with pytest.raises(ValueError, match='tol'):
        dilate_at(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, dtype=torch.long), 1.5)
