"""Tests of BoundaryReCAMLoss and its functional core (surrogates/recam.py)."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

from mmseg_autoloss.losses.boundary_recam_loss import BoundaryReCAMLoss
from mmseg_autoloss.boundary import dilate, hard_boundary
from mmseg_autoloss.surrogates.recam import (boundary_recam_loss, masked_class_scores,
                                             recam_pooled_ce)

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')
SETTINGS = dict(max_examples=15, deadline=None)


def _inputs(n=2, c=4, h=12, w=12, seed=0, dtype=torch.float64, ignore_frac=0.1):
    g = torch.Generator().manual_seed(seed)
    logits = (2 * torch.randn(n, c, h, w, generator=g)).to(dtype)
    label = torch.randint(0, c, (n, h, w), generator=g)
    label[torch.rand(n, h, w, generator=g) < ignore_frac] = 255
    return logits, label


def _reference(logits, label, mask_source, tol, boundary_weight, mask_region,
               ignore_index=255, eps=1e-6, lin=None):
    """Per-image, per-class loop written straight from the definition."""
    n, c = logits.shape[:2]
    losses = []
    for i in range(n):
        valid = (label[i] != ignore_index).to(logits.dtype)
        for k in range(c):
            region = ((label[i] == k) & (label[i] != ignore_index)).to(logits.dtype)
            if region.sum() == 0:
                continue
            if mask_source == 'prob':
                m = logits[i].softmax(0)[k] * valid
            else:
                a = logits[i, k].relu() * valid
                m = a / (a.max() + eps)
            band = dilate(hard_boundary(region), tol)
            m = m * (1 + boundary_weight * band)
            if mask_region == 'gt':
                m = m * region
            s = (m[None] * logits[i]).sum((1, 2)) / (m.sum() + eps)
            if lin is not None:
                s = lin(s)
            losses.append(-s.log_softmax(0)[k])
    if not losses:
        return logits.sum() * 0
    return torch.stack(losses).mean()


# ------------------------------------------------------------------ values
@pytest.mark.parametrize('mask_source', ['prob', 'relu_logit'])
@pytest.mark.parametrize('mask_region', ['image', 'gt'])
@pytest.mark.parametrize('boundary_weight', [0.0, 2.5])
def test_matches_per_pair_reference(mask_source, mask_region, boundary_weight):
    logits, label = _inputs(n=3, c=5, seed=1)
    label[1] = 255  # an image without any labelled class contributes no pair
    got = boundary_recam_loss(logits, label, mask_source=mask_source, tol=1,
                              boundary_weight=boundary_weight, mask_region=mask_region)
    ref = _reference(logits, label, mask_source, 1, boundary_weight, mask_region)
    torch.testing.assert_close(got, ref)


def test_reclassifier_matches_reference_and_starts_at_identity():
    logits, label = _inputs(c=4, seed=2, dtype=torch.float32)
    plain = BoundaryReCAMLoss(tol=1, boundary_weight=1.0)
    recls = BoundaryReCAMLoss(tol=1, boundary_weight=1.0, use_reclassifier=True, num_classes=4)
    torch.testing.assert_close(recls(logits, label), plain(logits, label))
    with torch.no_grad():
        recls.reclassifier.weight.add_(0.3 * torch.randn(4, 4))
        recls.reclassifier.bias.add_(0.5)
    ref = _reference(logits, label, 'prob', 1, 1.0, 'image', lin=recls.reclassifier)
    torch.testing.assert_close(recls(logits, label), ref)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), loss_weight=st.floats(0.0, 5.0))
def test_loss_weight_scales_and_pairs_average_over_batch(seed, loss_weight):
    logits, label = _inputs(n=2, c=3, h=8, w=8, seed=seed, dtype=torch.float32)
    loss = BoundaryReCAMLoss(tol=1, loss_weight=loss_weight)
    unit = BoundaryReCAMLoss(tol=1)
    torch.testing.assert_close(loss(logits, label), loss_weight * unit(logits, label))
    # The mean is over (image, class) pairs: the batch loss is the
    # pair-count-weighted mean of the per-image losses.
    per = [unit(logits[i:i + 1], label[i:i + 1]) for i in range(2)]
    pairs = [len(set(label[i][label[i] != 255].tolist())) for i in range(2)]
    expect = sum(p * v for p, v in zip(pairs, per)) / max(sum(pairs), 1)
    torch.testing.assert_close(unit(logits, label), expect)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000))
def test_class_permutation_equivariance(seed, perm_seed):
    logits, label = _inputs(n=2, c=4, h=8, w=8, seed=seed)
    perm = torch.randperm(4, generator=torch.Generator().manual_seed(perm_seed))
    inv = torch.argsort(perm)
    relabel = torch.where(label == 255, label, inv[label.clamp(max=3)])
    for src in ('prob', 'relu_logit'):
        a = boundary_recam_loss(logits, label, mask_source=src, tol=1)
        b = boundary_recam_loss(logits[:, perm], relabel, mask_source=src, tol=1)
        torch.testing.assert_close(a, b)


def test_boundary_weight_zero_ignores_tol_and_band_changes_loss():
    logits, label = _inputs(seed=3)
    base = boundary_recam_loss(logits, label, boundary_weight=0.0, tol=0)
    assert torch.equal(base, boundary_recam_loss(logits, label, boundary_weight=0.0, tol=4))
    assert not torch.allclose(base, boundary_recam_loss(logits, label, boundary_weight=3.0, tol=1))


# --------------------------------------------------------------- gradients
@pytest.mark.parametrize('mask_source', ['prob', 'relu_logit'])
@pytest.mark.parametrize('mask_region', ['image', 'gt'])
def test_gradcheck_float64_through_masks(mask_source, mask_region):
    logits, label = _inputs(n=2, c=3, h=7, w=7, seed=4)
    logits.requires_grad_(True)
    loss = BoundaryReCAMLoss(mask_source=mask_source, mask_region=mask_region, tol=1,
                             boundary_weight=1.5, detach_mask=False,
                             use_reclassifier=True, num_classes=3).double()
    with torch.no_grad():
        loss.reclassifier.weight.add_(0.2 * torch.randn(3, 3, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda z: loss(z, label), (logits,))


def test_gradcheck_float64_core_with_masks_and_reclassifier_as_inputs():
    logits, label = _inputs(n=2, c=3, h=6, w=6, seed=5)
    masks = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    weight = (torch.eye(3) + 0.1 * torch.randn(3, 3)).double()
    bias = torch.randn(3, dtype=torch.float64)
    present = torch.tensor([[True, False, True], [True, True, True]])
    args = [t.requires_grad_(True) for t in (logits, masks, weight, bias)]

    def fn(z, m, w, b):
        return recam_pooled_ce(masked_class_scores(z, m), present, lambda s: F.linear(s, w, b))

    assert torch.autograd.gradcheck(fn, args)


def test_detached_mask_gradient_equals_constant_mask_gradient():
    logits, label = _inputs(seed=6)
    z1 = logits.clone().requires_grad_(True)
    boundary_recam_loss(z1, label, tol=1, boundary_weight=2.0).backward()
    # Same masks recomputed without a graph, then used as constants.
    with torch.no_grad():
        valid = (label != 255)[:, None].double()
        masks = logits.softmax(1) * valid
        lab = label.clone()
        lab[label == 255] = -1
        onehot = (lab[:, None] == torch.arange(4).view(1, -1, 1, 1)).double()
        masks = masks * (1 + 2.0 * dilate(hard_boundary(onehot), 1))
        present = onehot.flatten(2).sum(2) > 0
    z2 = logits.clone().requires_grad_(True)
    recam_pooled_ce(masked_class_scores(z2, masks), present).backward()
    torch.testing.assert_close(z1.grad, z2.grad)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), src=st.sampled_from(['prob', 'relu_logit']),
       detach=st.booleans(), recls=st.booleans())
def test_gradient_finite_and_nonzero(seed, src, detach, recls):
    logits, label = _inputs(n=2, c=5, h=16, w=16, seed=seed, dtype=torch.float32)
    logits.requires_grad_(True)
    loss = BoundaryReCAMLoss(mask_source=src, detach_mask=detach, use_reclassifier=recls,
                             num_classes=5, tol=2)
    out = loss(logits, label)
    out.backward()
    assert torch.isfinite(out)
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0
    if recls:
        assert loss.reclassifier.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('recls', [False, True])
def test_all_ignore_batch_gives_zero_that_backpropagates(recls):
    logits = torch.randn(2, 4, 10, 10, requires_grad=True)
    label = torch.full((2, 10, 10), 255)
    loss = BoundaryReCAMLoss(use_reclassifier=recls, num_classes=4, mask_source='relu_logit')
    out = loss(logits, label)
    assert out.requires_grad and out.item() == 0.0
    out.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() == 0


# ------------------------------------------------- moving logits toward k
def _confused_pair(h=16, w=16, seed=0):
    """Class k=1 fills the left half and is confused with class j=3, which
    is absent from the label; class 2 on the right is predicted clearly."""
    g = torch.Generator().manual_seed(seed)
    label = torch.full((1, h, w), 2)
    label[..., : w // 2] = 1
    label[0, 0, 0] = 255
    logits = -2.0 + 0.3 * torch.randn(1, 4, h, w, generator=g, dtype=torch.float64)
    left = label == 1
    logits[:, 1][left] = 1.0 + 0.3 * torch.randn(int(left.sum()), generator=g, dtype=torch.float64)
    logits[:, 3][left] = 1.2 + 0.3 * torch.randn(int(left.sum()), generator=g, dtype=torch.float64)
    logits[:, 2][label == 2] = 4.0
    return logits, label


@pytest.mark.parametrize('cfg', [
    dict(),
    dict(boundary_weight=0.0),
    dict(mask_source='relu_logit', tol=1, boundary_weight=4.0),
    dict(mask_region='gt'),
    dict(use_reclassifier=True, num_classes=4),
])
def test_moving_region_logits_toward_k_away_from_confuser_lowers_loss(cfg):
    logits, label = _confused_pair()
    k = 1
    region = label == k
    others = [c for c in range(4) if c != k]
    # The most confusable other class: the highest mean logit over k's region.
    j = max(others, key=lambda c: float(logits[:, c][region].mean()))
    assert j == 3
    loss = BoundaryReCAMLoss(**cfg).double()
    values = []
    for delta in (0.0, 0.5, 1.0, 2.0, 4.0):
        moved = logits.clone()
        moved[:, k][region] += delta
        moved[:, j][region] -= delta
        values.append(float(loss(moved, label)))
    assert all(a > b for a, b in zip(values, values[1:])), values


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), src=st.sampled_from(['prob', 'relu_logit']),
       bw=st.floats(0.0, 5.0))
def test_first_order_law_gt_region(seed, src, bw):
    """With masks held fixed (the default), moving class k's region toward k
    and away from any j is a descent direction: d·∇L < 0."""
    logits, label = _inputs(n=1, c=4, h=10, w=10, seed=seed, ignore_frac=0.0)
    logits.requires_grad_(True)
    present = sorted(set(label.flatten().tolist()))
    k = present[0]
    j = (k + 1) % 4
    boundary_recam_loss(logits, label, mask_source=src, tol=1, boundary_weight=bw,
                        mask_region='gt').backward()
    d = torch.zeros_like(logits)
    d[:, k][label == k] = 1.0
    d[:, j][label == k] = -1.0
    if src == 'relu_logit' and not (logits[:, k][label == k] > 0).any():
        return  # the CAM mask of k is empty on its region: no direction at all
    assert float((d * logits.grad).sum()) < 0


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize('kwargs, exc, match', [
    (dict(tol=-1), ValueError, 'tol'),
    (dict(tol=1.5), ValueError, 'tol'),
    (dict(boundary_weight=-0.1), ValueError, 'boundary_weight'),
    (dict(loss_weight=-1.0), ValueError, 'loss_weight'),
    (dict(loss_weight=float('nan')), ValueError, 'loss_weight'),
    (dict(mask_source='cam'), ValueError, "mask_source.*'cam'"),
    (dict(mask_region='box'), ValueError, 'mask_region'),
    (dict(use_reclassifier=True), ValueError, 'num_classes'),
    (dict(num_classes=1), ValueError, 'num_classes'),
    (dict(eps=0.0), ValueError, 'eps'),
    (dict(use_sigmoid=False), TypeError, '_delete_=True'),
    (dict(foo=1), TypeError, 'foo'),
])
def test_bad_config_raises_clear_error(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        BoundaryReCAMLoss(**kwargs)


def test_bad_forward_inputs_raise():
    loss = BoundaryReCAMLoss(use_reclassifier=True, num_classes=4)
    logits = torch.randn(2, 4, 8, 8)
    with pytest.raises(ValueError, match='label shape'):
        loss(logits, torch.zeros(2, 8, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r'label values \[7\]'):
        loss(logits, torch.full((2, 8, 8), 7))
    with pytest.raises(ValueError, match='num_classes=4'):
        loss(torch.randn(2, 5, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match='weight shape'):
        loss(logits, torch.zeros(2, 8, 8, dtype=torch.long), weight=torch.ones(2, 8))


# -------------------------------------------------------- vectorization
class _OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def _count_ops(n, c, hw):
    logits, label = _inputs(n=n, c=c, h=hw, w=hw, seed=7, dtype=torch.float32)
    logits.requires_grad_(True)
    loss = BoundaryReCAMLoss(tol=2, boundary_weight=1.0, use_reclassifier=True, num_classes=c)
    with _OpCounter() as counter:
        loss(logits, label).backward()
    return counter.count


def test_no_python_loop_over_images_or_classes():
    # A loop over the batch or the classes would dispatch more tensor ops
    # for a bigger batch / more classes; the vectorized loss dispatches the
    # same number whatever N, C and the image size.
    assert _count_ops(1, 3, 12) == _count_ops(6, 9, 20)


# ---------------------------------------------------------- end to end
def test_configs_parse():
    from mmengine.config import Config
    ce = Config.fromfile(osp.join(CONFIGS, 'recam', 'deeplabv3plus_r18-tiny_ce+recam_1xb8-400it_synthetic-64x64.py'))
    types = [d['type'] for d in ce.model.decode_head.loss_decode]
    assert types == ['CrossEntropyLoss', 'BoundaryReCAMLoss']
    assert ce.model.decode_head.loss_decode[1]['num_classes'] == ce.model.decode_head.num_classes
    auto = Config.fromfile(
        osp.join(CONFIGS, 'recam', 'deeplabv3plus_r18-tiny_autoseg-miou+recam_1xb8-400it_synthetic-64x64.py'))
    first, second = auto.model.decode_head.loss_decode
    assert (first['type'], first['target_metric'], first['preset']) == \
        ('AutoSegLoss', 'mIoU', 'voc_miou')
    assert second['type'] == 'BoundaryReCAMLoss'


def test_trains_end_to_end_and_reclassifier_is_trained(tiny_cfg):
    from mmengine.config import Config
    from mmengine.runner import Runner
    example = Config.fromfile(
        osp.join(CONFIGS, 'recam', 'deeplabv3plus_r18-tiny_ce+recam_1xb8-400it_synthetic-64x64.py'))
    cfg = tiny_cfg(max_iters=10, batch_size=4, loss_decode=example.model.decode_head.loss_decode)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    recam = [m for m in model.decode_head.loss_decode if isinstance(m, BoundaryReCAMLoss)]
    assert len(recam) == 1
    weight = recam[0].reclassifier.weight
    assert any(p is weight for p in model.parameters())
    before = weight.detach().clone()
    torch.testing.assert_close(before, torch.eye(before.shape[0]))
    runner.train()
    assert not torch.equal(weight.detach(), before)
    assert torch.isfinite(weight).all()
    logged = runner.message_hub.get_scalar('train/decode.loss_recam')
    assert torch.isfinite(torch.tensor(logged.current()))


def test_reclassifier_draws_no_random_numbers_and_survives_init_weights():
    # Same seed => the model with the loss starts from the same weights as
    # the plain CE model (a fair comparison), and init_weights keeps the
    # re-classifier at the identity.
    import mmseg.models  # noqa: F401  (registers EncoderDecoder & co.)
    from mmengine.config import Config
    from mmseg.registry import MODELS
    ce = Config.fromfile(osp.join(CONFIGS, 'baseline', 'deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py'))
    rc = Config.fromfile(osp.join(CONFIGS, 'recam', 'deeplabv3plus_r18-tiny_ce+recam_1xb8-400it_synthetic-64x64.py'))
    states = []
    for cfg in (ce, rc):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        states.append(model.state_dict())
    extra = sorted(set(states[1]) - set(states[0]))
    assert extra == ['decode_head.loss_decode.1.reclassifier.bias',
                     'decode_head.loss_decode.1.reclassifier.weight']
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    torch.testing.assert_close(states[1][extra[1]], torch.eye(6))
    assert not states[1][extra[0]].any()
