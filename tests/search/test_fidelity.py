"""Successive halving inside a search round (search.fidelity): the rung plan,
the reward mapping, real halved searches and their resume after kill -9."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.config import Config

from conftest import TORCHRUN, REPO, subprocess_env as _env
from search_config import SEARCH_CFG
from search_config import cli_options as _cli_options
from search_config import search_options
from mmseg_autoloss.search import Ledger, LossSearchRunner
from mmseg_autoloss.search.fidelity import (map_rewards, rung_iters, rung_sizes,
                                            select_survivors)

HALVING = dict(type='SuccessiveHalving', eta=2, min_fraction=0.25)


# ------------------------------------------------------------ the plan
def test_rung_plan():
    assert rung_iters(400, 2, 0.25) == [100, 200, 400]
    assert rung_iters(100, 3, 1 / 9) == [11, 33, 100]
    assert rung_iters(8, 2, 1.0) == [8]
    assert rung_iters(10, 2, 0.01) == [1, 2, 3, 6, 10]  # never a rung of 0 iterations
    assert rung_sizes(8, 2, 3) == [8, 4, 2]
    assert rung_sizes(5, 2, 3) == [5, 2, 1]
    assert rung_sizes(4, 3, 3) == [4, 1, 1]


def test_survivors_are_the_best_finished_proxies():
    recs = {0: dict(status='ok', reward=0.3), 1: dict(status='failed', reward=None),
            2: dict(status='ok', reward=0.5), 3: dict(status='ok', reward=0.3),
            4: dict(status='nan', reward=None)}
    assert select_survivors(recs, 2) == [0, 2]  # a tie goes to the lower index
    assert select_survivors(recs, 4) == [0, 2, 3]  # failures never continue


@st.composite
def halved_round(draw):
    """Rewards of one simulated halved round: every rung's survivors are the
    best of the rung before; later rungs score independently."""
    m = draw(st.integers(2, 9))
    eta = draw(st.integers(2, 3))
    n_rungs = draw(st.integers(1, 4))
    sizes = rung_sizes(m, eta, n_rungs)
    reward = st.floats(0, 1, allow_nan=False)
    rungs = [{i: dict(status='ok', reward=draw(reward)) for i in range(m)}]
    for k in range(1, n_rungs):
        alive = select_survivors(rungs[-1], sizes[k])
        rungs.append({i: dict(status='ok', reward=draw(reward)) for i in alive})
    return rungs


@settings(max_examples=200, deadline=None)
@given(halved_round())
def test_mapped_rewards_rank_by_rung_then_by_reward(rungs):
    mapped = map_rewards(rungs)
    reached = {i: max(k for k, r in enumerate(rungs) if i in r) for i in rungs[0]}
    assert set(mapped) == set(rungs[0])  # every sample gets a reward
    for i, k in reached.items():
        if k == len(rungs) - 1:
            assert mapped[i] == rungs[k][i]['reward']  # the last rung's are as measured
        for j, kj in reached.items():
            if kj > k:  # went further: never below one stopped earlier
                assert mapped[j] >= mapped[i] - 1e-12
            if kj == k:  # stopped together: the rung's differences are kept
                diff = rungs[k][i]['reward'] - rungs[k][j]['reward']
                assert mapped[i] - mapped[j] == pytest.approx(diff, abs=1e-12)


def test_mapping_shifts_a_rung_by_the_smallest_gain_of_its_survivors():
    r0 = {i: dict(status='ok', reward=v) for i, v in enumerate([0.1, 0.3, 0.2, 0.5])}
    r1 = {1: dict(status='ok', reward=0.4), 3: dict(status='ok', reward=0.6)}
    r2 = {3: dict(status='ok', reward=0.7)}
    # rung 1: 3 gained 0.1 -> 1 at 0.5; rung 0: 1 and 3 both gained 0.2 ->
    # 0 at 0.3, 2 at 0.4
    assert map_rewards([r0, r1, r2]) == pytest.approx({3: 0.7, 1: 0.5, 2: 0.4, 0: 0.3})
    # a survivor that got worse later pulls the stopped ones down with it
    r1 = {1: dict(status='ok', reward=0.1), 3: dict(status='ok', reward=0.6)}
    mapped = map_rewards([r0, r1])
    assert mapped[1] == 0.1 and mapped[2] == pytest.approx(0.0) and mapped[0] == pytest.approx(-0.1)
    # failures get no mapped reward (the runner gives them the round's worst)
    r1 = {1: dict(status='nan', reward=None), 3: dict(status='ok', reward=0.6)}
    assert set(map_rewards([r0, r1])) == {0, 2, 3}


# ------------------------------------------------------- real searches
def options(data_root, rounds=2, samples=4, iters=12, warm=4, num_workers=0):
    extra = {'search.fidelity': HALVING}
    if warm:
        extra['search.proxy.warm_start'] = dict(iters=warm, loss='CE')
    return search_options(data_root, rounds, samples, iters, num_workers, **extra)


def cli_options(data_root, **kw):
    return _cli_options(options(data_root, **kw))


def shard_records(path):
    if not osp.isfile(path):
        return []
    return [json.loads(l) for l in open(path).read().splitlines() if l.strip()]


def comparable(work_dir):
    """What the ledger says each run computed (not where, how fast or in
    which work dir)."""
    keys = ('round', 'index', 'seed', 'theta', 'status', 'reward', 'reward_used',
            'reward_mapped', 'rung', 'iters', 'rung_rewards')
    return [dict({k: r.get(k) for k in keys}, metric=(r['metrics'] or {}).get('mIoU'))
            for r in Ledger(str(work_dir)).records()]


@pytest.fixture(scope='module')
def halved_search(synthetic_root, tmp_path_factory):
    """2 rounds x 4 proxies, a shared 4-iteration CE run, then 8 iterations
    with theta halved at 2 and 4 (4, 2, 1 proxies), in this process."""
    work_dir = tmp_path_factory.mktemp('halved')
    cfg = Config.fromfile(SEARCH_CFG)
    cfg.merge_from_dict(options(synthetic_root))
    cfg.work_dir = str(work_dir)
    best = LossSearchRunner.from_cfg(cfg).train()
    return work_dir, best


@pytest.mark.slow
def test_halving_continues_the_best_and_rewards_every_sample(halved_search):
    work_dir, best = halved_search
    rungs = [{(r['round'], r['index']): r
              for r in Ledger(str(work_dir / 'rungs' / f'rung{k}')).records()} for k in range(3)]
    for t in range(2):
        per_rung = [{i: r for (rt, i), r in rung.items() if rt == t} for rung in rungs]
        assert [len(p) for p in per_rung] == [4, 2, 1]
        assert [{r['iters'] for r in p.values()} for p in per_rung] == [{2}, {4}, {8}]
        for k in (1, 2):  # continued: the best of the rung before
            prev = per_rung[k - 1]
            top = sorted(prev, key=lambda i: (-prev[i]['reward'], i))[:len(per_rung[k])]
            assert sorted(per_rung[k]) == sorted(top)
    records = [r for r in Ledger(str(work_dir)).records() if r['round'] >= 0]
    assert len(records) == 8
    for r in records:
        assert r['status'] == 'ok' and r['reward_used'] is not None
        assert r['reward_used'] == r['reward_mapped']
        assert r['iters'] == [2, 4, 8][r['rung']]
        assert r['rung_rewards'][r['rung']] == r['reward']
    # warm-start run + per round 4 x 2 + 2 x 2 + 1 x 4 theta iterations
    assert best['budget']['proxy_iters_spent'] == 4 + 2 * (8 + 4 + 4)
    assert best['budget']['proxies_trained'] == 8
    # rung checkpoints are dropped once a round is final
    assert not [f for f in os.listdir(work_dir / 'proxies' / 'r00_p00') if f.endswith('.pth')]


@pytest.mark.slow
def test_resume_after_kill_with_warm_start_and_halving(halved_search, synthetic_root, tmp_path):
    ref_dir, ref_best = halved_search
    work_dir = tmp_path / 'killed'
    cmd = [sys.executable, 'tools/search.py', SEARCH_CFG, '--work-dir', str(work_dir),
           '--cfg-options', *cli_options(synthetic_root)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    rung1 = work_dir / 'rungs' / 'rung1' / 'ledger' / 'rank0.jsonl'
    deadline = time.time() + 600
    try:  # kill inside round 2's second rung: one survivor done, one training
        while time.time() < deadline and proc.poll() is None:
            if any(r['round'] == 1 for r in shard_records(rung1)):
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert any(r['round'] == 1 for r in shard_records(rung1)), 'the kill came too late'
    warm_ckpt = work_dir / 'warm_start' / 'warm_start.pth'
    mtime = warm_ckpt.stat().st_mtime_ns
    out = subprocess.run(cmd + ['--resume'], cwd=REPO, env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert warm_ckpt.stat().st_mtime_ns == mtime  # the shared run was not trained again
    main = shard_records(work_dir / 'ledger' / 'rank0.jsonl')
    assert sum(r['round'] == -1 for r in main) == 1
    for k in range(3):
        recs = shard_records(work_dir / 'rungs' / f'rung{k}' / 'ledger' / 'rank0.jsonl')
        counts = Counter((r['round'], r['index']) for r in recs)
        assert max(counts.values()) == 1, f'rung {k}: a finished proxy was re-run: {counts}'
        assert len(counts) == 2 * [4, 2, 1][k]
    assert comparable(work_dir) == comparable(ref_dir)
    with open(work_dir / 'best_loss.json') as f:
        best = json.load(f)
    assert best['theta'] == ref_best['theta'] and best['reward'] == ref_best['reward']


@pytest.mark.slow
@TORCHRUN
def test_torchrun_halved_search_matches_single_process(halved_search, synthetic_root, tmp_path):
    ref_dir, ref_best = halved_search
    work_dir = tmp_path / 'dist'
    out = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone',
         '--nproc_per_node=2', 'tools/search.py', SEARCH_CFG, '--launcher', 'pytorch',
         '--work-dir', str(work_dir), '--cfg-options',
         *cli_options(synthetic_root, num_workers=1)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert {r['rank'] for r in Ledger(str(work_dir)).records() if r['round'] >= 0} == {0, 1}
    assert comparable(work_dir) == comparable(ref_dir)
    with open(work_dir / 'best_loss.json') as f:
        assert json.load(f)['theta'] == ref_best['theta']


@pytest.mark.slow
def test_resume_with_other_fidelity_or_warm_start_is_refused(halved_search, synthetic_root):
    work_dir, _ = halved_search
    for key, value, diff in [
            ('search.fidelity', dict(HALVING, eta=3), 'search.fidelity.eta: 2 -> 3'),
            ('search.proxy.warm_start', dict(iters=5, loss='CE'),
             'search.proxy.warm_start.iters: 4 -> 5')]:
        cfg = Config.fromfile(SEARCH_CFG)
        cfg.merge_from_dict(options(synthetic_root))
        cfg.merge_from_dict({key: value})
        cfg.work_dir = str(work_dir)
        cfg.resume = True
        with pytest.raises(ValueError, match=diff):
            LossSearchRunner.from_cfg(cfg).train()


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize('value,match', [
    (dict(type='Hyperband'), r"search.fidelity.type='Hyperband': unknown fidelity type"),
    (dict(type='SuccessiveHalving', eta=1), r'search.fidelity.eta=1: must be an integer >= 2'),
    (dict(type='SuccessiveHalving', eta=1.5), r'search.fidelity.eta=1.5'),
    (dict(type='SuccessiveHalving', min_fraction=0), r'search.fidelity.min_fraction=0: must be in'),
    (dict(type='SuccessiveHalving', min_fraction=1.5), r'search.fidelity.min_fraction=1.5'),
    (dict(type='SuccessiveHalving', min_fraction=-0.2), r'search.fidelity.min_fraction=-0.2'),
    (dict(type='SuccessiveHalving', rungs=3), r"unknown key\(s\) \['rungs'\]"),
    ('halving', r"search.fidelity='halving'"),
])
def test_bad_fidelity_fails_before_training(synthetic_root, tmp_path, value, match):
    cfg = Config.fromfile(SEARCH_CFG)
    cfg.merge_from_dict(options(synthetic_root, warm=None))
    cfg.search.fidelity = value
    cfg.work_dir = str(tmp_path)
    with pytest.raises(ValueError, match=match):
        LossSearchRunner.from_cfg(cfg)
    assert not osp.exists(tmp_path / 'proxies')
