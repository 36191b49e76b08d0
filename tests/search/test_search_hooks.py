"""Hook points of the search loop: a hook stops a search after round 2 and a
resume finishes it, exactly as an uninterrupted search."""
import json

import pytest
import torch
from mmseg.registry import HOOKS

from search_config import search_cfg
from mmseg_autoloss.search import Ledger, LossSearchRunner
from mmseg_autoloss.search.search_hooks import SearchHook

pytestmark = pytest.mark.slow

CALLS = []


@HOOKS.register_module(force=True)
class StopAfterRoundHook(SearchHook):
    """Records the calls and stops the search after round ``stop_after``."""

    priority = 'LOW'

    def __init__(self, stop_after: int) -> None:
        self.stop_after = stop_after

    def before_round(self, runner, round_idx):
        CALLS.append(('before', round_idx))

    def after_round(self, runner, round_idx, best):
        CALLS.append(('after', round_idx, best['rounds_done']))
        if round_idx + 1 == self.stop_after:
            runner.request_stop(f'stop_after={self.stop_after}')


def _cfg(root, work_dir, **kw):
    return search_cfg(root, work_dir, rounds=3, samples=2, iters=4, **kw)


def test_hook_stops_after_round_two_and_resume_finishes(synthetic_root, tmp_path):
    CALLS.clear()
    cfg = _cfg(synthetic_root, tmp_path / 'stopped')
    cfg.search.hooks = [dict(type='StopAfterRoundHook', stop_after=2)]
    best = LossSearchRunner.from_cfg(cfg).train()
    assert CALLS == [('before', 0), ('after', 0, 1), ('before', 1), ('after', 1, 2)]
    assert best['rounds_done'] == 2
    state = torch.load(tmp_path / 'stopped' / 'search_state.pth', weights_only=True)
    assert state['round'] == 2
    assert {r['round'] for r in Ledger(str(tmp_path / 'stopped')).records()} == {0, 1}
    assert (tmp_path / 'stopped' / 'search.lock').read_text() == ''  # released

    # --resume (tools/search.py sets cfg.resume): hooks may change on resume
    again = _cfg(synthetic_root, tmp_path / 'stopped')
    again.resume = True
    resumed = LossSearchRunner.from_cfg(again).train()
    lone = LossSearchRunner.from_cfg(_cfg(synthetic_root, tmp_path / 'lone')).train()
    assert resumed['rounds_done'] == lone['rounds_done'] == 3
    assert resumed['theta'] == lone['theta'] and resumed['reward'] == lone['reward']
    comparable = [[Ledger.comparable(r) for r in Ledger(str(tmp_path / d)).records()]
                  for d in ('stopped', 'lone')]
    assert comparable[0] == comparable[1]
    with open(tmp_path / 'stopped' / 'best_loss.json') as f:
        assert json.load(f)['history'] == lone['history']


def test_search_hooks_must_be_hook_configs(synthetic_root, tmp_path):
    cfg = _cfg(synthetic_root, tmp_path)
    cfg.search.hooks = ['StopAfterRoundHook']
    with pytest.raises(ValueError, match=r"search\.hooks=.*must be a list of hook configs"):
        LossSearchRunner.from_cfg(cfg)
