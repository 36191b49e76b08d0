"""SurrogateMonitorHook and FinalMetricsHook, in a real MMSeg run on CPU."""
import glob
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmseg.registry import HOOKS, MODELS
from mmseg_autoloss.evaluation.functional import image_stats
from mmseg_autoloss.hooks import FinalMetricsHook, SurrogateMonitorHook
from mmseg_autoloss.hooks.surrogate_monitor_hook import hard_metric, surrogate_value

ALL = ['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'mDice', 'BIoU', 'BF1', 'mIoU_D', 'mIoU_I', 'mIoU_C',
       'mIoU_I_q', 'mIoU_C_q', 'mAcc_I', 'mAcc_C', 'mDice_I', 'mDice_C']
KEYS = ['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'mDice', 'BIoU', 'BF1', 'mIoU_D', 'mIoU_I', 'mIoU_C',
        'mIoU_I_q1', 'mIoU_I_q5', 'mIoU_C_q1', 'mIoU_C_q5', 'mAcc_I', 'mAcc_C', 'mDice_I',
        'mDice_C']
LOSSES = [dict(type='CrossEntropyLoss', loss_weight=0.25),
          dict(type='JaccardMetricLoss', loss_weight=0.75),
          dict(type='AutoSegLoss', target_metric='BF1', tol=2, loss_weight=0.1,
               loss_name='loss_bf1')]


def test_training_run_logs_surrogates_and_writes_final_metrics(tiny_cfg):
    """One 10-iteration run through MMSeg's Runner with SegMetric and both hooks."""
    cfg = tiny_cfg(max_iters=10, loss_decode=LOSSES,
                   val_evaluator=dict(type='SegMetric', metrics=ALL, tol=2),
                   custom_hooks=[dict(type='SurrogateMonitorHook', interval=3),
                                 dict(type='FinalMetricsHook')])
    cfg.default_hooks.logger.interval = 3
    # the test split through both MMSeg's IoUMetric and SegMetric: real model outputs
    cfg.test_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU', 'mDice']),
                          dict(type='SegMetric', metrics=['aAcc', 'mIoU', 'mAcc', 'mDice'],
                               prefix='seg')]
    runner = Runner.from_cfg(cfg)
    runner.train()

    hub = runner.message_hub
    for name in ('jaccard', 'bf1'):
        for kind in ('surrogate', 'hard'):
            values, _ = hub.get_scalar(f'train/{kind}_{name}').data
            assert len(values) == 3, (kind, name)  # iterations 3, 6, 9
            assert all(0.0 <= v <= 1.0 for v in values), (kind, name, values)
    assert 'train/surrogate_ce' not in hub.log_scalars  # CE relaxes no metric
    # LoggerHook passed them to the visualizer backend
    scalars = glob.glob(osp.join(cfg.work_dir, '*', 'vis_data', 'scalars.json'))
    logged = [json.loads(line) for line in open(scalars[0])]
    steps = [r['step'] for r in logged if 'surrogate_jaccard' in r and 'hard_bf1' in r]
    assert steps == [3, 6, 9]

    with open(osp.join(cfg.work_dir, 'final_metrics.json')) as f:
        final = json.load(f)
    assert final['iter'] == 10 and list(final['metrics']) == KEYS
    assert all(0 <= v <= 100 for v in final['metrics'].values())
    val_log = [r for r in logged if 'mIoU_C_q5' in r]
    assert val_log and val_log[-1]['mIoU'] == final['metrics']['mIoU']

    test_metrics = runner.test()
    for key in ('aAcc', 'mIoU', 'mAcc', 'mDice'):
        assert abs(test_metrics[f'seg/{key}'] - float(test_metrics[key])) <= 0.01 + 1e-9, key
    with open(osp.join(cfg.work_dir, 'test_final_metrics.json')) as f:
        tested = json.load(f)
    assert tested['metrics']['seg/mIoU'] == test_metrics['seg/mIoU']


def _model_and_batch(tiny_cfg, losses):
    init_default_scope('mmseg')
    cfg = tiny_cfg(loss_decode=losses)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    return model, next(iter(loader))


@pytest.mark.parametrize('mode', ['train', 'eval'])
def test_measure_leaves_training_untouched(tiny_cfg, mode):
    model, batch = _model_and_batch(tiny_cfg, LOSSES)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    values = SurrogateMonitorHook(interval=1, mode=mode).measure(model, batch)
    assert set(values) == {'surrogate_jaccard', 'hard_jaccard', 'surrogate_bf1', 'hard_bf1'}
    assert model.training
    assert torch.equal(torch.get_rng_state(), rng)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # incl. BN running stats
    assert all(p.grad is None for p in model.parameters())


def test_train_mode_surrogate_is_the_training_loss(tiny_cfg):
    """mode='train' sees what the optimizer sees: 1 - logged loss / weight."""
    model, batch = _model_and_batch(tiny_cfg, LOSSES)
    model.train()
    values = SurrogateMonitorHook(mode='train').measure(model, batch)
    with torch.no_grad():
        data = model.data_preprocessor(batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])
    assert values['surrogate_jaccard'] == pytest.approx(
        1 - float(losses['decode.loss_jaccard']) / 0.75, abs=1e-6)
    assert values['surrogate_bf1'] == pytest.approx(
        1 - float(losses['decode.loss_bf1']) / 0.1, abs=1e-5)


def _one_hot_batch(c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, c, (3, 1, 6, 6), generator=g).float()
    label = F.interpolate(label, scale_factor=4)[:, 0].long()
    pred = torch.roll(label, 2, dims=2)
    label[0, :2] = 255
    logits = 60.0 * F.one_hot(pred, c).permute(0, 3, 1, 2).double()
    return logits, pred, label


@pytest.mark.parametrize('cfg', [
    dict(type='JaccardMetricLoss', smooth=0.0, loss_weight=0.5),
    dict(type='DiceSemimetricLoss', smooth=0.0, mIoUD=0.2, mIoUI=0.3, mIoUC=0.5),
    dict(type='CompatibleTverskyLoss', alpha=0.2, beta=0.9, smooth=0.0, mIoUI=1.0),
] + [dict(type='AutoSegLoss', target_metric=m, tol=2, loss_weight=2.0)
     for m in ('mIoU', 'FWIoU', 'mAcc', 'gAcc', 'mDice', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C')])
def test_surrogate_equals_hard_metric_on_one_hot_predictions(cfg):
    """On one-hot input a surrogate is its metric (truth table), so the two logged
    numbers coincide; this ties the hook's bookkeeping to both loss families."""
    loss = MODELS.build(cfg)
    logits, pred, label = _one_hot_batch()
    assert set(torch.unique(pred).tolist()) == set(torch.unique(label[label != 255]).tolist())
    stats = image_stats(pred, label, 4, 255, getattr(loss, 'tol', 5), getattr(loss, 'drop_bg',
                                                                               False)).numpy()
    surrogate = surrogate_value(float(loss(logits, label, ignore_index=255)), loss)
    hard = hard_metric(stats, loss)
    assert 0.2 < hard < 1.0
    assert surrogate == pytest.approx(hard, abs=2e-6)


def test_hook_arguments_and_registry():
    init_default_scope('mmseg')
    assert isinstance(HOOKS.build(dict(type='SurrogateMonitorHook', interval=5)),
                      SurrogateMonitorHook)
    assert isinstance(HOOKS.build(dict(type='FinalMetricsHook')), FinalMetricsHook)
    with pytest.raises(ValueError, match='interval must be a positive integer'):
        SurrogateMonitorHook(interval=0)
    with pytest.raises(ValueError, match='mode must be one of'):
        SurrogateMonitorHook(mode='test')
    with pytest.raises(ValueError, match='out_file'):
        FinalMetricsHook(out_file='')
