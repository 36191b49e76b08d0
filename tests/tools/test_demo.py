"""tools/demo.py on CamVid: a download-layout fixture is converted, searched,
retrained with CE and with the searched loss, and compared (on val: like the
shared copy, this download has no test split)."""
import os.path as osp
import subprocess
import sys

import pytest

from conftest import CAMVID_FRAMES, REPO, subprocess_env, write_camvid_download


def _demo(args, cwd):
    return subprocess.run([sys.executable, osp.join(REPO, 'tools', 'demo.py')] + args,
                          cwd=cwd, capture_output=True, text=True, timeout=900,
                          env=subprocess_env())


@pytest.mark.slow
def test_camvid_demo_converts_searches_retrains_and_compares(tmp_path, capsys):
    src = write_camvid_download(str(tmp_path / 'dl'), size=(480, 360),
                                frames={k: v for k, v in CAMVID_FRAMES.items() if k != 'test'})
    data, work = tmp_path / 'camvid', tmp_path / 'work'
    args = ['--camvid', src, '--data-root', str(data), '--work-dir', str(work), '--rounds', '1',
            '--samples', '2', '--proxy-iters', '4', '--iters', '4',
            '--search-options', 'search.proxy.warm_start=None', 'search.proxy.batch_size=2',
            'train_dataloader.batch_size=2']
    proc = _demo(args, str(tmp_path))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert 'with --scale 0.5' in proc.stdout  # 480 px frames -> the 240 px CPU setting
    assert 'no test split in the download: the comparison is on val' in proc.stdout
    summary = (work / 'demo_summary.md').read_text()
    assert 'CamVid 240x180, val split' in summary
    assert '| cross-entropy |' in summary and '| searched mIoU surrogate |' in summary
    # the search held out the whole sequence 0006R0
    held = (work / 'search' / 'splits' / 'hold_out.txt').read_text().split()
    assert held and all(n.startswith('0006R0') for n in held)
    # a second run reuses the converted data
    sys.path.insert(0, osp.join(REPO, 'tools'))
    from demo import prepare_camvid
    assert prepare_camvid(src, str(data)) == 'val'
    assert 'holds a converted CamVid: reused' in capsys.readouterr().out


def test_camvid_demo_refuses_a_missing_folder(tmp_path):
    proc = _demo(['--camvid', str(tmp_path / 'nope')], str(tmp_path))
    assert proc.returncode == 2 and f"--camvid '{tmp_path / 'nope'}' is not a directory" in proc.stderr


def test_camvid_demo_names_a_missing_train_split(tmp_path):
    src = write_camvid_download(str(tmp_path / 'dl'), size=(240, 180),
                                frames={k: v for k, v in CAMVID_FRAMES.items() if k != 'train'})
    proc = _demo(['--camvid', src, '--data-root', str(tmp_path / 'data'),
                  '--work-dir', str(tmp_path / 'work')], str(tmp_path))
    assert proc.returncode == 1
    assert f"--camvid '{src}': SRC '{src}' has no 'train' split" in proc.stderr
