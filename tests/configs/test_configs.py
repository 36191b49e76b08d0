"""Every shipped config parses; tiny ones build and run; search ones validate."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import CONFIGS
from mmseg_autoloss.search.settings import SearchSettings
from mmseg_autoloss.utils.loss_config import find_autoseg_losses, loss_target_metric

ALL = sorted(p for p in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
             if '_base_' not in p)
TINY = [p for p in ALL if 'tiny' in osp.basename(p)]


def _id(path):
    return osp.relpath(path, CONFIGS)


@pytest.mark.parametrize('path', ALL, ids=_id)
def test_config_parses(path):
    cfg = Config.fromfile(path)
    assert 'model' in cfg
    if cfg.get('runner_type') == 'LossSearchRunner':
        settings = SearchSettings.from_cfg(cfg.search)
        losses = find_autoseg_losses(cfg.model, settings.heads)
        assert any(loss_target_metric(d) == settings.target_metric for d in losses)
        settings.initial_theta()


@pytest.mark.parametrize('path', TINY, ids=_id)
def test_tiny_model_builds_and_computes_losses(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 6, (1, 64, 64)))
        samples.append(s)
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)] * 2,
             data_samples=samples), True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()


def test_plateau_retrain_schedule_is_the_comparisons_pick():
    """The 1600-iteration retrain configs train as the acceptance comparison
    did: its iterations and CE's chosen learning rate, poly to the end."""
    import json
    with open(osp.join(CONFIGS, '..', 'benchmarks', 'results',
                       'compare_losses_first_budget_1600it.json')) as f:
        res = json.load(f)
    for name in ('ce', 'autoseg-miou'):
        cfg = Config.fromfile(osp.join(
            CONFIGS, 'retrain', f'deeplabv3plus_r18-tiny_{name}_1xb8-1600it_synthetic-64x64.py'))
        assert cfg.train_cfg.max_iters == res['iters'] == 1600
        assert cfg.optim_wrapper.optimizer.lr == res['chosen_lr']['deeplabv3plus']['ce']
        assert cfg.param_scheduler[0]['end'] == cfg.train_cfg.max_iters
        assert cfg.val_evaluator.type == 'SegMetric'


def test_first_budget_search_on_real_data_is_the_demos_search():
    """The VOC first-budget search config spends what `make demo` spends, with
    the quick start's controller, at most a quarter of the 8-round search."""
    cfg = Config.fromfile(osp.join(
        CONFIGS, 'search', 'deeplabv3plus_r50-d8_search-miou_1xb8-first-budget_voc12-128x128.py'))
    quick = Config.fromfile(osp.join(CONFIGS, '_base_', 'search', 'quick_cpu.py')).search
    s = SearchSettings.from_cfg(cfg.search)
    warm = s.proxy.warm_start.iters
    spent = warm + s.rounds * s.samples_per_round * (s.proxy.max_iters - warm)
    assert spent == 5000 <= 6400
    assert dict(cfg.search.controller) == dict(quick.controller)
    assert s.proxy.warm_start.to_cfg() == dict(quick.proxy.warm_start)
    assert s.proxy.max_iters == quick.proxy.max_iters
    assert cfg.model.decode_head.num_classes == 21


@pytest.mark.parametrize('ce,autoseg', [
    ('deeplabv3plus_r101-d8_ce_4xb4-10k_voc12aug-512x512.py',
     'deeplabv3plus_r101-d8_autoseg-miou_4xb4-10k_voc12aug-512x512.py'),
    ('deeplabv3plus_r18-tiny_ce_1xb8-1600it_synthetic-64x64.py',
     'deeplabv3plus_r18-tiny_autoseg-miou_1xb8-1600it_synthetic-64x64.py'),
])
def test_ce_twin_differs_from_its_surrogate_config_in_the_loss_only(ce, autoseg):
    a, b = (Config.fromfile(osp.join(CONFIGS, 'retrain', n)).to_dict() for n in (ce, autoseg))
    losses = []
    for cfg in (a, b):
        losses.append([cfg['model'][h].pop('loss_decode') for h in ('decode_head',
                                                                     'auxiliary_head')])
    assert a == b
    assert [loss['type'] for loss in losses[0]] == ['CrossEntropyLoss'] * 2
    assert [loss['type'] for loss in losses[1]] == ['AutoSegLoss'] * 2
    assert [loss.get('loss_weight', 1.0) for loss in losses[0]] == [1.0, 0.4]
    assert [loss.get('loss_weight', 1.0) for loss in losses[1]] == [1.0, 0.4]
