"""SegMetric against MMSeg's IoUMetric, through MMSeg's pipeline and Runner."""
import math
import os
import time

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

from mmseg.evaluation import IoUMetric
from mmseg.registry import DATASETS, METRICS
from conftest import free_port
from mmseg_autoloss.evaluation import SegMetric

ALL = ['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'mDice', 'BIoU', 'BF1', 'mIoU_D', 'mIoU_I', 'mIoU_C',
       'mIoU_I_q', 'mIoU_C_q', 'mAcc_I', 'mAcc_C', 'mDice_I', 'mDice_C_q']


def _samples(seed, n, c, h, w, ignore_frac=0.15):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        label = torch.randint(0, c, (1, h, w), generator=g)
        label[torch.rand(1, h, w, generator=g) < ignore_frac] = 255
        pred = torch.where(torch.rand(1, h, w, generator=g) < 0.6, label.clamp(max=c - 1),
                           torch.randint(0, c, (1, h, w), generator=g))
        out.append(dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=label)))
    return out


def _run(metric, samples, classes, batch=4):
    metric.dataset_meta = dict(classes=classes)
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.evaluate(len(samples))


def _assert_same_as_iou_metric(samples, classes):
    ref = _run(IoUMetric(iou_metrics=['mIoU', 'mDice']), samples, classes)
    ours = _run(SegMetric(metrics=['aAcc', 'mIoU', 'mAcc', 'mDice']), samples, classes)
    assert set(ours) == set(ref)
    for key, val in ref.items():
        if math.isnan(val):
            assert math.isnan(ours[key]), key
        else:
            # IoUMetric works in float32; both round to 2 decimals
            assert abs(ours[key] - float(val)) <= 0.01 + 1e-9, (key, ours[key], val)


@pytest.mark.parametrize('seed, c', [(0, 2), (1, 6), (2, 19)])
def test_equals_iou_metric_on_random_data(seed, c):
    samples = _samples(seed, 7, c, 23, 31)
    _assert_same_as_iou_metric(samples, [f'c{i}' for i in range(c)])


def test_class_absent_from_whole_set_is_nan_like_iou_metric():
    samples = _samples(5, 4, 3, 16, 16)  # labels and predictions in 0..2, 5 classes
    classes = [f'c{i}' for i in range(5)]
    _assert_same_as_iou_metric(samples, classes)
    metric = SegMetric(metrics=ALL)
    values = _run(metric, samples, classes)
    assert all(not math.isnan(v) for v in values.values())
    same = _run(SegMetric(metrics=ALL), samples, classes[:3])
    assert values == same  # absent classes are left out of every mean


def test_reduce_zero_label_through_mmseg_pipeline(synthetic_root):
    """Ground truth reduced by MMSeg's own LoadAnnotations, as in a real run."""
    init_default_scope('mmseg')
    ds = DATASETS.build(dict(
        type='SyntheticShapesDataset', data_root=synthetic_root, reduce_zero_label=True,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')]))
    g = torch.Generator().manual_seed(0)
    samples = []
    raw_zero = 0
    for i in range(len(ds)):
        item = ds[i]['data_samples']
        label = item.gt_sem_seg.data
        raw = np.array(Image.open(item.seg_map_path))
        raw_zero += int((raw == 0).sum())
        assert torch.equal(label == 255, torch.from_numpy((raw == 0) | (raw == 255))[None])
        pred = torch.randint(0, 5, label.shape, generator=g)
        pred = torch.where(torch.rand(label.shape, generator=g) < 0.5, label.clamp(max=4), pred)
        samples.append(dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=label)))
    assert raw_zero > 0  # background really became ignore
    _assert_same_as_iou_metric(samples, list(ds.metainfo['classes'])[1:])


def test_format_only_and_output_dir(tmp_path):
    samples = _samples(0, 2, 4, 8, 8)
    for i, s in enumerate(samples):
        s['img_path'] = f'/x/img{i}.jpg'
        s['reduce_zero_label'] = True
    metric = SegMetric(metrics=['mIoU'], output_dir=str(tmp_path), format_only=True)
    assert _run(metric, samples, ['a', 'b', 'c', 'd']) == {}
    saved = np.array(Image.open(tmp_path / 'img1.png'))
    assert np.array_equal(saved, samples[1]['pred_sem_seg']['data'][0].numpy() + 1)


def test_process_keeps_compact_stats_not_maps():
    metric = SegMetric(metrics=ALL)
    metric.dataset_meta = dict(classes=list('abcd'))
    metric.process({}, _samples(0, 3, 4, 64, 64))
    assert len(metric.results) == 3
    assert all(r.shape == (4, 10) and r.dtype == np.int64 for r in metric.results)


def test_mixed_image_sizes_in_one_batch():
    samples = _samples(1, 3, 4, 16, 16) + _samples(2, 2, 4, 9, 13)
    order = [samples[i] for i in (0, 3, 1, 4, 2)]
    a = _run(SegMetric(metrics=ALL), order, list('abcd'), batch=5)
    b = _run(SegMetric(metrics=ALL), order, list('abcd'), batch=1)
    assert a == b


@pytest.mark.parametrize('kwargs, err, match', [
    (dict(metrics=['mIoU', 'BF3']), ValueError, "unknown metric 'BF3'"),
    (dict(metrics=['mIoU_C_q'], q=(0, 5)), ValueError, 'q must'),
    (dict(metrics=['mIoU_C_q'], q=(101, )), ValueError, 'q must'),
    (dict(metrics=['mIoU'], tol=-1), ValueError, 'tol'),
    (dict(iou_metrics=['mIoU', 'mAcc']), ValueError, "iou_metrics accepts 'mIoU'"),
    (dict(metrics=['mIoU'], foo=1), TypeError, "unexpected argument\\(s\\) \\['foo'\\]"),
])
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        SegMetric(**kwargs)


@pytest.mark.parametrize('iou_metrics', [['mIoU'], ['mDice'], ['mIoU', 'mDice', 'mFscore']])
def test_iou_metric_arguments_give_iou_metric_keys(iou_metrics):
    """Only ``type`` changes: SegMetric(iou_metrics=...) returns IoUMetric's keys."""
    samples = _samples(4, 3, 3, 12, 12)
    ref = _run(IoUMetric(iou_metrics=iou_metrics), samples, list('abc'))
    ours = _run(SegMetric(iou_metrics=iou_metrics), samples, list('abc'))
    assert set(ours) == set(ref)
    assert all(abs(ours[k] - float(ref[k])) <= 0.01 + 1e-9 for k in ref)


def test_explicit_metrics_win_over_merged_iou_metrics():
    metric = SegMetric(metrics=['BF1'], iou_metrics=['mIoU'])
    assert metric.metrics == ['BF1']


def test_shape_mismatch_is_a_clear_error():
    metric = SegMetric(metrics=['mIoU'])
    metric.dataset_meta = dict(classes=list('abc'))
    bad = [dict(pred_sem_seg=dict(data=torch.zeros(1, 8, 8, dtype=torch.long)),
                gt_sem_seg=dict(data=torch.zeros(1, 8, 9, dtype=torch.long)), img_path='x.png')]
    with pytest.raises(ValueError, match=r"prediction shape \(8, 8\) does not match label shape "
                       r"\(8, 9\) \(img_path='x.png'\)"):
        metric.process({}, bad)


def test_evaluator_dict_with_metrics_key_builds():
    """mmengine sends dict(type=..., metrics=[...]) to EVALUATOR, not METRICS."""
    init_default_scope('mmseg')
    ev = Runner.build_evaluator(None, dict(type='SegMetric', metrics=['mIoU', 'BF1'], tol=2))
    assert isinstance(ev, Evaluator) and isinstance(ev.metrics[0], SegMetric)
    assert ev.metrics[0].tol == 2 and ev.metrics[0].metrics == ['mIoU', 'BF1']
    assert isinstance(METRICS.build(dict(type='SegMetric', metrics=['mIoU'])), SegMetric)


def test_percent_values_in_requested_order():
    samples = _samples(3, 3, 3, 12, 12)
    metric = SegMetric(metrics=['mIoU', 'BF1', 'mIoU_C_q'], q=(50, ))
    values = _run(metric, samples, ['road', 'car', 'sky'])
    assert list(values) == ['mIoU', 'BF1', 'mIoU_C_q50']
    assert all(0 <= v <= 100 and round(v, 2) == v for v in values.values())


# ------------------------------------------------------------ distributed



def _dist_worker(rank, world, port, samples, classes, out_file):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    # CPU-only: plain gloo (mmengine's init_dist would pick a CUDA device)
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)
    metric = SegMetric(metrics=ALL)
    metric.dataset_meta = dict(classes=classes)
    # each rank sees its own interleaved share, as a DefaultSampler gives it
    metric.process({}, samples[rank::world])
    values = metric.evaluate(len(samples))
    if rank == 0:
        torch.save(values, out_file)
    # gloo's threads free the gathered tensors under the GIL: let them go
    # idle before ~ProcessGroupGloo joins them (test_sync_stats's exit hang)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def test_distributed_collect_matches_single_process(tmp_path):
    samples = _samples(7, 6, 4, 20, 20)
    classes = list('abcd')
    single = _run(SegMetric(metrics=ALL), samples, classes)
    out = str(tmp_path / 'dist.pt')
    ctx = mp.start_processes(_dist_worker, args=(2, free_port(), samples, classes, out),
                             nprocs=2, start_method='fork', join=False)
    # a hang fails the test instead of the whole suite's time limit (join
    # returns at each rank's exit, True once all have exited cleanly)
    deadline = time.monotonic() + 300
    while not ctx.join(timeout=max(1.0, deadline - time.monotonic())):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail('the two gloo ranks did not finish in 300 s')
    assert torch.load(out, weights_only=False) == single


def test_classwise_returns_each_class_iou_and_acc_against_numpy():
    samples = _samples(3, 5, 4, 17, 19)
    classes = ['a', 'b', 'c', 'd']
    res = _run(SegMetric(metrics=['mIoU', 'mAcc'], classwise=True), samples, classes)
    pred = np.concatenate([s['pred_sem_seg']['data'].numpy().ravel() for s in samples])
    label = np.concatenate([s['gt_sem_seg']['data'].numpy().ravel() for s in samples])
    keep = label != 255
    pred, label = pred[keep], label[keep]
    for c, name in enumerate(classes):
        tp = np.sum((pred == c) & (label == c))
        union = np.sum((pred == c) | (label == c))
        assert res[f'IoU.{name}'] == pytest.approx(round(100 * tp / union, 2), abs=1e-9)
        assert res[f'Acc.{name}'] == pytest.approx(round(100 * tp / np.sum(label == c), 2),
                                                   abs=1e-9)
    assert 'IoU.a' not in _run(SegMetric(metrics=['mIoU']), samples, classes)
