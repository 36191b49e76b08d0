"""AutoSegLoss: config resolution, MMSeg conventions, errors and a tiny training."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from conftest import void_ring_example
from mmseg_autoloss.datasets.synthetic import label_statistics
from mmseg_autoloss.losses.auto_seg_loss import AutoSegLoss
from mmseg_autoloss.surrogates import METRICS, PRESETS, identity_theta, relaxed_metric


def _inputs(seed=0, n=2, c=4, h=12, w=12):
    gen = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(n, c, h, w, generator=gen)
    label = torch.randint(0, c, (n, h, w), generator=gen)
    label[0, :2] = 255
    return logits, label


def build(**cfg):
    return MODELS.build(dict(type='AutoSegLoss', **cfg))


# ------------------------------------------------------------------ construction
def test_registry_defaults_and_buffers():
    loss = build()
    assert isinstance(loss, AutoSegLoss)
    assert (loss.target_metric, loss.parameterization, loss.num_pieces) == ('mIoU', 'bezier', 2)
    assert loss.loss_name == 'loss_autoseg' and (loss.tol, loss.drop_bg) == (5, False)
    # no theta: the identity g (Eq. 8)
    assert loss.theta.tolist() == pytest.approx(identity_theta('mIoU', 2))
    # θ is a buffer the optimizer never sees, and not part of checkpoints
    assert list(loss.parameters()) == [] and 'theta' in dict(loss.named_buffers())
    assert loss.state_dict() == {}
    assert build(target_metric='BF1').num_pieces == 1


def test_preset_file_and_explicit_sources(tmp_path):
    loss = build(preset='voc_biou')
    assert (loss.target_metric, loss.tol, loss.drop_bg) == ('BIoU', 5, True)
    assert build(preset='voc_biou', tol=2, drop_bg=False).tol == 2
    cps = PRESETS['voc_miou']['control_points']
    by_points = build(target_metric='mIoU', control_points=cps)
    by_preset = build(target_metric='mIoU', preset='voc_miou')
    by_theta = build(target_metric='mIoU', theta=by_preset.theta.tolist())
    torch.testing.assert_close(by_points.control_points, torch.tensor(cps, dtype=torch.float32))
    logits, label = _inputs()
    ref = by_preset(logits, label)
    for other in (by_points, by_theta):
        torch.testing.assert_close(other(logits, label), ref)

    path = tmp_path / 'best_loss.json'
    path.write_text(json.dumps(dict(target_metric='BF1', parameterization='linear', num_pieces=1,
                                    theta=[0.5, 0.2, 0.3, 0.3, 0.9, 0.1, 0.4, 0.6], tol=3,
                                    drop_bg=True, reward=0.5)))
    loss = build(theta_file=str(path))
    assert (loss.target_metric, loss.parameterization, loss.num_pieces) == ('BF1', 'linear', 1)
    assert (loss.tol, loss.drop_bg) == (3, True)
    with pytest.raises(ValueError, match="tol=1 contradicts theta_file .*, which has tol=3"):
        build(theta_file=str(path), tol=1)  # the file's settings are binding
    assert build(theta_file=str(path), tol=3).tol == 3
    with pytest.raises(ValueError, match="target_metric='mIoU' contradicts theta_file"):
        build(theta_file=str(path), target_metric='mIoU')
    with pytest.raises(ValueError, match='parameterization'):
        build(theta_file=str(path), parameterization='bezier')
    with pytest.raises(ValueError, match='at most one of'):
        build(preset='voc_miou', theta=[0.5] * 12)


@pytest.mark.parametrize('cfg, exc, msg', [
    (dict(target_metric='miou'), ValueError, r"valid names.*'mIoU'"),
    (dict(parameterization='spline'), ValueError, "'bezier', 'linear'"),
    (dict(theta=[0.5] * 10), ValueError, 'expected 12'),
    (dict(target_metric='mAcc', num_pieces=3, theta=[0.5] * 6), ValueError, 'expected 10'),
    (dict(theta=[0.5] * 11 + [1.5]), ValueError, r'\[0, 1\]'),
    (dict(theta=[0.5] * 11 + [-0.1]), ValueError, r'\[0, 1\]'),
    (dict(theta=[float('nan')] + [0.5] * 11), ValueError, 'NaN'),
    (dict(control_points=[0.2, 0.5, 0.1, 0.6, 0.7, 0.8] * 2), ValueError, 'not monotone'),
    (dict(preset='voc_iou'), ValueError, 'unknown preset'),
    (dict(preset='voc_miou', target_metric='BIoU'), ValueError, 'contradicts preset'),
    (dict(use_sigmoid=False, avg_non_ignore=True), TypeError, '_delete_=True'),
    (dict(num_class=21), TypeError, 'unexpected config key'),
    (dict(loss_name='autoseg'), ValueError, "start with 'loss_'"),
    (dict(class_reduction='mean'), ValueError, 'class_reduction'),
    (dict(target_metric='BIoU', tol=-1), ValueError, 'tol'),
    (dict(compile='yes'), TypeError, "compile must be True or False, got 'yes'"),
])
def test_bad_config(cfg, exc, msg):
    with pytest.raises(exc, match=msg):
        build(**cfg)


def test_bad_forward_inputs():
    loss = build()
    logits, label = _inputs()
    with pytest.raises(ValueError, match='does not match'):
        loss(logits, label[:, :-1])
    bad = label.clone()
    bad[1, 0, 0] = 4
    with pytest.raises(ValueError, match=r'label values \[4\]'):
        loss(logits, bad)
    # MMSeg passes the head's ignore_index: 4 is fine when it is the ignore value
    bad[bad == 255] = 4
    assert torch.isfinite(loss(logits, bad, ignore_index=4))


# ------------------------------------------------------------------ values
@pytest.mark.parametrize('metric', METRICS)
def test_value_is_weighted_one_minus_metric(metric):
    logits, label = _inputs(1)
    loss = build(target_metric=metric, loss_weight=0.4, tol=1, class_reduction='present')
    probs = F.softmax(logits, 1)
    ref = relaxed_metric(probs, label, metric, loss.gs, tol=1, class_reduction='present')
    torch.testing.assert_close(loss(logits, label), 0.4 * (1 - ref))
    # near one-hot logits: the loss is 1 - the metric of the argmax
    sharp = F.one_hot(logits.argmax(1), 4).permute(0, 3, 1, 2).float() * 60
    hard = relaxed_metric(F.one_hot(logits.argmax(1), 4).permute(0, 3, 1, 2).double(), label,
                          metric, loss.gs, tol=1, class_reduction='present')
    assert loss(sharp, label).item() == pytest.approx(0.4 * (1 - hard.item()), abs=1e-5)


def test_gradcheck_and_autocast():
    loss = build(preset='voc_fwiou')
    logits, label = _inputs(2, h=6, w=6)
    z = logits.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: loss(x, label), (z, ), fast_mode=True)
    ref = loss(logits, label)
    for dtype in (torch.bfloat16, torch.float16):
        zl = logits.clone().requires_grad_(True)
        with torch.autocast('cpu', dtype=dtype):
            out = loss(zl.to(dtype), label)
        assert out.dtype == torch.float32  # computed in float32 under autocast
        out.backward()
        assert bool(torch.isfinite(zl.grad).all())
        assert out.item() == pytest.approx(ref.item(), abs=2e-2)


def test_compile_option_gives_the_eager_loss():
    logits, label = _inputs(4, h=16, w=16)
    # the module hands compile=True to relaxed_metric: compiled = eager for
    # every metric, BF1 (the slowest to compile) included, is checked in
    # tests/surrogates/test_compile.py; BF1 also runs compiled in a decode
    # head below
    for cfg in (dict(preset='voc_miou'), dict(preset='voc_biou', tol=1),
                dict(preset='voc_macc')):
        eager, fused = build(**cfg), build(compile=True, **cfg)
        assert 'compile=True' in repr(fused) and callable(fused.compile)  # nn.Module's
        grads = []
        for loss in (eager, fused):
            z = logits.clone().requires_grad_(True)
            value = loss(z, label)
            value.backward()
            grads.append((value.item(), z.grad))
        assert grads[1][0] == pytest.approx(grads[0][0], abs=1e-6)
        torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------ MMSeg integration
def test_in_decode_and_auxiliary_heads(tiny_cfg):
    cfg = tiny_cfg(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou'),
        dict(type='AutoSegLoss', preset='voc_bf1', loss_name='loss_bf1', loss_weight=0.5,
             compile=True, sync_stats=True)
    ])
    cfg.model.auxiliary_head.loss_decode = dict(type='AutoSegLoss', target_metric='mAcc',
                                                preset='voc_macc', loss_weight=0.4)
    model = MODELS.build(cfg.model)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(2, 3, 64, 64, generator=gen)
    samples = []
    for _ in range(2):
        lab = torch.randint(0, 6, (1, 64, 64), generator=gen)
        lab[:, :4] = 255
        s = SegDataSample(gt_sem_seg=PixelData(data=lab))
        s.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        samples.append(s)
    losses = model.loss(inputs, samples)
    for key in ('decode.loss_ce', 'decode.loss_autoseg', 'decode.loss_bf1', 'aux.loss_autoseg'):
        assert key in losses and math.isfinite(losses[key].item()), key
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grads = [p.grad for p in model.decode_head.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.slow
def test_tiny_deeplabv3plus_trains_with_published_miou_loss(tiny_cfg, synthetic_root):
    from mmengine.runner import Runner
    cfg = tiny_cfg(max_iters=200, batch_size=4, loss_decode=dict(
        type='AutoSegLoss', target_metric='mIoU', preset='voc_miou'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    history = runner.message_hub.get_scalar('train/decode.loss_autoseg').data[0]
    assert len(history) > 0 and all(math.isfinite(v) for v in history)
    miou = runner.val_loop.run()['mIoU']
    # chance: predicting the most frequent class everywhere
    counts = label_statistics(synthetic_root, 'val', 6)[:6].astype(np.float64)
    majority = 100 * counts.max() / counts.sum() / np.count_nonzero(counts)
    assert miou > majority + 10, (miou, majority)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_matches_cpu_and_fp16_autocast():
    logits, label = _inputs(3, n=2, c=5, h=32, w=32)
    for cfg in (dict(preset='voc_miou'), dict(preset='voc_bf1'), dict(target_metric='mDice')):
        loss = build(**cfg)
        ref = loss(logits, label)
        z = logits.cuda().requires_grad_(True)
        out = loss.cuda()(z, label.cuda())
        assert out.item() == pytest.approx(ref.item(), abs=1e-5)
        with torch.autocast('cuda', dtype=torch.float16):
            half = loss(z.half(), label.cuda())
        half.backward()
        assert half.dtype == torch.float32 and bool(torch.isfinite(z.grad).all())


def test_labels_checked_at_first_call_or_on_request():
    logits, label = _inputs()
    bad = label.clone()
    bad[1, 0, 0] = 4
    loss = build()
    loss(logits, label)
    # later calls read no label values on the host (no device sync per step)
    assert torch.isfinite(loss(logits, bad))
    strict = build(check_labels=True)
    strict(logits, label)
    with pytest.raises(ValueError, match=r'label values \[4\]'):
        strict(logits, bad)
    with pytest.raises(TypeError, match='sync_stats'):
        build(sync_stats='yes')


def test_bf1_perfect_prediction_on_voc_void_band_is_near_zero():
    """The issue's reproducer: predicted boundaries on void pixels count (method.md §1)."""
    truth, label = void_ring_example()
    logits = 10 * F.one_hot(truth, 2).permute(0, 3, 1, 2).float()
    loss = build(target_metric='BF1', preset='voc_bf1')
    assert loss(logits, label).item() < 5e-3  # the authors' loss: 0.0013
    # the hard metric's truth table: exactly 0 on one-hot input
    hard = relaxed_metric(F.one_hot(truth, 2).permute(0, 3, 1, 2).double(), label, 'BF1',
                          loss.gs, tol=5)
    assert hard.item() == pytest.approx(1.0, abs=1e-5)  # eps in the denominators
