"""The CamVid search config on the converted CamVid fixture: rewards come from
a whole held-out sequence (search.hold_out by group), end to end through
LossSearchRunner."""
import json
import os.path as osp
import sys

import pytest
from mmengine.config import Config

from conftest import CONFIGS, REPO, write_camvid_download
from mmseg_autoloss.search import LossSearchRunner
from mmseg_autoloss.search.settings import SearchSettings

CAMVID_SEARCH = osp.join(CONFIGS, 'search',
                         'deeplabv3plus_r18-tiny_search-miou_1xb8-quick_camvid-128x128.py')
CAMVID_BOUNDARY = osp.join(CONFIGS, 'search',
                           'deeplabv3plus_r18-tiny_search-miou+bf1_1xb8-quick_camvid-128x128.py')


@pytest.fixture(scope='module')
def camvid_root(tmp_path_factory):
    sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
    from camvid import convert
    src = write_camvid_download(str(tmp_path_factory.mktemp('dl')), size=(240, 180))
    root = str(tmp_path_factory.mktemp('camvid'))
    convert(src, root)
    return root


@pytest.mark.slow
@pytest.mark.parametrize('config', [CAMVID_SEARCH, CAMVID_BOUNDARY])
def test_camvid_search_holds_out_a_whole_sequence(camvid_root, tmp_path, config):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': camvid_root, 'train_dataloader.batch_size': 2,
        'search.rounds': 1, 'search.samples_per_round': 2, 'search.proxy.max_iters': 4,
        'search.proxy.batch_size': 2, 'search.proxy.warm_start': None,
        'search.workers.num_workers': 0})
    cfg.work_dir = str(tmp_path)
    LossSearchRunner.from_cfg(cfg).train()
    with open(tmp_path / 'splits' / 'hold_out.txt') as f:
        held = f.read().split()
    with open(tmp_path / 'splits' / 'train.txt') as f:
        train = f.read().split()
    assert held == ['0006R0_f01230', '0006R0_f01260']
    assert len(train) == 4 and not any(n.startswith('0006R0') for n in train)
    best = json.loads((tmp_path / 'best_loss.json').read_text())
    assert best['hold_out']['groups'] == ['0006R0'] and best['hold_out']['group'] == r'^([^_]+)_'
    if config == CAMVID_BOUNDARY:
        # the BF1 share at tol 2, rewarded by the mean of hold-out mIoU and BF1
        assert (best['mix_metric'], best['tol']) == ('BF1', 2) and 0 <= best['mix_weight'] <= 1
        for line in open(tmp_path / 'ledger' / 'rank0.jsonl'):
            rec = json.loads(line)
            assert rec['reward'] == pytest.approx(
                (rec['metrics']['mIoU'] + rec['metrics']['BF1']) / 200)


@pytest.mark.parametrize('hold_out, says', [
    (dict(group=r'^([^_]+)_', groups=['0006R0'], fraction=0.2), "exactly one of 'size'"),
    (dict(groups=['0006R0']), r"search.hold_out.groups=\['0006R0'\].*needs 'group'"),
    (dict(group='no_group', fraction=0.2), r"search.hold_out.group='no_group'.*capture group"),
    (dict(group='(', fraction=0.2), r"search.hold_out.group='\('"),
    (dict(group=r'^([^_]+)_', groups='0006R0'), 'non-empty list of group names'),
])
def test_bad_group_hold_out_names_the_key_and_value(hold_out, says):
    cfg = Config.fromfile(CAMVID_SEARCH)
    cfg.search.hold_out = hold_out
    with pytest.raises(ValueError, match=says):
        SearchSettings.from_cfg(cfg.search)


def test_unknown_group_is_named_when_the_split_is_made(camvid_root, tmp_path):
    cfg = Config.fromfile(CAMVID_SEARCH)
    cfg.train_dataloader.dataset.data_root = camvid_root
    cfg.search.hold_out = dict(group=r'^([^_]+)_', groups=['0005VD'])
    cfg.work_dir = str(tmp_path)
    with pytest.raises(ValueError, match=r"groups has \['0005VD'\], which no image is in"):
        LossSearchRunner.from_cfg(cfg).train()


@pytest.mark.slow
def test_console_has_one_line_per_proxy_and_round(camvid_root, tmp_path):
    """No warning repeated per proxy, no progress bar sharing a line with the
    log: each proxy and each round is one line of its own."""
    import glob
    import re
    import subprocess

    from conftest import subprocess_env
    opts = [f'train_dataloader.dataset.data_root={camvid_root}', 'train_dataloader.batch_size=2',
            'search.rounds=2', 'search.samples_per_round=2', 'search.proxy.max_iters=4',
            'search.proxy.warm_start.iters=2', 'search.proxy.batch_size=2',
            'search.workers.num_workers=0']
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'search.py'), CAMVID_SEARCH,
                           '--work-dir', str(tmp_path / 'wd'), '--cfg-options', *opts],
                          capture_output=True, text=True, env=subprocess_env(), cwd=REPO,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'prefix is not set' not in out and 'Loads checkpoint' not in out
    proxy_lines = [line for line in out.splitlines() if re.search(r'round \d/2 proxy \d/2', line)]
    assert len(proxy_lines) == 4
    assert all(re.match(r'^\d\d/\d\d \d\d:\d\d:\d\d - ', line) for line in proxy_lines)
    assert len(re.findall(r'round \d/2 done', out)) == 2
    # what mmengine printed per proxy is kept in the proxy's folder
    kept = glob.glob(str(tmp_path / 'wd' / 'proxies' / '*' / 'stdout.txt'))
    assert kept and any('Loads checkpoint' in open(p).read() for p in kept)
