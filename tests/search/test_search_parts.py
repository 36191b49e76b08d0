"""The search's building blocks on their own: work-dir lock, config
fingerprint, atomic writes, the finite-loss guard, the parent-death signal."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import search_faults  # noqa: F401  (registers InjectFailureHook)
from mmseg_autoloss.search.fingerprint import check_resume, search_fingerprint
from mmseg_autoloss.search.lock import WorkDirLock, WorkDirLocked
from mmseg_autoloss.search.workers import ProxyPool, describe_exit
from mmseg_autoloss.utils.fileio import atomic_open, atomic_write_json


def test_lock_refuses_a_second_holder_and_frees_on_release(tmp_path):
    first = WorkDirLock(str(tmp_path))
    assert first.acquire() is None
    holder = json.loads((tmp_path / 'search.lock').read_text())
    assert holder['pid'] == os.getpid() and holder['host']
    # flock belongs to the open file: a second open in the same process conflicts too
    with pytest.raises(WorkDirLocked, match=rf"pid {os.getpid()} on host {holder['host']}"):
        WorkDirLock(str(tmp_path)).acquire()
    first.release()
    assert (tmp_path / 'search.lock').read_text() == ''
    with WorkDirLock(str(tmp_path)) as again:
        assert again.held


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    code = ('import sys, os, signal; from mmseg_autoloss.search.lock import WorkDirLock; '
            'lock = WorkDirLock(sys.argv[1]); lock.acquire(); os.kill(os.getpid(), signal.SIGKILL)')
    proc = subprocess.run([sys.executable, '-c', code, str(tmp_path)],
                          env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert proc.returncode == -signal.SIGKILL
    dead = json.loads((tmp_path / 'search.lock').read_text())['pid']
    lock = WorkDirLock(str(tmp_path))
    warning = lock.acquire()
    assert f'left by pid {dead} ' in warning and 'process is gone' in warning
    lock.release()


def test_lock_without_flock_checks_the_pid():
    """The fall-back for file systems without flock."""
    me = dict(host='h', run_id=None, restart=0)
    gone = subprocess.Popen(['true'])
    gone.wait()
    assert WorkDirLock._stale(dict(host='h', pid=gone.pid), me) == 'its process is gone'
    assert WorkDirLock._stale(dict(host='h', pid=os.getpid()), me) is None
    assert WorkDirLock._stale(dict(host='other', pid=gone.pid), me) is None
    job = dict(host='other', run_id='job1', restart=1)
    assert 'attempt 0' in WorkDirLock._stale(dict(host='x', pid=1, run_id='job1', restart=0), job)


def test_fingerprint_names_changed_keys_and_ignores_safe_ones():
    cfg = Config(dict(search=dict(rounds=3, seed=0, proxy=dict(max_iters=20, log_level='INFO'),
                                  workers=dict(num_workers=2)),
                      model=dict(decode_head=dict(loss_decode=[dict(type='AutoSegLoss')]))))
    splits = dict(train=['a', 'b'], hold_out=['c'])
    saved = search_fingerprint(cfg, splits)
    same = Config(cfg.to_dict())
    same.merge_from_dict({'search.rounds': 8, 'search.workers.num_workers': 0,
                          'search.proxy.log_level': 'ERROR'})
    assert check_resume(saved, search_fingerprint(same, splits)) is None
    other = Config(cfg.to_dict())
    other.merge_from_dict({'search.proxy.max_iters': 40, 'search.seed': 1})
    other.model.decode_head.loss_decode[0]['tol'] = 2
    why = check_resume(saved, search_fingerprint(other, dict(train=['a'], hold_out=['b', 'c'])))
    for line in ('search.proxy.max_iters: 20 -> 40', 'search.seed: 0 -> 1',
                 'model.decode_head.loss_decode[0].tol: (not set) -> 2',
                 'splits.train: 2 images', 'splits.hold_out: 1 images'):
        assert line in why
    assert 'search.rounds' in why  # named as the key that may change, not as a change
    assert 'search.rounds:' not in why and 'log_level:' not in why


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    path = str(tmp_path / 'state.pth')
    with atomic_open(path, 'wb') as f:
        torch.save({'round': 1}, f)
    with pytest.raises(RuntimeError):
        with atomic_open(path, 'wb') as f:
            f.write(b'half a')
            raise RuntimeError('killed mid-write')
    assert torch.load(path, weights_only=True) == {'round': 1}
    atomic_write_json(str(tmp_path / 'x.json'), {'v': float('nan')})
    assert sorted(os.listdir(tmp_path)) == ['state.pth', 'x.json']  # no temporary left


def test_describe_exit():
    assert 'SIGKILL' in describe_exit(-9) and 'out-of-memory' in describe_exit(-9)
    assert describe_exit(-11) == 'killed by SIGSEGV' and describe_exit(3) == 'exited with code 3'


def _exit_later(seconds: float, code: int) -> None:
    time.sleep(seconds)
    os._exit(code)


def test_exit_codes_wait_for_a_worker_still_being_reaped():
    """After a pool breaks, a worker whose exit code is not stored yet (the
    executor's thread reaping it at the same moment) is asked again until it
    is, so the event names how the worker died; without a break nobody waits."""
    import multiprocessing as mp
    proc = mp.get_context('fork').Process(target=_exit_later, args=(0.5, 3))
    proc.start()
    pool = ProxyPool(num_workers=1)
    pool._procs = {proc.pid: proc}
    assert proc.exitcode is None
    assert pool._exit_codes(broken=False) == {proc.pid: None}
    assert pool._exit_codes(broken=True) == {proc.pid: 3}


def test_parent_death_signal_kills_an_orphan(tmp_path):
    """A process that called die_with_parent dies when its parent is killed."""
    child_code = ('import sys, time; from mmseg_autoloss.search.workers import die_with_parent; '
                  'die_with_parent(int(sys.argv[1])); open(sys.argv[2], "w").close(); '
                  'time.sleep(60)')
    parent_code = ('import subprocess, sys, time; '
                   f'p = subprocess.Popen([sys.executable, "-c", {child_code!r}, '
                   'str(__import__("os").getpid()), sys.argv[1]]); print(p.pid, flush=True); '
                   'time.sleep(60)')
    ready = tmp_path / 'ready'
    parent = subprocess.Popen([sys.executable, '-c', parent_code, str(ready)],
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.getcwd()))
    child = int(parent.stdout.readline())
    deadline = time.time() + 60
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            with open(f'/proc/{child}/stat') as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    break
        except OSError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail('the orphan outlived its parent by 5 s')


@pytest.mark.slow
def test_finite_loss_guard_checks_at_its_interval(tiny_cfg):
    cfg = tiny_cfg(max_iters=8)
    cfg.custom_hooks = [dict(type='FiniteLossGuardHook', interval=3),
                        dict(type='InjectFailureHook', target='', mode='nan', at_iter=1)]
    runner = Runner.from_cfg(cfg)
    # NaN from iteration 2 on; the guard looks at iterations 3, 6 and 8
    with pytest.raises(FloatingPointError, match=r'loss is nan at iteration 3 \(checked every 3\)'):
        runner.train()
    with pytest.raises(ValueError, match='interval must be a positive integer'):
        from mmseg_autoloss.search import FiniteLossGuardHook
        FiniteLossGuardHook(interval=0)


def test_ledger_never_reuses_a_lost_worker_and_keeps_events_apart(tmp_path):
    from mmseg_autoloss.search import Ledger
    ledger = Ledger(str(tmp_path))
    ok = dict(round=0, index=0, status='ok', reward=0.5, error=None, theta=[0.1])
    # how versions before infrastructure events recorded a dead worker
    legacy = dict(round=0, index=1, status='failed', reward=None, theta=[0.2],
                  error='worker process died: A process in the process pool was terminated')
    theta_failure = dict(round=0, index=2, status='failed', reward=None, theta=[0.3],
                         error='RuntimeError: boom (x.py:1)')
    for rec in (ok, legacy, theta_failure):
        ledger.append(rec)
    ledger.append_event(dict(event='proxy_lost', round=0, index=3))
    assert [r['index'] for r in ledger.records()] == [0, 2]  # index 1 simply runs again
    assert [e['index'] for e in ledger.events()] == [3]
