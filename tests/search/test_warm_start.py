"""Warm-started proxies (search.proxy.warm_start): a shared CE run trained once
per search, a user checkpoint, and the checks that refuse a bad one."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from conftest import CONFIGS
from search_config import SEARCH_CFG, search_cfg
from mmseg_autoloss.search import Ledger, LossSearchRunner

PSP_CFG = osp.join(CONFIGS, 'search', 'pspnet_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py')


@HOOKS.register_module(force=True)
class _RecordStartWeightsHook(Hook):
    """Writes each run's weights as training starts (after load_from)."""

    def before_train(self, runner) -> None:
        state = {k: v.detach().double().sum().item() for k, v in runner.model.state_dict().items()
                 if v.is_floating_point()}
        with open(osp.join(runner.work_dir, 'start_weights.json'), 'w') as f:
            json.dump(state, f)


def warm_search_cfg(data_root, work_dir, warm_start, rounds=1, samples=2, iters=6,
                    config=SEARCH_CFG):
    cfg = search_cfg(data_root, work_dir, config, rounds=rounds, samples=samples, iters=iters,
                     seed=1)
    cfg.search.proxy.warm_start = warm_start
    cfg.search.proxy_custom_hooks = [dict(type='_RecordStartWeightsHook')]
    return cfg


def weight_sums(path):
    state = torch.load(path, map_location='cpu', weights_only=True)['state_dict']
    return {k: v.double().sum().item() for k, v in state.items() if v.is_floating_point()}


def start_weights(proxy_dir):
    with open(osp.join(proxy_dir, 'start_weights.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def warm_search(synthetic_root, tmp_path_factory):
    """1 round x 2 proxies: a shared 3-iteration CE run, then 3 with theta."""
    work_dir = tmp_path_factory.mktemp('warm')
    best = LossSearchRunner.from_cfg(
        warm_search_cfg(synthetic_root, work_dir, dict(iters=3, loss='CE'))).train()
    return work_dir, best


@pytest.mark.slow
def test_shared_run_trains_once_and_every_proxy_starts_from_it(warm_search):
    work_dir, best = warm_search
    records = Ledger(str(work_dir)).records()
    warm = [r for r in records if r['round'] == -1]
    assert len(warm) == 1 and warm[0]['status'] == 'ok' and warm[0]['iters'] == 3
    assert warm[0]['loss'] == 'CE' and 0 <= warm[0]['reward'] <= 1
    weights = work_dir / 'warm_start' / 'warm_start.pth'
    assert warm[0]['weights'] == str(weights)
    shared = weight_sums(weights)
    # the shared run trained CE only, and its checkpoint is at K iterations
    wcfg = Config.fromfile(str(work_dir / 'warm_start' / 'warm_start_config.py'))
    assert wcfg.model.decode_head.loss_decode.type == 'CrossEntropyLoss'
    assert wcfg.model.auxiliary_head.loss_decode.loss_weight == 0.4
    assert wcfg.train_cfg.max_iters == 3
    assert torch.load(weights, weights_only=True)['meta']['iter'] == 3
    # its random start is not what the proxies start from
    assert start_weights(work_dir / 'warm_start') != shared
    for i in range(2):
        proxy = work_dir / 'proxies' / f'r00_p{i:02d}'
        assert start_weights(proxy) == shared
        cfg = Config.fromfile(str(proxy / 'proxy_config.py'))
        assert cfg.load_from == str(weights)
        assert cfg.train_cfg.max_iters == 3  # the remaining 6 - 3 iterations, with theta
        assert cfg.model.decode_head.loss_decode.type == 'AutoSegLoss'
        assert cfg.param_scheduler[0]['end'] == 3
    assert [r['index'] for r in records if r['round'] == 0] == [0, 1]
    assert best['budget']['proxy_iters_spent'] == 3 + 2 * 3
    assert best['budget']['proxies_trained'] == 2


@pytest.mark.slow
def test_resumed_search_does_not_retrain_the_shared_run(warm_search, synthetic_root):
    work_dir, _ = warm_search
    weights = work_dir / 'warm_start' / 'warm_start.pth'
    mtime = weights.stat().st_mtime_ns
    cfg = warm_search_cfg(synthetic_root, work_dir, dict(iters=3, loss='CE'), rounds=2)
    cfg.resume = True  # extends the search by a round
    best = LossSearchRunner.from_cfg(cfg).train()
    assert weights.stat().st_mtime_ns == mtime
    records = Ledger(str(work_dir)).records()
    assert sum(r['round'] == -1 for r in records) == 1
    assert sorted((r['round'], r['index']) for r in records if r['round'] >= 0) == [
        (0, 0), (0, 1), (1, 0), (1, 1)]
    assert start_weights(work_dir / 'proxies' / 'r01_p00') == weight_sums(weights)
    assert best['budget']['proxy_iters_spent'] == 3 + 4 * 3


@pytest.mark.slow
def test_user_checkpoint_is_loaded_by_every_proxy(warm_search, synthetic_root, tmp_path):
    src, _ = warm_search
    ckpt = str(src / 'warm_start' / 'warm_start.pth')
    LossSearchRunner.from_cfg(warm_search_cfg(synthetic_root, tmp_path, ckpt, iters=2)).train()
    for i in range(2):
        proxy = tmp_path / 'proxies' / f'r00_p{i:02d}'
        assert start_weights(proxy) == weight_sums(ckpt)
        assert Config.fromfile(str(proxy / 'proxy_config.py')).train_cfg.max_iters == 2
    assert not osp.exists(tmp_path / 'warm_start')  # no shared run for a user checkpoint


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize('value,match', [
    ('/nonexistent/ckpt.pth', r"search.proxy.warm_start='/nonexistent/ckpt.pth': no such "
                              r'checkpoint file'),
    (dict(iters=6), r'search.proxy.warm_start.iters=6: must be below search.proxy.max_iters=6'),
    (dict(iters=0), r'search.proxy.warm_start.iters=0: must be a positive integer'),
    (dict(iters=2, loss='Dice'), r"search.proxy.warm_start.loss='Dice'"),
    (dict(iter=2), r"unknown key\(s\) \['iter'\]"),
    (3, r'search.proxy.warm_start=3: must be None, a checkpoint path'),
])
def test_bad_warm_start_fails_before_training(synthetic_root, tmp_path, value, match):
    cfg = warm_search_cfg(synthetic_root, tmp_path / 'w', value)
    with pytest.raises(ValueError, match=match):
        LossSearchRunner.from_cfg(cfg)
    assert not osp.exists(tmp_path / 'w' / 'proxies')


def _model_state(config):
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(Config.fromfile(config).model).state_dict()


def test_checkpoint_of_another_architecture_is_refused(synthetic_root, tmp_path):
    path = str(tmp_path / 'pspnet.pth')
    torch.save(dict(state_dict=_model_state(PSP_CFG), meta=dict()), path)
    cfg = warm_search_cfg(synthetic_root, tmp_path / 'w', path)
    with pytest.raises(ValueError, match=r"search.proxy.warm_start='.*pspnet.pth': is a checkpoint "
                                         r'of another architecture: \d+ tensor\(s\) the model'):
        LossSearchRunner.from_cfg(cfg)
    # the same names, another number of classes
    state = _model_state(SEARCH_CFG)
    state['decode_head.conv_seg.weight'] = torch.zeros(9, 8, 1, 1)
    torch.save(dict(state_dict=state), path)
    with pytest.raises(ValueError, match=r"1 tensor\(s\) differ in shape.*decode_head.conv_seg"):
        LossSearchRunner.from_cfg(cfg)
    # names the model does not have at all (e.g. an ImageNet backbone file)
    state = {f'layer{i}.weight': torch.zeros(3) for i in range(3)}
    torch.save(state, path)
    with pytest.raises(ValueError, match=r'no tensor name in common with the model'):
        LossSearchRunner.from_cfg(cfg)
    with open(path, 'w') as f:
        f.write('not a checkpoint')
    with pytest.raises(ValueError, match=r'cannot be read as a checkpoint'):
        LossSearchRunner.from_cfg(cfg)
    assert not osp.exists(tmp_path / 'w' / 'proxies')


def test_checkpoint_of_the_same_model_passes(synthetic_root, tmp_path):
    path = str(tmp_path / 'own.pth')
    torch.save(dict(state_dict=_model_state(SEARCH_CFG)), path)
    runner = LossSearchRunner.from_cfg(warm_search_cfg(synthetic_root, tmp_path / 'w', path))
    assert runner.warm_start.weights == path
    runner.lock.release()
