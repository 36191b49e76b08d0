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

from mmseg_autoloss.utils.fileio import atomic_write_text

__all__ = ['Ledger']

# Fields that depend on where and how fast a proxy ran, not on what it computed.
VOLATILE_FIELDS = ('wall_time', 'rank', 'worker', 'finished_at', 'work_dir')


class Ledger:
    """The search's record of proxy trainings.

    Infrastructure events (a proxy that lost its worker, a restarted
    process group) go to ``events/rank{r}.jsonl``: they describe the
    machine, not theta, and are never read back as results.

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
        self.event_dir = osp.join(work_dir, 'events')
        self.event_file = osp.join(self.event_dir, f'rank{rank}.jsonl')

    @staticmethod
    def _append(path: str, record: Dict) -> None:
        with open(path, 'a') as f:
            f.write(json.dumps(record, sort_keys=True) + '\n')
            f.flush()
            os.fsync(f.fileno())

    def append(self, record: Dict) -> None:
        """Persist one finished proxy immediately."""
        self._append(self.shard, record)

    def append_event(self, event: Dict) -> None:
        """Persist one infrastructure event."""
        os.makedirs(self.event_dir, exist_ok=True)
        self._append(self.event_file, event)

    def events(self) -> List[Dict]:
        """Every rank's infrastructure events, in file order per rank."""
        if not osp.isdir(self.event_dir):
            return []
        return [e for n in sorted(os.listdir(self.event_dir)) if n.endswith('.jsonl')
                for e in self._read_file(osp.join(self.event_dir, n))]

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
        by (round, index), sorted. Records of a worker that died, written by
        versions before infrastructure failures were told apart, are left
        out: those proxies are simply run again."""
        merged: Dict[Tuple[int, int], Dict] = {}
        paths = [self.path] + sorted(
            osp.join(self.shard_dir, n) for n in os.listdir(self.shard_dir) if n.endswith('.jsonl'))
        for path in paths:
            for rec in self._read_file(path):
                if rec.get('status') == 'failed' and \
                        str(rec.get('error')).startswith('worker process died'):
                    continue
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
