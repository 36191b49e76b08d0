"""Multi-fidelity rounds (``search.fidelity``): successive halving in a round.

With ``fidelity=dict(type='SuccessiveHalving', eta=2, min_fraction=0.25)``
a round trains all M proxies to ``min_fraction`` of their theta iterations
(rung 0), scores them on the hold-out, and continues only the best
``n // eta`` from their checkpoints to the next rung (``eta`` times the
iterations), until the survivors reach the full schedule. A proxy's poly
schedule always spans the full iterations, so a survivor is the same
training as a full proxy, validated on the way.

Every sample gets a reward the controller can use (:func:`map_rewards`):
the survivors of the last rung keep their full-fidelity hold-out reward; a
sample stopped at rung k gets its rung-k reward plus the smallest gain
(mapped final reward minus rung-k reward) of the samples that went on from
rung k. A stopped sample therefore never ranks above a sample that went
further, and samples stopped together keep the differences measured
between them.

Each rung's records go to their own ledger (``<work_dir>/rungs/rung{k}/``)
the moment they finish, so a killed round re-runs no finished rung of any
proxy; the main ledger gets one record per sample when the round ends.
"""
import glob
import os
import os.path as osp
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

from mmengine.config import Config

from .ledger import Ledger
from .proxy_settings import FidelitySettings
from .registry import FIDELITY_SCHEDULES

__all__ = ['check_fidelity', 'rung_iters', 'rung_sizes', 'select_survivors', 'map_rewards',
           'SuccessiveHalving', 'iters_spent']

RUNG_DIR = 'rungs'


def check_fidelity(value) -> None:
    """Validate ``search.fidelity`` (None = every proxy trains in full).

    Raises:
        ValueError: naming the key and the value.
    """
    FidelitySettings.from_cfg(value)


def rung_iters(total: int, eta: int, min_fraction: float) -> List[int]:
    """Cumulative theta iterations at the end of each rung (the last is ``total``)."""
    iters, frac = [], float(min_fraction)
    while frac < 1 - 1e-9:
        n = max(1, int(round(frac * total)))
        if n < total and (not iters or n > iters[-1]):
            iters.append(n)
        frac *= eta
    return iters + [total]


def rung_sizes(num_samples: int, eta: int, num_rungs: int) -> List[int]:
    """Proxies trained in each rung: M, M // eta, ... (at least one)."""
    sizes = [num_samples]
    for _ in range(num_rungs - 1):
        sizes.append(max(1, sizes[-1] // eta))
    return sizes


def select_survivors(records: Dict[int, Dict], keep: int) -> List[int]:
    """The ``keep`` best finished proxies of a rung (ties: the lower index);
    failed and diverged proxies never continue."""
    ok = [i for i, r in records.items() if r['status'] == 'ok']
    return sorted(sorted(ok, key=lambda i: (-records[i]['reward'], i))[:keep])


def map_rewards(rungs: Sequence[Dict[int, Dict]]) -> Dict[int, float]:
    """One controller reward per sample that finished a rung (see the module
    docstring).

    Args:
        rungs: Per rung, the records by sample index (rung 0 holds every sample).

    Returns:
        dict: index -> mapped reward, for samples whose last record is 'ok'.
    """
    last = len(rungs) - 1
    mapped = {i: r['reward'] for i, r in rungs[last].items() if r['status'] == 'ok'}
    for k in range(last - 1, -1, -1):
        went_on = [i for i in rungs[k + 1] if i in mapped]
        stopped = [i for i, r in rungs[k].items() if i not in rungs[k + 1] and r['status'] == 'ok']
        if not stopped:
            continue
        # the smallest gain from rung k to the final reward of a sample that
        # went on: a survivor scored at least as high at rung k as any stopped
        # one, so with this shift none of them lands below a stopped one
        shift = min((mapped[i] - rungs[k][i]['reward'] for i in went_on), default=0.0)
        for i in stopped:
            mapped[i] = rungs[k][i]['reward'] + shift
    return mapped


def _match(rec: Dict, theta: List[float]) -> bool:
    return rec.get('theta') is not None and len(rec['theta']) == len(theta) and all(
        abs(a - b) <= 1e-12 for a, b in zip(rec['theta'], theta))


@FIDELITY_SCHEDULES.register_module()
class SuccessiveHalving:
    """Successive halving of the proxies of each round.

    Args:
        cfg: ``search.fidelity``, built or as in the config.
        theta_iters: Iterations a full proxy trains with its theta.
        work_dir: Search work dir.
        rank: This process's rank.
    """

    def __init__(self, cfg: Union[FidelitySettings, Dict], theta_iters: int, work_dir: str,
                 rank: int = 0) -> None:
        if not isinstance(cfg, FidelitySettings):
            cfg = FidelitySettings.from_cfg(cfg)
        self.eta = cfg.eta
        self.min_fraction = float(cfg.min_fraction)
        self.iters = rung_iters(theta_iters, self.eta, self.min_fraction)
        self.theta_iters = theta_iters
        self.work_dir = work_dir
        self.rank = rank
        self.ledgers = [Ledger(osp.join(work_dir, RUNG_DIR, f'rung{k}'), rank)
                        for k in range(len(self.iters))]

    def describe(self, num_samples: int) -> str:
        sizes = rung_sizes(num_samples, self.eta, len(self.iters))
        return ', '.join(f'{n} x {it}' for n, it in zip(sizes, self.iters))

    def round_cost(self, num_samples: int) -> int:
        """Theta iterations one round trains (every rung's share)."""
        sizes = rung_sizes(num_samples, self.eta, len(self.iters))
        prev = [0] + self.iters[:-1]
        return sum(n * (it - p) for n, it, p in zip(sizes, self.iters, prev))

    # -------------------------------------------------------------- configs
    def rung_config(self, config_path: str, k: int) -> str:
        """Write rung k's config of one proxy next to its base config."""
        cfg = Config.fromfile(config_path)
        work_dir = cfg.work_dir
        end = self.iters[k]
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=end, val_interval=end)
        last = k == len(self.iters) - 1
        # the checkpoint at the rung's end is where a survivor continues; the
        # interval never fires, save_last writes it at the rung's last iteration
        cfg.default_hooks['checkpoint'] = None if last else dict(
            type='CheckpointHook', by_epoch=False, interval=self.theta_iters + 1,
            save_last=True, max_keep_ckpts=-1)
        if k > 0:
            # mmengine keeps one logger/message hub per experiment name in a
            # process: a continued proxy must not find its earlier rung's
            cfg.experiment_name = f'{cfg.experiment_name}_rung{k}'
            if cfg.get('visualizer') is not None:
                cfg.visualizer['name'] = cfg.experiment_name
            cfg.resume = True
            cfg.load_from = osp.join(work_dir, f'iter_{self.iters[k - 1]}.pth')
        logger = cfg.default_hooks.get('logger')
        if logger is not None:
            logger['interval'] = max(1, (end - (self.iters[k - 1] if k else 0)) // 5)
        path = osp.join(osp.dirname(config_path), f'rung{k}_config.py')
        cfg.dump(path)
        return path

    # --------------------------------------------------------------- ledger
    def finished(self, round_idx: int, samples) -> List[Dict[int, Dict]]:
        """Per rung, this round's records whose theta is this round's sample."""
        out = []
        for ledger in self.ledgers:
            recs = {}
            for i, rec in ledger.finished(round_idx).items():
                if i < samples.shape[0] and _match(rec, [float(v) for v in samples[i]]):
                    recs[i] = rec
            out.append(recs)
        return out

    def _drop(self, round_idx: int, indices, k: int) -> None:
        """Delete rung k's checkpoints of the given proxies (no longer needed:
        stopped there, or past rung k + 1 already)."""
        for i in indices:
            path = osp.join(self.work_dir, 'proxies', f'r{round_idx:02d}_p{i:02d}',
                            f'iter_{self.iters[k]}.pth')
            try:
                os.remove(path)
            except FileNotFoundError:  # another rank was first, or never written
                pass

    def cleanup(self, round_idx: int) -> None:
        """Drop the round's rung checkpoints once its records are final."""
        pattern = osp.join(self.work_dir, 'proxies', f'r{round_idx:02d}_p*')
        for d in glob.glob(pattern):
            for f in glob.glob(osp.join(d, 'iter_*.pth')) + [osp.join(d, 'last_checkpoint')]:
                if osp.exists(f):
                    os.remove(f)

    # ---------------------------------------------------------------- round
    def run_round(self, round_idx: int, samples, prior: List[Dict[int, Dict]],
                  make_tasks: Callable[[set], List[Dict]],
                  run: Callable[[List[Dict]], Iterable[Dict]],
                  gather: Callable[[int, List[Dict]], List[Dict]],
                  log: Optional[Callable[[str], None]] = None) -> List[Dict]:
        """Train one round rung by rung; returns one final record per sample.

        Args:
            round_idx: Round t.
            samples: (M, D) this round's samples.
            prior: :meth:`finished` of this round (the same on every rank).
            make_tasks: ``make_tasks(skip)`` -> this rank's proxy tasks of the
                samples not in ``skip`` (full-proxy configs).
            run: Trains tasks, yields their records as they finish.
            gather: ``gather(k, records)`` -> every rank's records of rung k
                from this rank's.
            log: Progress lines.
        """
        num = samples.shape[0]
        sizes = rung_sizes(num, self.eta, len(self.iters))
        rungs: List[Dict[int, Dict]] = []
        alive = list(range(num))
        for k, end in enumerate(self.iters):
            if k > 0:
                alive = select_survivors(rungs[k - 1], sizes[k])
                # at most one checkpoint per proxy still in the race
                self._drop(round_idx, set(rungs[k - 1]) - set(alive), k - 1)
                if not alive:  # every proxy of the rung before failed
                    break
            done = {i: r for i, r in prior[k].items() if i in alive}
            tasks = make_tasks((set(range(num)) - set(alive)) | set(done))
            for task in tasks:
                task['config'] = self.rung_config(task['config'], k)
            mine = []
            for rec in run(tasks):
                rec.update(rung=k, iters=end)
                self.ledgers[k].append(rec)
                mine.append(rec)
                if log is not None:
                    reward = 'n/a' if rec['reward'] is None else f"{rec['reward']:.4f}"
                    log(f"round {round_idx + 1} rung {k + 1}/{len(self.iters)} ({end} iters) "
                        f"proxy {rec['index'] + 1}/{num}: {rec['status']}, reward={reward}, "
                        f"{rec['wall_time']:.1f}s" + (f", error: {rec['error']}"
                                                       if rec['error'] else ''))
            got = {r['index']: r for r in gather(k, mine)}
            rungs.append(dict(sorted({**done, **got}.items())))
            if k > 0:
                self._drop(round_idx, rungs[k], k - 1)
            if log is not None:
                ok = [r['reward'] for r in rungs[k].values() if r['status'] == 'ok']
                log(f'round {round_idx + 1} rung {k + 1}/{len(self.iters)} done: '
                    f'{len(rungs[k])} proxies at {end} iterations ({len(done)} from the '
                    'ledger), best ' + (f'{max(ok):.4f}' if ok else 'n/a'))
        return self._finals(rungs, num)

    def _finals(self, rungs: List[Dict[int, Dict]], num: int) -> List[Dict]:
        """Each sample's record of the last rung it reached, with every rung's
        reward and the controller reward (:func:`map_rewards`)."""
        mapped = map_rewards(rungs)
        finals = []
        for i in range(num):
            k = max(j for j, r in enumerate(rungs) if i in r)
            rec = dict(rungs[k][i])
            rec.update(rung=k, iters=self.iters[k],
                       rung_rewards=[rungs[j][i]['reward'] if i in rungs[j] else None
                                     for j in range(len(rungs))],
                       reward_mapped=mapped.get(i))
            finals.append(rec)
        return finals


def iters_spent(records: List[Dict], default_iters: int) -> int:
    """Iterations the runs of ``records`` trained: a full proxy
    ``default_iters``, a halved one its ``iters``, the shared warm-start run
    its K."""
    return int(sum(r.get('iters', default_iters) for r in records))
