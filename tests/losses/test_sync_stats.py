"""sync_stats under torchrun --nproc_per_node=2 (gloo, CPU): DDP gradients of
the synced loss equal the single-process gradients on the concatenated batch."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from conftest import TORCHRUN, kill_tree, subprocess_env

HERE = osp.dirname(osp.abspath(__file__))


def _torchrun_results(tmp_path, timeout=300):
    """Run the worker under torchrun; a hang is stopped and fails the test
    with the ranks' output (the launcher and its ranks, sessions of their
    own, are killed)."""
    out = tmp_path / 'results.json'
    proc = subprocess.Popen([sys.executable, '-m', 'torch.distributed.run',
                             '--standalone', '--nproc_per_node=2',
                             osp.join(HERE, 'sync_stats_worker.py'), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env(), start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        _, err = proc.communicate()
        pytest.fail(f'torchrun did not finish in {timeout} s (results written: '
                    f'{out.exists()}): {err[-3000:]}')
    assert proc.returncode == 0, err[-4000:]
    return json.loads(out.read_text())


@TORCHRUN
def test_sync_stats_under_ddp(tmp_path):
    # one torchrun for both checks
    results = _torchrun_results(tmp_path)
    # with sync: the loss and DDP's gradients are the global batch's
    synced = {k: v for k, v in results.items() if k.endswith('sync=True')}
    assert len(synced) == 6
    for name, r in synced.items():
        assert r['loss_err'] < 1e-12, (name, r)
        assert r['grad_err'] <= 1e-10 * max(1.0, r['grad_scale']), (name, r)

    # without sync each rank optimizes its own images
    for name, r in results.items():
        # mIoU^I / mIoU^C are means over images: with as many images (per
        # class) on every rank, DDP's mean of the ranks' gradients is already
        # the global one; only each rank's loss value differs
        if name.startswith(('AutoSegLoss mIoU_I', 'AutoSegLoss mIoU_C')) and \
                name.endswith('sync=False'):
            assert r['loss_err'] > 1e-6, (name, r)
        elif name.endswith('sync=False'):
            assert r['grad_err'] > 1e-6 * r['grad_scale'], (name, r)
