"""The tiny search the search tests run: its config and option builders."""
import os.path as osp
from typing import Any, Dict, List

from mmengine.config import Config

from conftest import CONFIGS

SEARCH_CFG = osp.join(CONFIGS, 'search',
                      'deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py')


def search_options(data_root, rounds=2, samples=4, iters=20, num_workers=0, seed=3,
                   baseline=None, **extra) -> Dict[str, Any]:
    """``merge_from_dict`` options of a search small enough for a test."""
    opts = {
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 4,
        'search.rounds': rounds,
        'search.samples_per_round': samples,
        'search.proxy.max_iters': iters,
        'search.proxy.batch_size': 4,
        'search.hold_out': dict(_delete_=True, size=8, seed=0),
        'search.workers.num_workers': num_workers,
        'search.seed': seed,
        # the quick config's warm-started lr-0.4 proxies need more iterations
        # than a test trains; tests of warm start set their own
        'search.proxy.warm_start': None,
        'search.proxy.lr': None,
    }
    if baseline is not None:
        opts['search.controller.baseline'] = baseline
    opts.update(extra)
    return opts


def search_cfg(data_root, work_dir, config=SEARCH_CFG, **kw) -> Config:
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(search_options(data_root, **kw))
    cfg.work_dir = str(work_dir)
    return cfg


def cli_options(options: Dict[str, Any]) -> List[str]:
    """The same options as ``--cfg-options`` words (a command line cannot
    ``_delete_``, so the hold-out's ``fraction`` is set to None instead)."""
    out = []
    for key, value in options.items():
        if isinstance(value, dict):
            out += [f'{key}.{k}={v}' for k, v in value.items() if k != '_delete_']
            if key == 'search.hold_out' and 'fraction' not in value:
                out.append(f'{key}.fraction=None')
        else:
            out.append(f'{key}={value}')
    return out
