"""docs/contributing.md's "Add a controller", done for real: a controller
defined outside the package passes the conformance checks every registered
controller passes and drives a search round."""
import json
import os.path as osp

import pytest

import test_controller_conformance as conformance
import toy_controller  # noqa: F401  (registers ToyLocalSearchController)
from search_config import search_cfg
from mmseg_autoloss.search import LossSearchRunner
from mmseg_autoloss.search.controllers import CONTROLLERS

NAME = 'ToyLocalSearchController'


def test_toy_controller_is_registered_and_passes_the_conformance_checks():
    assert NAME in CONTROLLERS.module_dict
    conformance.test_same_seed_same_proposals(NAME)
    conformance.test_exact_resume_from_state(NAME)
    conformance.test_init_theta_honoured(NAME)


@pytest.mark.slow
def test_toy_controller_drives_a_search_round(synthetic_root, tmp_path):
    cfg = search_cfg(synthetic_root, tmp_path, rounds=1, samples=2, iters=4,
                     **{'search.controller': dict(type=NAME, radius=0.05, _delete_=True)})
    LossSearchRunner.from_cfg(cfg).train()
    with open(osp.join(tmp_path, 'best_loss.json')) as f:
        best = json.load(f)
    assert best['controller']['type'] == NAME and best['controller']['radius'] == 0.05
    assert len(best['theta']) == 12 and 0 <= best['reward'] <= 1
