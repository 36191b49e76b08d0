"""What defines a search, flattened to ``{key: value}``, to refuse a resume
whose config would make the ledger's results mean something else."""
import hashlib
import json
from typing import Dict, List, Mapping, Optional

__all__ = ['search_fingerprint', 'fingerprint_diff', 'check_resume', 'split_digest', 'SAFE_KEYS']

# Parts of the config a proxy run is built from (see make_proxy_config).
DEFINING = ('search', 'model', 'optim_wrapper', 'param_scheduler', 'train_dataloader',
            'val_dataloader', 'test_pipeline', 'custom_hooks')
# Keys that may change on resume: they change where and how the search runs,
# what it logs and when it stops (search.hooks), not what a proxy computes.
# ``search.rounds`` may grow (an extended search); the runner checks it
# separately.
SAFE_KEYS = ('search.rounds', 'search.workers', 'search.dist', 'search.proxy.log_level',
             'search.hooks')


def _flatten(prefix: str, value, out: Dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for k in sorted(value, key=str):
            _flatten(f'{prefix}.{k}' if prefix else str(k), value[k], out)
        if not value:
            out[prefix] = '{}'
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _flatten(f'{prefix}[{i}]', v, out)
        if not value:
            out[prefix] = '[]'
    else:
        out[prefix] = json.dumps(value, sort_keys=True, default=repr)


def _safe(key: str) -> bool:
    # a list flattens to key[i]...
    return any(key == s or key.startswith((s + '.', s + '[')) for s in SAFE_KEYS)


def split_digest(names: List[str]) -> str:
    """sha256 of a split's name list as the split file holds it."""
    return hashlib.sha256(('\n'.join(names) + '\n').encode()).hexdigest()


def search_fingerprint(cfg, splits: Dict[str, List[str]]) -> Dict[str, str]:
    """The flattened defining config plus the digests of the split lists.

    Args:
        cfg: The search config.
        splits: ``{'train': names, 'hold_out': names}``.
    """
    flat: Dict[str, str] = {}
    for part in DEFINING:
        if cfg.get(part) is not None:
            _flatten(part, cfg.get(part), flat)
    for name, names in sorted(splits.items()):
        flat[f'splits.{name}'] = f'{len(names)} images, sha256 {split_digest(names)[:16]}'
    return {k: v for k, v in flat.items() if not _safe(k)}


def fingerprint_diff(saved: Dict[str, str], now: Dict[str, str]) -> List[str]:
    """``key: saved -> now`` lines for every key that differs."""
    missing = '(not set)'
    return [f'{k}: {saved.get(k, missing)} -> {now.get(k, missing)}'
            for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)]


def describe_diff(lines: List[str], limit: int = 20) -> str:
    more = len(lines) - limit
    return '; '.join(lines[:limit]) + (f'; and {more} more' if more > 0 else '')


def check_resume(saved: Optional[Dict[str, str]], now: Dict[str, str]) -> Optional[str]:
    """The refusal message for a resume with ``now`` over ``saved``, or None."""
    if saved is None:
        return None
    lines = fingerprint_diff(saved, now)
    if not lines:
        return None
    return ('the config differs from the one this search was started with: '
            f'{describe_diff(lines)}. A resumed search must be the same search; only '
            f"{', '.join(SAFE_KEYS)} may change (search.rounds only to extend it). Start a new "
            '--work-dir for a different search')
