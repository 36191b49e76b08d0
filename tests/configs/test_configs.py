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
