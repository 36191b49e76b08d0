"""benchmarks/loss_speed.py: a smoke run times every loss and writes the table
(without the compile=True rows, whose equality with eager is tested in
tests/surrogates/test_compile.py)."""
import os.path as osp
import re
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'benchmarks', 'loss_speed.py')


@pytest.mark.benchmark
def test_smoke_run_writes_a_row_per_loss(tmp_path):
    out = tmp_path / 'speed.md'
    proc = subprocess.run([sys.executable, SCRIPT, '--sizes', '2x4x64x48', '--repeats', '1',
                           '--device', 'cpu', '--no-compile', '--out', str(out)],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r'^\| ([A-Za-z_ 0-9()]+?) \| ([\d.]+) \| ([\d.]+)x \|',
                                 out.read_text(), re.M)}
    expected = {'CrossEntropyLoss', 'LovaszLoss', 'DiceLoss'} | {
        f'AutoSegLoss {m}' for m in ('mIoU', 'FWIoU', 'mAcc', 'gAcc', 'BIoU', 'BF1', 'mDice',
                                     'mIoU_I', 'mIoU_C')}
    assert set(rows) == expected
    # user CPU time is accounted in clock ticks: a sub-millisecond loss may
    # read 0 on its own, the whole table may not
    assert all(ms >= 0 for ms, _ in rows.values()) and sum(ms for ms, _ in rows.values()) > 0
    assert rows['CrossEntropyLoss'][0] == 0 or rows['CrossEntropyLoss'][1] == 1.0
    assert 'process CPU time' in out.read_text()
