"""Parameterized g (method.md §3) and the authors' presets (method.md §4)."""
import json

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmseg_autoloss.surrogates import (DEFAULT_NUM_PIECES, METRIC_NUM_G, METRICS, PRESETS,
                                       PiecewiseG, build_g_functions, control_points_to_theta,
                                       full_control_points, g_formula, get_preset, identity_theta,
                                       load_loss_params, num_theta, theta_to_control_points)

PARAMS = ('bezier', 'linear')


def theta_strategy(num_pieces: int, num_g: int = 1):
    """θ in [0, 1] with the edges 0 and 1 (degenerate pieces) drawn often."""
    value = st.one_of(st.sampled_from([0.0, 1.0, 0.5]),
                      st.floats(0, 1, allow_nan=False, allow_subnormal=False))
    n = num_g * 2 * (2 * num_pieces - 1)
    return st.lists(value, min_size=n, max_size=n)


def brute_bezier(points, num_pieces, y):
    """g(y) from a dense sampling of the parametric curve (reference)."""
    full = full_control_points(torch.tensor(points, dtype=torch.float64), num_pieces)[0].numpy()
    s = np.linspace(0, 1, 100001)
    us, vs = [], []
    for k in range(num_pieces):
        b0, b1, b2 = full[2 * k], full[2 * k + 1], full[2 * k + 2]
        us.append((1 - s)**2 * b0[0] + 2 * s * (1 - s) * b1[0] + s**2 * b2[0])
        vs.append((1 - s)**2 * b0[1] + 2 * s * (1 - s) * b1[1] + s**2 * b2[1])
    return np.interp(y, np.concatenate(us), np.concatenate(vs))


# ------------------------------------------------------------------ contract
def test_counts_and_identity_theta():
    assert METRIC_NUM_G == {'mIoU': 2, 'FWIoU': 2, 'mAcc': 1, 'gAcc': 1, 'BIoU': 2, 'BF1': 4,
                            'mDice': 2, 'mIoU_I': 2, 'mIoU_C': 2}
    assert DEFAULT_NUM_PIECES['BF1'] == 1 and DEFAULT_NUM_PIECES['mIoU'] == 2
    assert num_theta('mIoU', 2) == 12 and num_theta('mAcc', 2) == 6
    assert num_theta('BF1', 1) == 8 and num_theta('BF1') == 8 and num_theta('mIoU', 3) == 20
    per_g = [0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5]
    assert identity_theta('mIoU', 2) == pytest.approx(per_g * 2)
    assert identity_theta('gAcc') == pytest.approx(per_g)
    assert identity_theta('BF1') == pytest.approx([0.5] * 8)
    with pytest.raises(ValueError, match="valid names.*'mIoU'"):
        num_theta('miou', 2)


@pytest.mark.parametrize('metric', METRICS)
@pytest.mark.parametrize('num_pieces', [1, 2, 3])
@pytest.mark.parametrize('param', PARAMS)
def test_identity_theta_gives_identity(metric, num_pieces, param):
    gs = build_g_functions(METRIC_NUM_G[metric], num_pieces, param,
                           theta=identity_theta(metric, num_pieces))
    assert len(gs) == METRIC_NUM_G[metric]
    y = torch.linspace(0, 1, 257, dtype=torch.float64)
    for g in gs:
        torch.testing.assert_close(g(y), y, atol=1e-12, rtol=0)


# ------------------------------------------------------------------ conversions
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(st.just(n), theta_strategy(n, 2))))
def test_theta_points_round_trip(args):
    n, theta = args
    pts = theta_to_control_points(theta, n)
    # absolute points are non-decreasing in u and v from (0,0) to (1,1)
    full = full_control_points(pts, n)
    assert bool((full[:, 1:] >= full[:, :-1]).all())
    back = control_points_to_theta(pts, n)
    assert bool(((back >= 0) & (back <= 1)).all())
    # points -> theta -> points is exact even where theta is not unique
    torch.testing.assert_close(theta_to_control_points(back, n), pts, atol=1e-12, rtol=0)
    th = torch.tensor(theta, dtype=torch.float64).view(-1, 2 * n - 1, 2)
    prev = torch.cat([torch.zeros_like(full[:, :1]), full[:, 1:-2]], 1)
    # θ_i is free where B_{i-1} = 1 and ill-conditioned just below
    unique = prev < 1 - 1e-3
    torch.testing.assert_close(back.view_as(th)[unique], th[unique], atol=1e-9, rtol=0)


def test_conversion_matches_spec_formula():
    theta = [0.2, 0.4, 0.5, 0.5, 0.25, 1.0]
    pts = theta_to_control_points(theta, 2).tolist()
    # B_i = B_{i-1} + θ_i (1 - B_{i-1})
    assert pts == pytest.approx([0.2, 0.4, 0.6, 0.7, 0.7, 1.0])


# ------------------------------------------------------------------ properties of g
@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(st.just(n), theta_strategy(n))),
       st.sampled_from(PARAMS), st.sampled_from([torch.float32, torch.float64]))
def test_truth_table_monotone_finite(args, param, dtype):
    n, theta = args
    g = build_g_functions(1, n, param, theta=theta)[0]
    pts = g.points.tolist()
    # dense grid plus the edges and every control point's u (piece joints)
    y = torch.cat([torch.linspace(0, 1, 2001, dtype=torch.float64),
                   torch.tensor(pts[0::2] + [0.0, 1.0], dtype=torch.float64)]).to(dtype)
    y = y.sort().values.requires_grad_(True)
    v = g(y)
    assert v.dtype == dtype
    assert v[0].item() == 0.0 and v[-1].item() == 1.0  # exact truth table
    assert g(torch.tensor([0.0, 1.0], dtype=dtype)).tolist() == [0.0, 1.0]
    # non-decreasing up to rounding inside a piece (a few ulp)
    tiny = 4 * torch.finfo(dtype).eps
    assert bool((v[1:] >= v[:-1] - tiny).all()), 'g must be non-decreasing'
    assert bool(((v >= 0) & (v <= 1)).all())
    v.sum().backward()
    assert bool(torch.isfinite(y.grad).all()) and bool((y.grad >= 0).all())


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.floats(0.02, 0.98), min_size=2 * (2 * n - 1),
                                             max_size=2 * (2 * n - 1)))))
def test_bezier_matches_parametric_curve(args):
    n, theta = args
    g = build_g_functions(1, n, 'bezier', theta=theta)[0]
    y = np.random.default_rng(0).random(300)
    ref = brute_bezier(g.points.tolist(), n, y)
    np.testing.assert_allclose(g(torch.tensor(y)).numpy(), ref, atol=2e-5)
    lin = build_g_functions(1, n, 'linear', theta=theta)[0]
    full = full_control_points(g.points, n)[0].numpy()
    np.testing.assert_allclose(lin(torch.tensor(y)).numpy(), np.interp(y, full[:, 0], full[:, 1]),
                               atol=1e-12)


@pytest.mark.parametrize('param', PARAMS)
@pytest.mark.parametrize('num_pieces', [1, 2, 3])
def test_gradcheck_interior_theta(param, num_pieces):
    gen = torch.Generator().manual_seed(num_pieces)
    theta = (0.1 + 0.8 * torch.rand(2 * (2 * num_pieces - 1), generator=gen,
                                    dtype=torch.float64)).tolist()
    g = build_g_functions(1, num_pieces, param, theta=theta)[0]
    y = torch.rand(64, generator=gen, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(g, (y, ))
    torch.testing.assert_close(g.derivative(y.detach()), torch.autograd.grad(g(y).sum(), y)[0])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(st.just(n), theta_strategy(n))),
       st.sampled_from(PARAMS))
@example(args=(2, [0.5, 0.71875, 0.0, 0.0, 0.0, 0.0]), param='bezier')  # B1 = B2 = B3
@example(args=(3, [0.25, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0]), param='bezier')
def test_formula_slope_is_the_derivative_of_its_value(args, param):
    """g' of the one formula (what the backward uses) = autograd of its value,
    for every θ, away from the joints; g(0) = 0, g(1) = 1 in float32/64."""
    n, theta = args
    g = build_g_functions(1, n, param, theta=theta)[0]
    y = torch.rand(500, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    joints = torch.tensor(g.points.tolist()[0::2], dtype=torch.float64)
    y = y[((y[:, None] - joints).abs() > 1e-6).all(1)].requires_grad_()
    consts, thresholds = g.packed(torch.float64, y.device)
    value, slope = g_formula(y, consts, thresholds)
    auto, = torch.autograd.grad(value.sum(), y)
    big = slope > 1e6  # near a vertical tangent the two roundings differ
    torch.testing.assert_close(slope[~big], auto[~big], rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(g.derivative(y.detach()), slope.detach())
    for dtype in (torch.float32, torch.float64):
        ends = torch.tensor([0.0, 1.0], dtype=dtype)
        assert g_formula(ends, *g.packed(dtype, ends.device))[0].tolist() == [0.0, 1.0]


def test_straight_line_and_vertical_tangent_are_safe():
    # m = 1/2 (the quadratic in u degenerates to a line) and m = 0 / 1
    # (vertical tangents) in one g each; θ on the edges of [0, 1].
    cases = [[0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5], [0, 1, 1, 0, 0, 1], [1, 0, 0, 1, 1, 0],
             [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0.5, 0, 1, 1, 0, 0]]
    for theta in cases:
        for param in PARAMS:
            g = build_g_functions(1, 2, param, theta=theta)[0]
            y = torch.tensor([0, 1e-30, 1e-12, 1e-6, 0.25, 0.5, 1 - 1e-7, 1.0],
                             requires_grad=True)
            v = g(y)
            v.sum().backward()
            assert bool(torch.isfinite(v).all() and torch.isfinite(y.grad).all()), (theta, param)
            assert v[0].item() == 0.0 and v[-1].item() == 1.0


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_autocast(dtype):
    g = build_g_functions(2, 2, 'bezier', control_points=PRESETS['voc_miou']['control_points'])[0]
    logits = torch.randn(2, 5, 8, 8, requires_grad=True)
    with torch.autocast('cpu', dtype=dtype):
        probs = torch.softmax(logits.to(dtype), 1).to(dtype)
        v = g(probs)
    assert v.dtype == dtype
    v.float().sum().backward()
    assert bool(torch.isfinite(logits.grad).all())
    ref = g(torch.softmax(logits.detach().to(dtype), 1).float())
    torch.testing.assert_close(v.float(), ref, atol=2e-2, rtol=0)


def test_vectorized_over_any_shape():
    g = build_g_functions(1, 2, 'bezier', theta=[0.3, 0.7, 0.2, 0.1, 0.9, 0.4])[0]
    y = torch.rand(2, 3, 5, 7)
    flat = g(y.reshape(-1)).reshape(y.shape)
    torch.testing.assert_close(g(y), flat)
    torch.testing.assert_close(g(y.transpose(1, 3)), flat.transpose(1, 3))


# ------------------------------------------------------------------ validation
def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match='expected 12'):
        build_g_functions(2, 2, theta=[0.5] * 11)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        build_g_functions(1, 2, theta=[0.5] * 5 + [1.2])
    with pytest.raises(ValueError, match='NaN'):
        build_g_functions(1, 2, theta=[float('nan')] + [0.5] * 5)
    with pytest.raises(ValueError, match='not monotone'):
        build_g_functions(1, 2, control_points=[0.5, 0.5, 0.4, 0.6, 0.7, 0.8])
    with pytest.raises(ValueError, match='not monotone'):
        build_g_functions(1, 2, control_points=[0.1, 0.5, 0.4, 0.3, 0.7, 0.8])
    with pytest.raises(ValueError, match='parameterization'):
        PiecewiseG([0.5, 0.5], 1, 'cubic')
    with pytest.raises(ValueError, match='num_pieces'):
        build_g_functions(1, 0)


# ------------------------------------------------------------------ presets
_PUBLISHED = {  # method.md §4, first and last number of each preset
    'voc_miou': (5.69728440e-04, 9.80038125e-01), 'voc_fwiou': (3.65390355e-04, 6.01448298e-01),
    'voc_biou': (3.65390355e-04, 6.01448298e-01), 'voc_macc': (2.1453928e-02, 9.5041156e-01),
    'voc_gacc': (2.1453928e-02, 9.5041156e-01), 'voc_bf1': (0.8113003373146057, 0.8753038048744202)
}


@pytest.mark.parametrize('name', sorted(PRESETS))
def test_presets(name):
    p = get_preset(name)
    metric, n = p['target_metric'], p['num_pieces']
    assert name == f'voc_{metric.lower()}'
    assert len(p['control_points']) == num_theta(metric, n) == len(p['theta'])
    assert (p['control_points'][0], p['control_points'][-1]) == pytest.approx(_PUBLISHED[name])
    # the free parameters reproduce the published absolute points
    torch.testing.assert_close(theta_to_control_points(p['theta'], n),
                               torch.tensor(p['control_points'], dtype=torch.float64))
    assert (n == 1) == (metric == 'BF1')
    assert p.get('drop_bg', False) == (name == 'voc_biou')
    for g in build_g_functions(METRIC_NUM_G[metric], n, control_points=p['control_points']):
        assert g(torch.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match='unknown preset'):
        get_preset('voc_MIOU')


def test_load_loss_params(tmp_path):
    theta = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    path = tmp_path / 'best_loss.json'
    path.write_text(json.dumps(dict(target_metric='mAcc', parameterization='linear',
                                    num_pieces=2, theta=theta, tol=3, reward=0.7)))
    p = load_loss_params(str(path))
    assert p['target_metric'] == 'mAcc' and p['parameterization'] == 'linear'
    assert p['theta'] == pytest.approx(theta) and p['tol'] == 3 and 'reward' not in p
    assert p['control_points'] == pytest.approx(theta_to_control_points(theta, 2).tolist())
    # control points alone, and both when they agree
    path.write_text(json.dumps(dict(target_metric='mAcc', num_pieces=2,
                                    control_points=p['control_points'])))
    assert load_loss_params(str(path))['theta'] == pytest.approx(theta)
    for bad, msg in [(dict(num_pieces=2, theta=theta), "missing key 'target_metric'"),
                     (dict(target_metric='mAcc', num_pieces=2), 'theta'),
                     (dict(target_metric='mAcc', num_pieces=2, theta=theta[:4]), 'expected 6'),
                     (dict(target_metric='mAcc', num_pieces=2, theta=theta,
                           control_points=[0.9] * 6), 'different curves'),
                     (dict(target_metric='MIoU', num_pieces=2, theta=theta), 'valid names')]:
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=msg):
            load_loss_params(str(path))
    path.write_text('{not json')
    with pytest.raises(ValueError, match='not valid JSON'):
        load_loss_params(str(path))


def test_plot_surrogate_tool(tmp_path):
    import importlib.util
    import os.path as osp
    import sys
    path = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'plot_surrogate.py')
    spec = importlib.util.spec_from_file_location('plot_surrogate', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'bf1.png'
    argv = sys.argv
    try:
        sys.argv = ['plot_surrogate.py', '--preset', 'voc_bf1', '--out', str(out)]
        tool.main()
        sys.argv = ['plot_surrogate.py', '--preset', 'voc_bf1', '--theta', '0.5']
        with pytest.raises(SystemExit, match='one of'):
            tool.main()
    finally:
        sys.argv = argv
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
