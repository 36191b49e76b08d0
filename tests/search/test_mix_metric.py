"""A second metric's surrogate with a searched share b (``mix_metric``) and a
reward averaged over several metrics (``search.reward``): the loss, the
space, bad input, a search round through best_loss.json and the retrain
config, kill -9 and resume, and torchrun equality with every space setting."""
import json
import os
import os.path as osp
import signal
import subprocess

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import REPO, TORCHRUN, kill_tree
from mmseg_autoloss.search import Ledger, LossSearchRunner
from mmseg_autoloss.search.search_space import SearchSpace
from mmseg_autoloss.search.settings import SearchSettings
from mmseg_autoloss.surrogates import identity_theta
from mmseg_autoloss.utils.validate import DEFAULT_MIX_WEIGHT
from test_mix_ce import _batch
from test_loss_search_runner import (_torchrun, comparable, env, rounds_in, search_cfg,
                                     search_cmd, wait_for)


def _loss(**kw):
    return MODELS.build(dict(type='AutoSegLoss', preset='voc_miou', tol=2, **kw))


@settings(max_examples=15, deadline=None)
@given(b=st.floats(0, 1), w=st.floats(0, 1), seed=st.integers(0, 50))
def test_the_loss_mixes_the_second_metrics_naive_surrogate(b, w, seed):
    """w·CE + (1 − w)·[(1 − b)·main + b·(naive BF1 surrogate)]: the ends are
    the losses built on their own."""
    logits, label = _batch(seed)
    main = float(_loss()(logits, label))
    bf1 = float(MODELS.build(dict(type='AutoSegLoss', target_metric='BF1', tol=2))(logits, label))
    ce = float(_loss(ce_weight=1.0)(logits, label))
    got = float(_loss(mix_metric='BF1', mix_weight=b, ce_weight=w)(logits, label))
    want = w * ce + (1 - w) * ((1 - b) * main + b * bf1)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_mix_metric_alone_takes_the_default_share_and_gradients_flow():
    logits, label = _batch()
    logits.requires_grad_(True)
    loss = _loss(mix_metric='BIoU')
    assert loss.mix_weight == DEFAULT_MIX_WEIGHT and loss.mix_metric == 'BIoU'
    loss(logits, label).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize('kw, says', [
    (dict(mix_weight=0.3), r'mix_weight=0.3 needs a mix_metric'),
    (dict(mix_metric='bf1'), r"AutoSegLoss: mix_metric: .*'bf1'"),
    (dict(mix_metric='BF1', mix_weight=1.5),
     r'AutoSegLoss: mix_weight must be a number in \[0, 1\], got 1.5'),
])
def test_bad_mix_is_named(kw, says):
    with pytest.raises(ValueError, match=says):
        _loss(**kw)


def test_space_with_both_extras():
    space = SearchSpace('mIoU', 'bezier', 2, tol=2, mix_ce=0.25, mix_metric='BF1',
                        mix_weight=0.4)
    assert space.dim == space.g_dim + 2 == 14
    assert space.names[-2:] == ['ce_weight', 'mix_weight']
    assert space.default() == identity_theta('mIoU', 2) + [0.25, 0.4]
    params = space.loss_params([0.4] * 12 + [0.6, 0.7])
    assert (params['ce_weight'], params['mix_metric'], params['mix_weight']) == (0.6, 'BF1', 0.7)
    assert params['tol'] == 2  # the BF1 share needs the tolerance
    assert 'tol' not in SearchSpace('mIoU', 'bezier', 2, tol=2).loss_params([0.4] * 12)


@pytest.mark.parametrize('key, value, says', [
    ('mix_metric', 'Bf1', r"search.mix_metric='Bf1': unknown metric"),
    ('mix_weight', -0.1, r'search.mix_weight must be a number in \[0, 1\], got -0.1'),
    ('reward', ['mIoU', 'bf1'], r"search.reward=\['mIoU', 'bf1'\]: must name distinct"),
    ('reward', ['mIoU', 'mIoU'], r'must name distinct target metrics'),
    ('reward', [], r'must name distinct target metrics'),
])
def test_bad_search_settings_are_named(key, value, says):
    with pytest.raises(ValueError, match=says):
        SearchSettings.from_cfg({key: value})


def test_reward_averages_the_named_metrics():
    s = SearchSettings.from_cfg(dict(reward=['mIoU', 'BF1']))
    assert s.reward_metrics == ['mIoU', 'BF1'] and s.reward_key == 'mIoU+BF1'
    assert s.reward_task() == dict(reward_key='mIoU+BF1', reward_keys=['mIoU', 'BF1'])
    assert SearchSettings.from_cfg({}).reward_task() == dict(reward_key='mIoU')


# every setting of the space beyond the paper's, as a test search uses them
SMALL = dict(samples=3, iters=8)
EXTENDED = {'search.mix_ce': 0.25, 'search.class_reduction': 'present',
            'search.mix_metric': 'BF1', 'search.mix_weight': 0.3, 'search.tol': 2,
            'search.reward': ['mIoU', 'BF1']}


@pytest.fixture(scope='module')
def extended_search(synthetic_root, tmp_path_factory):
    """2 rounds x 3 proxies x 8 iterations with every extension, in this process."""
    work_dir = tmp_path_factory.mktemp('search_extended')
    best = LossSearchRunner.from_cfg(search_cfg(synthetic_root, work_dir, **SMALL,
                                                **EXTENDED)).train()
    return work_dir, best


@pytest.mark.slow
def test_search_with_the_extensions_reaches_best_loss_and_the_retrain_config(extended_search):
    work_dir, best = extended_search
    assert best['mix_metric'] == 'BF1' and 0 <= best['mix_weight'] <= 1
    assert 0 <= best['ce_weight'] <= 1 and best['class_reduction'] == 'present'
    assert best['tol'] == 2 and len(best['theta']) == 12 and best['schema_version'] == 3
    ledger = Ledger(str(work_dir)).records()
    for r in ledger:
        assert len(r['theta']) == 14
        # the reward is the mean of the hold-out mIoU and BF1 the proxy reported
        assert r['reward'] == pytest.approx((r['metrics']['mIoU'] + r['metrics']['BF1']) / 200)
    proxy = Config.fromfile(osp.join(work_dir, 'proxies', 'r01_p02', 'proxy_config.py'))
    loss = proxy.model.decode_head.loss_decode
    rec = next(r for r in ledger if (r['round'], r['index']) == (1, 2))
    assert (loss.ce_weight, loss.mix_weight) == tuple(rec['theta'][-2:])
    assert loss.mix_metric == 'BF1' and loss.tol == 2
    retrain = Config.fromfile(osp.join(work_dir, 'retrain_config.py'))
    loss = retrain.model.decode_head.loss_decode
    assert (loss.mix_metric, loss.mix_weight) == ('BF1', best['mix_weight'])
    path = osp.join(work_dir, 'best_loss.json')
    built = MODELS.build(dict(type='AutoSegLoss', theta_file=path))
    assert (built.mix_metric, built.mix_weight, built.tol) == ('BF1', best['mix_weight'], 2)
    with pytest.raises(ValueError, match='mix_weight=0.9 contradicts'):
        MODELS.build(dict(type='AutoSegLoss', mix_weight=0.9, theta_file=path))


@pytest.mark.slow
def test_extended_search_killed_in_round_two_resumes_to_the_lone_result(
        extended_search, synthetic_root, tmp_path):
    ref_dir, ref_best = extended_search
    work_dir = tmp_path / 'killed'
    cmd = search_cmd(synthetic_root, work_dir, **SMALL, **EXTENDED)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: 1 in rounds_in(work_dir / 'ledger' / 'rank0.jsonl'), 300,
                 'a proxy of round 2', proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    out = subprocess.run(cmd + ['--resume'], cwd=REPO, env=env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert comparable(work_dir) == comparable(ref_dir)
    with open(work_dir / 'best_loss.json') as f:
        best = json.load(f)
    assert best['theta'] == ref_best['theta'] and best['mix_weight'] == ref_best['mix_weight']


@TORCHRUN
@pytest.mark.slow
def test_extended_search_under_torchrun_matches_one_process(extended_search, synthetic_root,
                                                           tmp_path):
    ref_dir, ref_best = extended_search
    work_dir = tmp_path / 'dist'
    proc = _torchrun(work_dir, synthetic_root, **SMALL, **EXTENDED)
    try:
        assert proc.wait(timeout=600) == 0, (tmp_path / 'dist.out').read_text()[-3000:]
    finally:
        kill_tree(proc.pid)
        proc.wait()
    assert {r['rank'] for r in Ledger(str(work_dir)).records()} == {0, 1}
    assert comparable(work_dir) == comparable(ref_dir)
    with open(work_dir / 'best_loss.json') as f:
        best = json.load(f)
    assert best['theta'] == ref_best['theta'] and best['ce_weight'] == ref_best['ce_weight']
