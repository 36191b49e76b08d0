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

import search_faults  # noqa: F401  (registers the fault hooks in this process)
from search_config import SEARCH_CFG
from search_config import cli_options as _cli_options
from search_config import search_cfg as _search_cfg
from search_config import search_options as _search_options
from conftest import TORCHRUN, CONFIGS, REPO, descendants, kill_tree, subprocess_env as _env
from mmseg_autoloss.search import InfrastructureError, Ledger, LossSearchRunner, WorkDirLocked
from mmseg_autoloss.surrogates import num_theta

pytestmark = pytest.mark.slow


SEARCH_TESTS = osp.dirname(osp.abspath(__file__))


def search_options(data_root, **kw):
    # the authors' baseline: mu is sample 0 and gets a reward of its own
    return _search_options(data_root, baseline='mu', **kw)


def search_cfg(data_root, work_dir, **kw):
    return _search_cfg(data_root, work_dir, baseline='mu', **kw)


def cli_options(data_root, **kw):
    return _cli_options(search_options(data_root, **kw))


def comparable(work_dir, rounds=None):
    return [Ledger.comparable(r) for r in Ledger(str(work_dir)).records()
            if rounds is None or r['round'] in rounds]


def env():
    """Tool subprocesses also import the fault hooks of tests/search."""
    e = _env()
    e['PYTHONPATH'] = os.pathsep.join([REPO, SEARCH_TESTS])
    return e


def search_cmd(data_root, work_dir, **kw):
    return [sys.executable, 'tools/search.py', SEARCH_CFG, '--work-dir', str(work_dir),
            '--cfg-options', *cli_options(data_root, **kw)]


def wait_for(predicate, timeout, what, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f'the search exited ({proc.returncode}) before {what}')
        time.sleep(0.1)
    raise AssertionError(f'timed out waiting for {what}')


def started(work_dir, name):
    """The pid of the process training proxy ``name``, once it has started."""
    try:
        with open(osp.join(work_dir, 'proxies', name, 'attempt.json')) as f:
            return json.load(f)['pid']
    except (OSError, ValueError):
        return None


def rounds_in(shard):
    """Rounds of the finished proxies in a ledger shard (a line being written is skipped)."""
    out = set()
    if shard.exists():
        for line in shard.read_text().splitlines():
            try:
                out.add(json.loads(line)['round'])
            except ValueError:
                pass
    return out


def alive(pid):
    """Running, i.e. neither gone nor a zombie waiting to be reaped."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


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


def test_second_search_refused_then_kill_and_resume_match_a_lone_run(reference_search,
                                                                     synthetic_root, tmp_path):
    """A search in a subprocess: a second search in its work dir (with or
    without --resume) is refused and writes nothing; kill -9 in round 2, then
    --resume: no finished proxy re-run, the ledger and result of the lone run."""
    ref_dir, ref_best = reference_search
    work_dir = tmp_path / 'killed'
    cmd = search_cmd(synthetic_root, work_dir)
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    shard = work_dir / 'ledger' / 'rank0.jsonl'
    try:
        wait_for(lambda: started(work_dir, 'r00_p00'), 120, 'the first proxy', proc)
        assert json.loads((work_dir / 'search.lock').read_text())['pid'] == proc.pid
        before = sorted(p.name for p in work_dir.iterdir())
        for resume in (False, True):
            other = search_cfg(synthetic_root, work_dir)
            other.search.proxy.lr = 0.2
            other.resume = resume
            with pytest.raises(WorkDirLocked, match=rf'in use by another search: pid {proc.pid} '):
                LossSearchRunner.from_cfg(other)
        assert sorted(p.name for p in work_dir.iterdir()) == before  # not even a log file
        wait_for(lambda: 1 in rounds_in(shard), 240, 'a proxy of round 2', proc)
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
    # kill -9 left the lock file naming the dead search: taken over with a warning
    assert 'taking over the lock' in out.stdout + out.stderr
    assert (work_dir / 'search.lock').read_text() == ''  # free again
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


def _ppid(pid):
    with open(f'/proc/{pid}/stat') as f:
        return int(f.read().rsplit(')', 1)[1].split()[1])


def _torchrun(work_dir, synthetic_root, *torchrun_args, **kw):
    log = open(work_dir.parent / f'{work_dir.name}.out', 'w')
    # --standalone: a free port per run, so parallel runs of the suite never meet
    return subprocess.Popen(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
         '--monitor-interval=1', *torchrun_args, 'tools/search.py',
         SEARCH_CFG, '--launcher', 'pytorch', '--work-dir', str(work_dir),
         '--cfg-options', *cli_options(synthetic_root, num_workers=1, **kw)],
        cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@TORCHRUN
def test_torchrun_lost_rank_restarts_and_matches_single_process(reference_search, synthetic_root,
                                                                tmp_path):
    """kill -9 of rank 1 in round 2 under --max-restarts=1: the restarted group
    resumes from the ledger by itself and ends with the one-process result."""
    ref_dir, ref_best = reference_search
    work_dir = tmp_path / 'dist'
    proc = _torchrun(work_dir, synthetic_root, '--max-restarts=1')
    try:
        wait_for(lambda: started(work_dir, 'r01_p01'), 300, 'rank 1 to start round 2', proc)
        os.kill(_ppid(started(work_dir, 'r01_p01')), signal.SIGKILL)  # rank 1's main process
        assert proc.wait(timeout=400) == 0, (tmp_path / 'dist.out').read_text()[-3000:]
    finally:
        kill_tree(proc.pid)
        proc.wait()
    records = Ledger(str(work_dir)).records()
    assert {r['rank'] for r in records} == {0, 1}
    assert comparable(work_dir) == comparable(ref_dir)
    with open(work_dir / 'best_loss.json') as f:
        assert json.load(f)['theta'] == ref_best['theta']
    events = Ledger(str(work_dir)).events()
    assert [e['restart'] for e in events if e['event'] == 'group_restart'] == [1]


@TORCHRUN
def test_frozen_rank_is_named_and_fails_at_the_timeout(synthetic_root, tmp_path):
    """SIGSTOP of rank 1: rank 0 logs the rank it waits for and gives up at
    search.dist.timeout_s instead of gloo's 30 minutes."""
    work_dir = tmp_path / 'frozen'
    proc = _torchrun(work_dir, synthetic_root, rounds=1, iters=4,
                     **{'search.dist.timeout_s': 12, 'search.dist.report_s': 2})
    rank1 = None
    try:
        wait_for(lambda: started(work_dir, 'r00_p01'), 300, 'rank 1 to start a proxy', proc)
        rank1 = _ppid(started(work_dir, 'r00_p01'))
        os.kill(rank1, signal.SIGSTOP)
        logs = lambda: ''.join(p.read_text() for p in work_dir.glob('search_*.log'))  # noqa: E731
        wait_for(lambda: 'did not report' in logs(), 120, 'rank 0 to give up')
        waiting = time.time()
        text = logs()
    finally:
        kill_tree(proc.pid)
        proc.wait()
    assert 'waiting for rank(s) [1] to report round0' in text
    assert 'rank(s) [1] of 2 did not report round0 within 12 s' in text
    assert 'collective timeout: 12 s' in text
    stamps = [time.mktime(time.strptime(line[:19], '%Y/%m/%d %H:%M:%S'))
              for line in text.splitlines()
              if 'waiting for rank' in line or 'did not report' in line]
    # first "waiting" message after report_s=2, failure at 12 s
    assert 7 <= stamps[-1] - stamps[0] <= 20, text[-2000:]
    assert time.time() - waiting < 60


def _with_faults(cfg, **hook):
    cfg.custom_imports = dict(imports=['search_faults'], allow_failed_imports=False)
    cfg.search.proxy_custom_hooks = [dict(type='KillWorkerHook', **hook)]
    return cfg


def test_killed_worker_is_an_infrastructure_event_and_is_rerun(reference_search, synthetic_root,
                                                                tmp_path):
    ref_dir, _ = reference_search
    cfg = _with_faults(search_cfg(synthetic_root, tmp_path, rounds=1, num_workers=2),
                       target='r00_p01', at_iter=5)
    LossSearchRunner.from_cfg(cfg).train()
    assert (tmp_path / 'proxies' / 'r00_p01' / 'killed_once').exists()  # it did die
    # the rewards of the uninterrupted search; no failure reached the controller
    assert comparable(tmp_path) == comparable(ref_dir, rounds={0})
    events = Ledger(str(tmp_path)).events()
    killed = [e for e in events if e['index'] == 1]
    assert len(killed) == 1 and killed[0]['attempt'] == 1 and killed[0]['action'] == 're-run'
    assert 'SIGKILL' in killed[0]['error'] and killed[0]['exit_code'] == -signal.SIGKILL
    assert all(e['event'] == 'proxy_lost' and e['round'] == 0 for e in events)
    # the healthy worker's proxy was lost with the pool, not charged a try
    assert all(e['attempt'] is None for e in events if e['index'] != 1)
    shard = [json.loads(line) for line in
             (tmp_path / 'ledger' / 'rank0.jsonl').read_text().splitlines()]
    assert sorted(r['index'] for r in shard) == [0, 1, 2, 3]


def test_proxy_that_keeps_losing_its_worker_stops_the_search(synthetic_root, tmp_path):
    cfg = _with_faults(search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=3,
                                  num_workers=1), target='r00_p00', at_iter=1, once=False)
    cfg.search.workers.max_retries = 1
    with pytest.raises(InfrastructureError, match=r'r00_p00 \(worker \d+ killed by SIGKILL.*'
                       r'lost their worker 2 times'):
        LossSearchRunner.from_cfg(cfg).train()
    events = [e for e in Ledger(str(tmp_path)).events() if e['index'] == 0]
    assert [(e['attempt'], e['action']) for e in events] == [(1, 're-run'), (2, 'stop')]
    assert all(r['index'] != 0 for r in Ledger(str(tmp_path)).records())  # never a result
    assert (tmp_path / 'search.lock').read_text() == ''


@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_the_main_process(synthetic_root, tmp_path, sig):
    proc = subprocess.Popen(search_cmd(synthetic_root, tmp_path, rounds=1, samples=2, iters=2000,
                                       num_workers=1),
                            cwd=REPO, env=env(), stdout=open(tmp_path / 'out.txt', 'w'),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: started(tmp_path, 'r00_p00'), 120, 'the worker to train', proc)
        family = descendants(proc.pid)
        assert started(tmp_path, 'r00_p00') in family
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=30)
        wait_for(lambda: not any(alive(p) for p in family), 5, 'every child to exit')
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
    if sig == signal.SIGTERM:
        out = (tmp_path / 'out.txt').read_text()
        assert code == 128 + signal.SIGTERM, out[-3000:]
        assert 'SIGTERM received: workers stopped' in out and '--resume' in out
        assert (tmp_path / 'search.lock').read_text() == ''
    else:
        assert code == -signal.SIGKILL


def test_resume_refuses_a_changed_search_and_extends_rounds(synthetic_root, tmp_path):
    LossSearchRunner.from_cfg(search_cfg(synthetic_root, tmp_path, rounds=1, samples=2,
                                         iters=2)).train()
    split = tmp_path / 'splits' / 'train.txt'
    stamp = split.stat().st_mtime_ns
    for key, value, match in [
            ('search.proxy.max_iters', 3, r'search\.proxy\.max_iters: 2 -> 3'),
            ('search.controller.sigma', 0.3, r'search\.controller\.sigma: 0\.2 -> 0\.3'),
            ('search.seed', 4, r'search\.seed: 3 -> 4'),
            ('search.hold_out.size', 6,
             r'search\.hold_out\.size: 8 -> 6.*splits\.hold_out: 8 images'),
            ('model.decode_head.loss_decode.loss_weight', 0.5,
             r'model\.decode_head\.loss_decode\.loss_weight: \(not set\) -> 0\.5'),
            ('search.rounds', 0, r'search\.rounds=0')]:
        cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=2)
        cfg.merge_from_dict({key: value})
        cfg.resume = True
        with pytest.raises(ValueError, match=match):
            LossSearchRunner.from_cfg(cfg)
    # more rounds and safe keys (workers, logging) are the same search, extended
    cfg = search_cfg(synthetic_root, tmp_path, rounds=2, samples=2, iters=2)
    cfg.merge_from_dict({'search.proxy.log_level': 'ERROR', 'search.workers.max_retries': 0})
    cfg.resume = True
    best = LossSearchRunner.from_cfg(cfg).train()
    assert best['rounds_done'] == 2 and len(Ledger(str(tmp_path)).records()) == 4
    assert split.stat().st_mtime_ns == stamp  # splits/ is never rewritten on resume
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=2)
    cfg.resume = True
    with pytest.raises(ValueError, match='search.rounds=1 but 2 rounds are already done'):
        LossSearchRunner.from_cfg(cfg)


@pytest.mark.parametrize('mode,status', [('raise', 'failed'), ('nan', 'nan')])
def test_failing_proxy_is_recorded_and_search_completes(synthetic_root, tmp_path, mode, status):
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=3, iters=6)
    cfg.search.proxy_custom_hooks = [dict(type='InjectFailureHook', target='r00_p01', mode=mode)]
    best = LossSearchRunner.from_cfg(cfg).train()
    records = Ledger(str(tmp_path)).records()
    assert [r['status'] for r in records] == ['ok', status, 'ok']
    bad = records[1]
    assert bad['reward'] is None and bad['error']
    # the message's error.txt exists for NaN and exception alike
    assert osp.getsize(osp.join(bad['work_dir'], 'error.txt')) > 0
    assert bad['reward_used'] == min(records[0]['reward'], records[2]['reward'])
    assert best['budget']['failed'] == 1


def test_every_proxy_failing_stops_with_clear_error(synthetic_root, tmp_path):
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=4)
    cfg.search.proxy_custom_hooks = [dict(type='InjectFailureHook', target='', mode='raise')]
    with pytest.raises(RuntimeError, match='every proxy of round 0 failed'):
        LossSearchRunner.from_cfg(cfg).train()
    assert len(Ledger(str(tmp_path)).records()) == 2  # the failures are still recorded
    # the fingerprint is saved before round 1 ends: a changed resume is refused already
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=5)
    cfg.resume = True
    with pytest.raises(ValueError, match=r'search\.proxy\.max_iters: 4 -> 5'):
        LossSearchRunner.from_cfg(cfg)


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
