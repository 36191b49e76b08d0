"""Append-only JSON-lines ledger of proxy trainings: no finished work is lost.

Every process that finishes a proxy appends one line to its own shard
``ledger/rank{r}.jsonl`` at once (flushed and fsynced), so a killed search
keeps every finished proxy. Rank 0 rewrites the canonical, sorted
``ledger.jsonl`` after each round.
"""
import json
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Tuple

__all__ = ['Ledger', 'atomic_write_json', 'atomic_write_text']

# Fields that depend on where and how fast a proxy ran, not on what it computed.
VOLATILE_FIELDS = ('wall_time', 'rank', 'worker', 'finished_at', 'work_dir')


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: str, obj) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=1) + '\n')


class Ledger:
    """The search's record of proxy trainings.

    Args:
        work_dir (str): Search work dir.
        rank (int): This process's rank (names its shard).
    """

    def __init__(self, work_dir: str, rank: int = 0) -> None:
        self.work_dir = work_dir
        self.shard_dir = osp.join(work_dir, 'ledger')
        self.path = osp.join(work_dir, 'ledger.jsonl')
        os.makedirs(self.shard_dir, exist_ok=True)
        self.shard = osp.join(self.shard_dir, f'rank{rank}.jsonl')

    def append(self, record: Dict) -> None:
        """Persist one finished proxy immediately."""
        line = json.dumps(record, sort_keys=True)
        with open(self.shard, 'a') as f:
            f.write(line + '\n')
            f.flush()
            os.fsync(f.fileno())

    def _read_file(self, path: str) -> List[Dict]:
        records = []
        if not osp.isfile(path):
            return records
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    # A line cut by a kill mid-write: the proxy is simply re-run.
                    continue
        return records

    def records(self) -> List[Dict]:
        """All records from the canonical ledger and every shard, deduplicated
        by (round, index), sorted."""
        merged: Dict[Tuple[int, int], Dict] = {}
        paths = [self.path] + sorted(
            osp.join(self.shard_dir, n) for n in os.listdir(self.shard_dir) if n.endswith('.jsonl'))
        for path in paths:
            for rec in self._read_file(path):
                merged.setdefault((rec['round'], rec['index']), rec)
        return [merged[k] for k in sorted(merged)]

    def finished(self, round_idx: int) -> Dict[int, Dict]:
        """Records of one round by proxy index."""
        return {r['index']: r for r in self.records() if r['round'] == round_idx}

    def write_canonical(self, records: Optional[Iterable[Dict]] = None) -> None:
        """Rewrite ``ledger.jsonl`` (sorted by round and index)."""
        records = self.records() if records is None else sorted(
            records, key=lambda r: (r['round'], r['index']))
        atomic_write_text(self.path, ''.join(json.dumps(r, sort_keys=True) + '\n' for r in records))

    @staticmethod
    def comparable(record: Dict) -> Dict:
        """The record without run-dependent fields (for reproducibility checks)."""
        return {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}
