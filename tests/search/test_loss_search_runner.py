"""LossSearchRunner end to end: real proxy trainings through MMSeg's runner."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from conftest import CONFIGS, REPO, subprocess_env as _env
from mmseg_autoloss.search import Ledger, LossSearchRunner
from mmseg_autoloss.surrogates import num_theta

pytestmark = pytest.mark.slow
SEARCH_CFG = osp.join(CONFIGS, 'search', 'deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py')


def search_options(data_root, rounds=2, samples=4, iters=20, num_workers=0):
    return {
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 4,
        'search.rounds': rounds,
        'search.samples_per_round': samples,
        'search.proxy.max_iters': iters,
        'search.proxy.batch_size': 4,
        'search.hold_out': dict(_delete_=True, size=8, seed=0),
        'search.workers.num_workers': num_workers,
        'search.seed': 3,
        # the authors' baseline: mu is sample 0 and gets a reward of its own
        'search.controller.baseline': 'mu',
    }


def search_cfg(data_root, work_dir, **kw):
    cfg = Config.fromfile(SEARCH_CFG)
    cfg.merge_from_dict(search_options(data_root, **kw))
    cfg.work_dir = str(work_dir)
    return cfg


def cli_options(data_root, **kw):
    opts = []
    for key, value in search_options(data_root, **kw).items():
        if isinstance(value, dict):
            opts += [f'{key}.{k}={v}' for k, v in value.items() if k != '_delete_']
            opts.append(f'{key}.fraction=None')
        else:
            opts.append(f'{key}={value}')
    return opts


def comparable(work_dir):
    return [Ledger.comparable(r) for r in Ledger(str(work_dir)).records()]


@pytest.fixture(scope='module')
def reference_search(synthetic_root, tmp_path_factory):
    """2 rounds x 4 proxies x 20 iterations in this process."""
    work_dir = tmp_path_factory.mktemp('search_ref')
    best = LossSearchRunner.from_cfg(search_cfg(synthetic_root, work_dir)).train()
    return work_dir, best


def test_search_writes_ledger_and_best_loss(reference_search):
    work_dir, best = reference_search
    records = Ledger(str(work_dir)).records()
    assert [(r['round'], r['index']) for r in records] == [(t, i) for t in range(2) for i in range(4)]
    n = num_theta('mIoU', 2)
    for r in records:
        assert r['status'] == 'ok' and 0 <= r['reward'] <= 1
        assert len(r['theta']) == n and len(r['control_points']) == n
        assert all(0 <= v <= 1 for v in r['theta'])
        assert r['wall_time'] > 0 and isinstance(r['seed'], int)
    # baseline 'mu': sample 0 of round 0 is the identity surrogate
    assert records[0]['theta'] == pytest.approx([0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5] * 2)
    with open(osp.join(work_dir, 'best_loss.json')) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(best))
    assert saved['target_metric'] == 'mIoU' and len(saved['theta']) == n
    assert saved['budget']['proxies_trained'] == 8 and len(saved['history']) == 2
    # the output is the mu of the round with the best mean reward
    means = [sum(r['reward'] for r in records if r['round'] == t) / 4 for t in range(2)]
    assert saved['reward'] == pytest.approx(max(means))
    assert saved['theta'] == pytest.approx(records[4 * means.index(max(means))]['theta'])
    for name in ('search_progress.png', 'surrogate_curves.png', 'retrain_config.py',
                 'search_state.pth'):
        assert osp.getsize(osp.join(work_dir, name)) > 0
    retrain = Config.fromfile(osp.join(work_dir, 'retrain_config.py'))
    assert retrain.model.decode_head.loss_decode.theta == pytest.approx(saved['theta'])
    assert 'search' not in retrain and 'runner_type' not in retrain


def test_resume_after_kill_reruns_nothing_and_matches(reference_search, synthetic_root, tmp_path):
    ref_dir, ref_best = reference_search
    work_dir = tmp_path / 'killed'
    cmd = [sys.executable, 'tools/search.py', SEARCH_CFG, '--work-dir', str(work_dir),
           '--cfg-options', *cli_options(synthetic_root)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    shard = work_dir / 'ledger' / 'rank0.jsonl'
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if shard.exists() and any(json.loads(l)['round'] == 1 for l in shard.read_text().splitlines() if l.strip()):
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    lines = [json.loads(l) for l in shard.read_text().splitlines() if l.strip()]
    killed_at = len(lines)
    assert 5 <= killed_at < 8, f'kill should land in round 2, ledger had {killed_at} records'
    before = torch.load(work_dir / 'search_state.pth', weights_only=True)['elapsed_s']
    assert before > 0  # round 1's wall time is kept with the controller state
    out = subprocess.run(cmd + ['--resume'], cwd=REPO, env=_env(), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    lines = [json.loads(l) for l in shard.read_text().splitlines() if l.strip()]
    counts = Counter((r['round'], r['index']) for r in lines)
    assert set(counts) == {(t, i) for t in range(2) for i in range(4)}
    assert max(counts.values()) == 1, f'a finished proxy was re-run: {counts}'
    assert comparable(work_dir) == comparable(ref_dir)
    with open(work_dir / 'best_loss.json') as f:
        best = json.load(f)
    assert best['theta'] == ref_best['theta'] and best['reward'] == ref_best['reward']
    # the budget counts the killed session up to its last round, not only the resumed one
    assert best['budget']['wall_time_s'] > before


def test_torchrun_two_processes_matches_single_process(reference_search, synthetic_root, tmp_path):
    ref_dir, ref_best = reference_search
    work_dir = tmp_path / 'dist'
    out = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29533',
         'tools/search.py', SEARCH_CFG, '--launcher', 'pytorch', '--work-dir', str(work_dir),
         '--cfg-options', *cli_options(synthetic_root, num_workers=1)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    records = Ledger(str(work_dir)).records()
    assert {r['rank'] for r in records} == {0, 1}
    assert comparable(work_dir) == comparable(ref_dir)
    with open(work_dir / 'best_loss.json') as f:
        assert json.load(f)['theta'] == ref_best['theta']


@HOOKS.register_module(force=True)
class _InjectFailureHook(Hook):
    """Breaks one chosen proxy: raises, or turns its weights into NaN."""

    def __init__(self, target: str, mode: str) -> None:
        self.target, self.mode = target, mode

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if not runner.work_dir.endswith(self.target) or runner.iter != 2:
            return
        if self.mode == 'raise':
            raise RuntimeError('injected failure')
        with torch.no_grad():
            for p in runner.model.parameters():
                p.fill_(float('nan'))


@pytest.mark.parametrize('mode,status', [('raise', 'failed'), ('nan', 'nan')])
def test_failing_proxy_is_recorded_and_search_completes(synthetic_root, tmp_path, mode, status):
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=3, iters=6)
    cfg.search.proxy_custom_hooks = [dict(type='_InjectFailureHook', target='r00_p01', mode=mode)]
    best = LossSearchRunner.from_cfg(cfg).train()
    records = Ledger(str(tmp_path)).records()
    assert [r['status'] for r in records] == ['ok', status, 'ok']
    bad = records[1]
    assert bad['reward'] is None and bad['error']
    assert bad['reward_used'] == min(records[0]['reward'], records[2]['reward'])
    assert best['budget']['failed'] == 1


def test_every_proxy_failing_stops_with_clear_error(synthetic_root, tmp_path):
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=4)
    cfg.search.proxy_custom_hooks = [dict(type='_InjectFailureHook', target='', mode='raise')]
    with pytest.raises(RuntimeError, match='every proxy of round 0 failed'):
        LossSearchRunner.from_cfg(cfg).train()
    assert len(Ledger(str(tmp_path)).records()) == 2  # the failures are still recorded


@pytest.mark.parametrize('key,value,match', [
    ('search.target_metric', 'mIoUU', r"search.target_metric='mIoUU'"),
    ('search.rounds', 0, r'search.rounds=0'),
    ('search.samples_per_round', 1, r'search.samples_per_round=1'),
    ('search.hold_out', dict(_delete_=True, size=40), r'training set has 32'),
    ('search.heads', ['neck'], r'contain no AutoSegLoss'),
    ('search.parameterization', 'spline', r"search.parameterization='spline'"),
    ('search.init_theta', 'voc_bf1', r"search.init_theta='voc_bf1'"),
    ('search.proxy.max_iters', 0, r'search.proxy.max_iters=0'),
])
def test_bad_config_fails_before_training(synthetic_root, tmp_path, key, value, match):
    cfg = search_cfg(synthetic_root, tmp_path)
    cfg.merge_from_dict({key: value})
    with pytest.raises(ValueError, match=match):
        LossSearchRunner.from_cfg(cfg)
    assert not osp.exists(osp.join(tmp_path, 'proxies'))


def test_ce_only_model_is_rejected(synthetic_root, tmp_path):
    cfg = search_cfg(synthetic_root, tmp_path)
    cfg.model.decode_head.loss_decode = dict(type='CrossEntropyLoss')
    cfg.model.auxiliary_head.loss_decode = dict(type='CrossEntropyLoss')
    with pytest.raises(ValueError, match="no AutoSegLoss with target_metric='mIoU'"):
        LossSearchRunner.from_cfg(cfg)


def test_existing_search_is_not_overwritten(reference_search):
    work_dir, _ = reference_search
    cfg = Config.fromfile(osp.join(work_dir, 'retrain_config.py'))
    base = Config.fromfile(SEARCH_CFG)
    cfg.search = base.search
    cfg.search.hold_out = dict(size=8, seed=0)
    cfg.work_dir = str(work_dir)
    with pytest.raises(RuntimeError, match='--resume'):
        LossSearchRunner.from_cfg(cfg).train()


def test_mmseg_own_train_script_runs_the_search(synthetic_root, tmp_path):
    """runner_type='LossSearchRunner' makes MMSeg's tools/train.py run a search."""
    import mmseg
    mmseg_train = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    cfg = osp.join(CONFIGS, 'search', 'pspnet_r18-tiny_search-biou_1xb8-quick_synthetic-64x64.py')
    out = subprocess.run(
        [sys.executable, mmseg_train, cfg, '--work-dir', str(tmp_path), '--cfg-options',
         *cli_options(synthetic_root, rounds=1, samples=2, iters=2)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    with open(tmp_path / 'best_loss.json') as f:
        best = json.load(f)
    assert best['target_metric'] == 'BIoU' and best['drop_bg'] is True
    assert len(Ledger(str(tmp_path)).records()) == 2
