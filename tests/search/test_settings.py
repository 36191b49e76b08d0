"""The typed sections of ``search=dict(...)``: built and checked once."""
import dataclasses

import pytest

from mmseg_autoloss.search.proxy_settings import (DistSettings, FidelitySettings,
                                                  HoldOutSettings, ProxySettings,
                                                  WarmStartSettings, WorkerSettings)
from mmseg_autoloss.search.settings import REWARD_KEYS, SearchSettings


def build(**search):
    return SearchSettings.from_cfg(search)


def test_sections_are_dataclasses_with_the_documented_defaults():
    s = build()
    assert s.proxy == ProxySettings() and s.proxy.max_iters == 1000
    assert s.proxy.log_level == 'WARNING' and s.proxy.warm_start is None
    assert s.workers == WorkerSettings(num_workers=None, models_per_device=1,
                                       threads_per_worker=1, max_retries=2)
    assert s.dist == DistSettings(timeout_s=None, report_s=60)
    assert s.hold_out == HoldOutSettings(fraction=0.2, seed=0)
    assert s.fidelity is None
    for section in (s.proxy, s.workers, s.dist, s.hold_out):
        with pytest.raises(dataclasses.FrozenInstanceError):
            section.seed = 1


def test_config_keys_stay_where_they_are():
    s = build(proxy=dict(max_iters=40, batch_size=4, lr=0.1, crop_size=(32, 32),
                         val_batch_size=2, log_level='INFO',
                         warm_start=dict(iters=10, loss='CE')),
              workers=dict(num_workers=0, max_retries=1), dist=dict(timeout_s=30.0, report_s=5),
              hold_out=dict(size=8, seed=3),
              fidelity=dict(type='SuccessiveHalving', eta=3))
    assert (s.proxy.max_iters, s.proxy.batch_size, s.proxy.lr) == (40, 4, 0.1)
    assert s.proxy.warm_start == WarmStartSettings(iters=10, loss='CE')
    assert s.proxy.warm_start.shared and s.proxy.theta_iters == 30
    assert s.proxy.warm_start.to_cfg() == dict(iters=10, loss='CE')
    assert (s.workers.num_workers, s.workers.max_retries) == (0, 1)
    assert (s.dist.timeout_s, s.dist.report_s) == (30.0, 5)
    assert s.hold_out.to_cfg() == dict(size=8, seed=3)
    assert s.fidelity == FidelitySettings(eta=3) and s.fidelity.min_fraction == 0.25


def test_checkpoint_warm_start(tmp_path):
    ckpt = tmp_path / 'w.pth'
    ckpt.write_bytes(b'')
    ws = build(proxy=dict(max_iters=8, warm_start=str(ckpt))).proxy.warm_start
    assert not ws.shared and ws.checkpoint == str(ckpt) and ws.to_cfg() == str(ckpt)
    assert build(proxy=dict(max_iters=8, warm_start=str(ckpt))).proxy.theta_iters == 8


@pytest.mark.parametrize('search,match', [
    (dict(proxy=dict(max_iters=0)), r'search\.proxy\.max_iters=0: must be a positive integer'),
    (dict(proxy=dict(max_iter=5)), r"search\.proxy=\{'max_iter': 5\}: unknown key\(s\) "
                                   r"\['max_iter'\]"),
    (dict(proxy=dict(batch_size=-2)), r'search\.proxy\.batch_size=-2'),
    (dict(proxy=dict(val_batch_size=1.5)), r'search\.proxy\.val_batch_size=1\.5'),
    (dict(proxy=dict(max_iters=5, warm_start=dict(iters=5))),
     r'search\.proxy\.warm_start\.iters=5: must be below search\.proxy\.max_iters=5'),
    (dict(workers=dict(max_retries=True)), r'search\.workers\.max_retries=True'),
    (dict(workers=dict(threads_per_worker=0)), r'search\.workers\.threads_per_worker=0'),
    (dict(workers=dict(num_workers=-1)), r'search\.workers\.num_workers=-1'),
    (dict(workers=dict(gpus=2)), r"search\.workers=.*unknown key\(s\) \['gpus'\]"),
    (dict(dist=dict(report_s=0)), r'search\.dist\.report_s=0: must be a positive number'),
    (dict(dist=dict(timeout_s=True)), r'search\.dist\.timeout_s=True'),
    (dict(dist=dict(every=3)), r"search\.dist=.*unknown key\(s\) \['every'\]"),
    (dict(hold_out=dict(size=4, fraction=0.1)), r"search\.hold_out=.*exactly one of"),
    (dict(hold_out=dict(fraction=1.5)), r'search\.hold_out\.fraction=1\.5'),
    (dict(hold_out=dict(size=0)), r'search\.hold_out\.size=0'),
    (dict(hold_out=[3]), r'search\.hold_out=\[3\]: must be a dict'),
    (dict(fidelity=dict(type='SuccessiveHalving', eta=1)), r'search\.fidelity\.eta=1'),
    (dict(tol=True), r'search\.tol must be a non-negative integer.*got True'),
    (dict(tol=5.0), r'search\.tol.*got 5\.0'),
])
def test_errors_name_the_field_and_the_value(search, match):
    with pytest.raises(ValueError, match=match):
        build(**search)


def test_reward_keys_come_from_the_metric_table():
    assert REWARD_KEYS['gAcc'] == ('aAcc', 'aAcc') and REWARD_KEYS['BF1'] == ('BF1', 'BF1')
    s = build(target_metric='gAcc')
    assert (s.reward_metrics, s.reward_key) == (['aAcc'], 'aAcc')
    assert s.loss_params([0.5] * 6) == dict(target_metric='gAcc', parameterization='bezier',
                                            num_pieces=2, theta=[0.5] * 6)
    b = build(target_metric='BF1', tol=2, drop_bg=True)
    assert b.num_pieces == 1
    assert b.loss_params([0.5] * 8)['tol'] == 2 and b.loss_params([0.5] * 8)['drop_bg'] is True


def test_fidelity_schedules_are_registered():
    from mmseg_autoloss.search.fidelity import SuccessiveHalving
    from mmseg_autoloss.search.registry import FIDELITY_SCHEDULES
    assert FIDELITY_SCHEDULES.get('SuccessiveHalving') is SuccessiveHalving
    with pytest.raises(ValueError, match=r"search\.fidelity\.type='Hyperband': unknown fidelity "
                       r"type; choose from \['SuccessiveHalving'\]"):
        build(fidelity=dict(type='Hyperband'))
