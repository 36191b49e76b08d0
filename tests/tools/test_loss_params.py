"""One rule for a loss-parameter file: ``AutoSegLoss(theta_file=...)`` and
``tools/train.py --loss-params`` give the same loss or the same refusal."""
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmseg.registry import MODELS

from conftest import REPO, subprocess_env, tiny_config
from mmseg_autoloss.losses.auto_seg_loss import AutoSegLoss
from mmseg_autoloss.utils.cli import config_for_train, parse_train_args

THETA = [0.3, 0.6, 0.4, 0.2, 0.5, 0.7, 0.1, 0.8, 0.6, 0.3, 0.2, 0.9]
BIOU_FILE = dict(target_metric='BIoU', parameterization='bezier', num_pieces=2, theta=THETA,
                 tol=2, drop_bg=True, reward=0.4)
BARE_FILE = dict(target_metric='BIoU', num_pieces=2, theta=THETA)  # no tol/drop_bg


def _write(tmp_path, content, name='best_loss.json'):
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return str(path)


def _by_theta_file(path, explicit):
    return AutoSegLoss(theta_file=path, **explicit)


def _by_loss_params(tmp_path, path, explicit):
    """The loss that tools/train.py CONFIG --loss-params PATH builds."""
    loss = dict(type='AutoSegLoss', target_metric='BIoU', **explicit)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f'model = dict(decode_head=dict(loss_decode={loss!r}))\n')
    args = parse_train_args([str(cfg), '--loss-params', path, '--work-dir', str(tmp_path)])
    return MODELS.build(config_for_train(args).model.decode_head.loss_decode)


def _outcome(build):
    try:
        loss = build()
    except (ValueError, SystemExit) as err:
        return 'refused', str(err)
    return 'built', (loss.target_metric, loss.parameterization, loss.num_pieces, loss.tol,
                     loss.drop_bg, loss.control_points)


@pytest.mark.parametrize('content, explicit, expect', [
    (BIOU_FILE, {}, (2, True)),
    (BIOU_FILE, dict(tol=2, drop_bg=True, num_pieces=2, parameterization='bezier'), (2, True)),
    (BIOU_FILE, dict(tol=5), 'tol=5 contradicts .*which has tol=2'),
    (BIOU_FILE, dict(tol=5, drop_bg=False), 'tol=5 contradicts .*which has tol=2'),
    (BIOU_FILE, dict(drop_bg=False), 'drop_bg=False contradicts .*which has drop_bg=True'),
    (BIOU_FILE, dict(num_pieces=1), 'num_pieces=1 contradicts .*which has num_pieces=2'),
    (BIOU_FILE, dict(parameterization='linear'),
     "parameterization='linear' contradicts .*which has parameterization='bezier'"),
    (BARE_FILE, dict(tol=3, drop_bg=True), (3, True)),  # what the file leaves out is free
    (BARE_FILE, {}, (5, False)),
    # a file without parameterization holds Bezier theta (the format's default)
    (BARE_FILE, dict(parameterization='linear'),
     "parameterization='linear' contradicts .*which has parameterization='bezier'"),
])
def test_theta_file_and_loss_params_apply_one_rule(tmp_path, content, explicit, expect):
    path = _write(tmp_path, content)
    direct = _outcome(lambda: _by_theta_file(path, dict(target_metric='BIoU', **explicit)))
    via_train = _outcome(lambda: _by_loss_params(tmp_path, path, explicit))
    assert direct[0] == via_train[0], (direct, via_train)
    if isinstance(expect, str):
        assert direct[0] == 'refused'
        for kind, msg in (direct, via_train):
            assert re.search(expect, msg), msg
            assert repr(path) in msg  # the file is named
        assert direct[1].startswith('AutoSegLoss: ')
        assert "the config's AutoSegLoss 'loss_autoseg'" in via_train[1]
        return
    assert direct[1][:5] == via_train[1][:5]
    assert direct[1][3:5] == expect
    torch.testing.assert_close(direct[1][5], via_train[1][5])
    param = explicit.get('parameterization', content.get('parameterization', 'bezier'))
    assert direct[1][:3] == ('BIoU', param, 2)


def test_a_preset_keeps_its_overridable_boundary_settings_on_both_paths(tmp_path):
    """A preset's tol/drop_bg are the authors' for VOC; configs may change them,
    through AutoSegLoss(preset=...) and --loss-preset alike."""
    direct = AutoSegLoss(target_metric='BIoU', preset='voc_biou', tol=2)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("model = dict(decode_head=dict(loss_decode=dict(type='AutoSegLoss', "
                   "target_metric='BIoU', tol=2)))\n")
    args = parse_train_args([str(cfg), '--loss-preset', 'voc_biou'])
    via = MODELS.build(config_for_train(args).model.decode_head.loss_decode)
    assert (direct.tol, direct.drop_bg) == (via.tol, via.drop_bg) == (2, True)
    torch.testing.assert_close(direct.control_points, via.control_points)
    with pytest.raises(ValueError, match="num_pieces=1 contradicts preset 'voc_biou'"):
        AutoSegLoss(target_metric='BIoU', preset='voc_biou', num_pieces=1)


def _run(cmd, timeout=300):
    return subprocess.run(cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_train_py_refuses_a_contradicting_config_and_trains_with_the_file(
        synthetic_root, tmp_path):
    path = _write(tmp_path, BIOU_FILE)
    loss = dict(type='AutoSegLoss', target_metric='BIoU', tol=5, drop_bg=False)
    cfg = tiny_config(synthetic_root, str(tmp_path / 'wd'), max_iters=2,
                      loss_decode=loss, val_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU']))
    cfg.model.auxiliary_head.loss_decode = dict(loss)
    cfg_file = str(tmp_path / 'biou_tol5.py')
    cfg.dump(cfg_file)
    proc = _run([sys.executable, 'tools/train.py', cfg_file, '--loss-params', path])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'tol=5 contradicts' in out and 'which has tol=2' in out and repr(path) in out, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]
    assert not osp.isdir(tmp_path / 'wd')  # refused before the runner

    for head in (cfg.model.decode_head, cfg.model.auxiliary_head):
        head.loss_decode = dict(type='AutoSegLoss', target_metric='BIoU')
    cfg.dump(cfg_file)
    proc = _run([sys.executable, 'tools/train.py', cfg_file, '--loss-params', path])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert re.search(r"put into 2 loss\(es\): target_metric='BIoU', parameterization='bezier', "
                     r'num_pieces=2, tol=2, drop_bg=True', out), out[-3000:]
    assert 'Iter(train) [2/2]' in out
    # The dumped config is what the runner built the model from.
    from mmengine.config import Config
    ran = Config.fromfile(str(tmp_path / 'wd' / 'biou_tol5.py'))
    for head in (ran.model.decode_head, ran.model.auxiliary_head):
        d = head.loss_decode
        assert (d.tol, d.drop_bg, d.num_pieces) == (2, True, 2)
        assert d.theta == pytest.approx(THETA)


def test_test_py_names_an_empty_checkpoint(tmp_path):
    empty = tmp_path / 'iter_8.pth'
    empty.write_bytes(b'')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('model = dict()\n')
    proc = _run([sys.executable, 'tools/test.py', str(cfg), str(empty)])
    assert proc.returncode != 0
    assert f"checkpoint {str(empty)!r} is empty (0 bytes)" in proc.stderr, proc.stderr[-2000:]
    assert 'EOFError' not in proc.stderr and 'Traceback' not in proc.stderr
