"""A search work dir written by the code before the search package was split
into stages (d7dbad6: one round of a 2-proxy search, its proxies' folders
and logs left out) resumes with today's code: ``--resume`` with one more
round keeps the finished round and trains only the new one."""
import json
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from conftest import CONFIGS, REPO, subprocess_env

FIXTURE = osp.join(osp.dirname(osp.abspath(__file__)), 'fixtures', 'search_workdir_d7dbad6')
# the options the fixture was written with (data_root relative to the cwd)
OPTIONS = ['train_dataloader.dataset.data_root=data/synthetic_shapes',
           'train_dataloader.batch_size=4', 'search.samples_per_round=2',
           'search.proxy.max_iters=4', 'search.proxy.batch_size=4', 'search.hold_out.size=8',
           'search.hold_out.fraction=None', 'search.workers.num_workers=0', 'search.seed=3',
           'search.proxy.warm_start=None', 'search.proxy.lr=None']


@pytest.mark.slow
def test_work_dir_of_the_earlier_code_resumes(tmp_path):
    from mmseg_autoloss.datasets import generate_synthetic_dataset
    generate_synthetic_dataset(str(tmp_path / 'data' / 'synthetic_shapes'),
                               splits={'train': 32, 'val': 8, 'test': 8}, img_size=64,
                               num_classes=6, seed=0)
    work_dir = tmp_path / 'wd'
    shutil.copytree(FIXTURE, work_dir)
    with open(work_dir / 'ledger.jsonl') as f:
        before = [json.loads(line) for line in f if line.strip()]
    config = osp.join(CONFIGS, 'search',
                      'deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py')
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'search.py'), config,
                           '--work-dir', 'wd', '--resume', '--cfg-options', 'search.rounds=2',
                           *OPTIONS], cwd=str(tmp_path), capture_output=True, text=True,
                          env=subprocess_env(), timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'resumed the search' in out and 'at round 2' in out
    with open(work_dir / 'ledger.jsonl') as f:
        after = [json.loads(line) for line in f if line.strip()]
    assert [(r['round'], r['index']) for r in after] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [r['reward'] for r in after[:2]] == [r['reward'] for r in before]
    best = json.loads((work_dir / 'best_loss.json').read_text())
    assert best['schema_version'] >= 1 and best['budget']['rounds'] == 2
