"""Tests of the JDT losses (Jaccard Metric, Dice Semimetric, Compatible Tversky)."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg.registry import MODELS
from mmseg_autoloss.losses.jdt_loss import (CompatibleTverskyLoss, DiceSemimetricLoss,
                                            JaccardMetricLoss, JDTLoss)

SETTINGS = dict(max_examples=20, deadline=None)


def _inputs(seed, n=2, c=4, h=6, w=7, ignore_frac=0.15, absent=None):
    g = torch.Generator().manual_seed(seed)
    logits = (2 * torch.randn(n, c, h, w, generator=g)).double()
    label = torch.randint(0, c, (n, h, w), generator=g)
    if absent is not None:
        label[label == absent] = 0
    label[torch.rand(n, h, w, generator=g) < ignore_frac] = 255
    return logits, label


def _soft_tversky_reference(logits, label, alpha, beta, smooth, level='D', ignore=255):
    """Classic soft Tversky (products, not L1 norms), classes present in the labels."""
    n, c = logits.shape[:2]
    prob = logits.softmax(1)
    valid = (label != ignore)[:, None].double()
    onehot = F.one_hot(label.clamp(max=c - 1), c).permute(0, 3, 1, 2).double() * valid
    prob = prob * valid

    def index(p, y):
        tp = (p * y).sum()
        fp = (p * (1 - y)).sum()
        fn = ((1 - p) * y).sum()
        return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)

    if level == 'D':
        losses = [1 - index(prob[:, k], onehot[:, k]) for k in range(c) if onehot[:, k].any()]
        return torch.stack(losses).mean()
    table = {}
    for i in range(n):
        for k in range(c):
            if onehot[i, k].any():
                table[i, k] = 1 - index(prob[i, k], onehot[i, k])
    if level == 'I':
        per_image = [torch.stack([v for (i, _), v in table.items() if i == img]).mean()
                     for img in range(n) if any(i == img for i, _ in table)]
        return torch.stack(per_image).mean()
    per_class = [torch.stack([v for (_, k), v in table.items() if k == cls]).mean()
                 for cls in range(c) if any(k == cls for _, k in table)]
    return torch.stack(per_class).mean()


@settings(**SETTINGS)
@given(seed=st.integers(0, 10**6), alpha=st.floats(0, 2), beta=st.floats(0.05, 2),
       smooth=st.sampled_from([0.0, 1e-3, 1.0]), level=st.sampled_from('DIC'))
def test_hard_labels_equal_soft_tversky(seed, alpha, beta, smooth, level):
    logits, label = _inputs(seed, absent=seed % 4)
    weights = dict(mIoUD=float(level == 'D'), mIoUI=float(level == 'I'),
                   mIoUC=float(level == 'C'))
    loss = JDTLoss(alpha=alpha, beta=beta, smooth=smooth, **weights)(logits, label)
    ref = _soft_tversky_reference(logits, label, alpha, beta, smooth, level)
    assert float(loss) == pytest.approx(float(ref), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize('cls, alpha', [(JaccardMetricLoss, 1.0), (DiceSemimetricLoss, 0.5)])
def test_named_losses_are_soft_jaccard_and_dice(cls, alpha):
    logits, label = _inputs(3)
    ref = _soft_tversky_reference(logits, label, alpha, alpha, 1e-3)
    assert float(cls()(logits, label)) == pytest.approx(float(ref), rel=1e-9)
    # soft Dice written as 2|x.y| / (|x| + |y|)
    if alpha == 0.5:
        prob = logits.softmax(1) * (label != 255)[:, None]
        onehot = F.one_hot(label.clamp(max=3), 4).permute(0, 3, 1, 2) * (label != 255)[:, None]
        dice = [2 * (prob[:, k] * onehot[:, k]).sum() / (prob[:, k].sum() + onehot[:, k].sum())
                for k in range(4) if onehot[:, k].any()]
        assert float(cls(smooth=0.0)(logits, label)) == pytest.approx(
            float(1 - torch.stack(dice).mean()), rel=1e-9)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10**6), alpha=st.floats(0.1, 2), beta=st.floats(0.1, 2),
       level=st.sampled_from('DIC'), mode=st.sampled_from(['ALL', 'PRESENT']))
def test_soft_labels_zero_iff_prediction_equals_label(seed, alpha, beta, level, mode):
    g = torch.Generator().manual_seed(seed)
    soft = torch.softmax(3 * torch.randn(2, 4, 5, 6, generator=g, dtype=torch.float64), 1)
    weights = dict(mIoUD=float(level == 'D'), mIoUI=float(level == 'I'),
                   mIoUC=float(level == 'C'))
    loss = JDTLoss(alpha=alpha, beta=beta, smooth=0.0, active_classes_mode_soft=mode, **weights)
    assert float(loss(soft.log(), soft)) == pytest.approx(0.0, abs=1e-12)
    other = torch.softmax(soft.log() + 0.5 * torch.randn(soft.shape, generator=g,
                                                          dtype=torch.float64), 1)
    assert float(loss(other.log(), soft)) > 1e-6


def test_soft_label_smoothing_minimum_is_the_label_not_one_hot():
    """Soft Jaccard would prefer the one-hot prediction; JML prefers x = y."""
    y = torch.tensor([0.9, 0.1], dtype=torch.float64).view(1, 2, 1, 1)
    loss = JaccardMetricLoss(smooth=0.0)
    at_label = loss(y.log(), y)
    sharper = torch.tensor([0.99, 0.01], dtype=torch.float64).view(1, 2, 1, 1)
    assert float(at_label) < float(loss(sharper.log(), y))


def test_active_class_modes():
    logits, label = _inputs(1, absent=3, ignore_frac=0.0)
    present = JDTLoss(active_classes_mode_hard='PRESENT', smooth=0.0)(logits, label)
    every = JDTLoss(active_classes_mode_hard='ALL', smooth=0.0)(logits, label)
    absent_loss = 1.0  # class 3: TP = 0 and FP > 0 (softmax is never 0)
    assert float(every) == pytest.approx((3 * float(present) + absent_loss) / 4)


def test_class_weights_give_weighted_mean():
    logits, label = _inputs(2, ignore_frac=0.0)
    per_class = []
    for k in range(4):
        w = [0.0] * 4
        w[k] = 1.0
        per_class.append(float(JDTLoss(class_weights=w)(logits, label)))
    weights = [1.0, 2.0, 0.5, 0.0]
    loss = JDTLoss(class_weights=weights)(logits, label)
    expected = sum(w * v for w, v in zip(weights, per_class)) / sum(weights)
    assert float(loss) == pytest.approx(expected)
    with pytest.raises(ValueError, match='class_weights has 3 entries but cls_score has 4'):
        JDTLoss(class_weights=[1.0, 1.0, 1.0])(logits, label)


def test_gamma_and_log_loss():
    logits, label = _inputs(4, ignore_frac=0.0)
    base = [float(JDTLoss(class_weights=[float(i == k) for i in range(4)], smooth=0.0)(logits,
                                                                                     label))
            for k in range(4)]
    g2 = JDTLoss(gamma=2.0, smooth=0.0)(logits, label)
    assert float(g2) == pytest.approx(sum(v**2 for v in base) / 4)
    lg = JDTLoss(log_loss=True, smooth=0.0)(logits, label)
    assert float(lg) == pytest.approx(sum(-torch.log(torch.tensor(1 - v)).item()
                                          for v in base) / 4)


def test_loss_weight_mixture_and_pixel_weight():
    logits, label = _inputs(5)
    d = JDTLoss()(logits, label)
    i = JDTLoss(mIoUD=0.0, mIoUI=1.0)(logits, label)
    c = JDTLoss(mIoUD=0.0, mIoUC=1.0)(logits, label)
    mix = JDTLoss(mIoUD=0.5, mIoUI=0.25, mIoUC=0.25, loss_weight=2.0)(logits, label)
    assert float(mix) == pytest.approx(2.0 * (0.5 * d + 0.25 * i + 0.25 * c).item())
    # a zero pixel weight acts as ignore_index
    weight = (label != 255).double()
    unlabeled = label.clone()
    unlabeled[label == 255] = 0
    assert float(JDTLoss()(logits, unlabeled, weight=weight)) == pytest.approx(float(d))


def test_gradients_finite_even_without_smooth_and_active_classes():
    logits, label = _inputs(6)
    logits.requires_grad_(True)
    for mode in ('ALL', 'PRESENT'):
        loss = JDTLoss(smooth=0.0, mIoUI=1.0, mIoUC=1.0, active_classes_mode_hard=mode)
        loss(logits, label).backward()
        assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
        logits.grad = None
    all_ignored = torch.full_like(label, 255)
    out = JDTLoss(mIoUI=1.0, mIoUC=1.0)(logits, all_ignored)
    out.backward()
    assert float(out) == 0.0 and torch.isfinite(logits.grad).all()


def test_registry_names_and_defaults():
    for cfg, name, ab in [(dict(type='JDTLoss'), 'loss_jdt', (1.0, 1.0)),
                          (dict(type='JaccardMetricLoss'), 'loss_jaccard', (1.0, 1.0)),
                          (dict(type='DiceSemimetricLoss'), 'loss_dice_semimetric', (0.5, 0.5)),
                          (dict(type='CompatibleTverskyLoss', alpha=0.2, beta=0.8),
                           'loss_tversky', (0.2, 0.8))]:
        loss = MODELS.build(cfg)
        assert loss.loss_name == name and (loss.alpha, loss.beta) == ab
    assert MODELS.build(dict(type='JaccardMetricLoss')).target_metric == 'mIoU'
    assert MODELS.build(dict(type='DiceSemimetricLoss')).target_metric == 'mDice'
    assert CompatibleTverskyLoss().target_metric == 'Tversky'


@pytest.mark.parametrize('kwargs, err, match', [
    (dict(type='JaccardMetricLoss', use_sigmoid=False), TypeError, '_delete_=True'),
    (dict(type='JaccardMetricLoss', alpha=0.3), TypeError, 'fixes alpha, beta'),
    (dict(type='JDTLoss', foo=1), TypeError, "unexpected config key\\(s\\) \\['foo'\\]"),
    (dict(type='JDTLoss', mIoUD=0.0), ValueError, 'at least one of mIoUD'),
    (dict(type='JDTLoss', alpha=-1.0), ValueError, 'alpha must be a finite number >= 0, got -1.0'),
    (dict(type='JDTLoss', gamma=0.5), ValueError, 'gamma must be a number >= 1'),
    (dict(type='JDTLoss', active_classes_mode_hard='SOME'), ValueError, 'PRESENT'),
    (dict(type='JDTLoss', class_weights=[1.0, -1.0]), ValueError, 'class_weights'),
    (dict(type='JDTLoss', loss_name='jdt'), ValueError, "start with 'loss_'"),
])
def test_bad_config(kwargs, err, match):
    with pytest.raises(err, match=match):
        MODELS.build(kwargs)


def test_bad_inputs():
    logits, label = _inputs(0)
    loss = JDTLoss()
    with pytest.raises(ValueError, match='does not match cls_score'):
        loss(logits, label[:, :-1])
    bad = label.clone()
    bad[0, 0, 0] = 9
    with pytest.raises(ValueError, match=r'label values \[9\]'):
        loss(logits, bad)
    with pytest.raises(ValueError, match=r'soft label values must lie in \[0, 1\]'):
        loss(logits, torch.full_like(logits, 1.5))
    with pytest.raises(ValueError, match='soft label shape'):
        loss(logits, torch.rand(2, 3, 6, 7))
    with pytest.raises(TypeError, match='avg_factor'):
        loss(logits, label, avg_factor=3)


@pytest.mark.parametrize('cfg', [dict(type='JaccardMetricLoss', loss_weight=float('inf')),
                                 dict(type='JaccardMetricLoss', loss_weight=float('nan')),
                                 dict(type='DiceSemimetricLoss', smooth=-1.0),
                                 dict(type='BoundaryReCAMLoss', num_classes=3,
                                      boundary_weight=float('inf'))])
def test_bad_weights_are_refused_naming_field_and_value(cfg):
    field = next(k for k in cfg if k not in ('type', 'num_classes'))
    with pytest.raises(ValueError, match=rf"{cfg['type']}: {field} must be a finite number >= 0, "
                                         rf"got {cfg[field]!r}"):
        MODELS.build(cfg)
