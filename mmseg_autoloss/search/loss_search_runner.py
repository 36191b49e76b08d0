"""``LossSearchRunner``: PPO2 (or random) search of AutoSegLoss parameters.

Each round the controller samples M parameter vectors; every sample trains
one proxy (an ordinary MMSeg run of the config, see :mod:`.proxy`) on the
search's train split and is scored on a hold-out split of the training set;
the rewards update the controller. Built by MMSeg's own ``tools/train.py``
through ``runner_type='LossSearchRunner'`` or by ``tools/search.py``.
"""
import copy
import os
import os.path as osp
import signal
import threading
import time
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import broadcast_object_list, get_dist_info, is_distributed
from mmengine.logging import MMLogger
from mmengine.hooks import Hook
from mmengine.runner import get_priority
from mmseg.registry import DATASETS, HOOKS, RUNNERS

from mmseg_autoloss.utils.dist import gather_json, init_dist_cpu_aware
from mmseg_autoloss.utils.fileio import atomic_open, atomic_write_json, atomic_write_text
from mmseg_autoloss.utils.loss_config import (apply_loss_params, find_autoseg_losses,
                                              loss_target_metric)
from . import defaults
from .controllers import BaseController, build_controller
from .fidelity import iters_spent
from .fingerprint import check_resume, search_fingerprint, split_digest
from .ledger import Ledger
from .lock import WorkDirLock
from .proxy import make_proxy_config, proxy_seed
from .registry import FIDELITY_SCHEDULES
from .settings import SearchSettings
from .warm_start import WARM_ROUND, WarmStart, theta_iters
from .workers import ProxyPool, default_num_workers, die_with_parent

__all__ = ['LossSearchRunner', 'SearchInterrupted']

STATE_FILE = 'search_state.pth'
BEST_FILE = 'best_loss.json'
RETRAIN_FILE = 'retrain_config.py'


def _as_list(x) -> List[float]:
    return [float(v) for v in torch.as_tensor(x).flatten().tolist()]


class SearchInterrupted(SystemExit):
    """SIGTERM/SIGINT reached the search: workers stopped, work dir resumable."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


@RUNNERS.register_module()
class LossSearchRunner:
    """Search surrogate-loss parameters with short proxy trainings.

    Args:
        cfg (Config): A normal MMSeg training config whose searched heads use
            ``AutoSegLoss``, plus ``search=dict(...)`` (see
            :class:`SearchSettings`), ``work_dir``, and optionally
            ``resume`` and ``launcher``.
    """

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.settings = SearchSettings.from_cfg(cfg.get('search'))
        if not cfg.get('work_dir'):
            raise ValueError('work_dir is not set: pass --work-dir or set work_dir in the config')
        self.work_dir = osp.abspath(cfg.work_dir)
        self.launcher = cfg.get('launcher', defaults.LAUNCHER)
        self.resume = bool(cfg.get('resume'))
        # torchrun --max-restarts restarts the group with the same command:
        # a restarted attempt continues the search from its ledger
        self.restart = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', defaults.RESTART_COUNT))
        if self.restart > 0:
            self.resume = True
        if 'TORCHELASTIC_RUN_ID' in os.environ and self.launcher != 'none':
            # a rank whose torchrun agent is gone (killed) would train on alone
            die_with_parent(os.getppid(), prctl=False)
        timeout = self.settings.dist.timeout_s
        init_dist_cpu_aware(self.launcher,
                            timeout_s=1800 if timeout is None else max(float(timeout), 600.0))
        self.rank, self.world_size = get_dist_info()
        s = self.settings
        self._check_losses()
        self.num_params = s.space.dim
        self.init_theta = s.initial_theta()
        self.controller = self.build_controller()
        self._hooks = self.build_hooks()
        # One search per work dir: rank 0 holds the lock for the whole group,
        # taken before anything (even the log file) is written there.
        os.makedirs(self.work_dir, exist_ok=True)
        self.lock = WorkDirLock(self.work_dir)
        taken_over = self._on_rank0(self.lock.acquire)
        try:
            stamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
            self.logger = MMLogger.get_instance(
                f'loss_search_{stamp}_{id(self)}', logger_name='mmseg_autoloss.search',
                log_file=osp.join(self.work_dir, f'search_{stamp}.log') if self.rank == 0 else None,
                log_level=cfg.get('log_level', defaults.LOG_LEVEL))
            if taken_over:
                self.logger.warning(taken_over)
            self.ledger = Ledger(self.work_dir, self.rank)
            self.split_files = self.build_splits()
            self.pool = self.build_pool()
            # a warm-start checkpoint of another model fails here, before any training
            self.warm_start = WarmStart.build(cfg, s, self.work_dir)
            self.fidelity = self.build_fidelity()
        except BaseException:
            self.lock.release()
            raise

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'LossSearchRunner':
        return cls(cfg)

    # ------------------------------------------------------------ builders
    def _check_losses(self) -> None:
        """The searched heads must hold an AutoSegLoss of the target metric."""
        s = self.settings
        losses = find_autoseg_losses(self.cfg.model, s.heads)
        if not any(loss_target_metric(d) == s.target_metric for d in losses):
            raise ValueError(
                f'search.heads={list(s.heads)} contain no AutoSegLoss with target_metric='
                f'{s.target_metric!r} (found: {[loss_target_metric(d) for d in losses]}); '
                "set e.g. model.decode_head.loss_decode=dict(_delete_=True, type='AutoSegLoss', "
                f"target_metric='{s.target_metric}')")

    def build_controller(self) -> BaseController:
        """``search.controller`` with the search's seed, M and initial theta."""
        s = self.settings
        ctrl_cfg = dict(s.controller)
        ctrl_cfg.setdefault('seed', s.seed)
        ctrl_cfg.setdefault('samples_per_round', s.samples_per_round)
        if ctrl_cfg['samples_per_round'] != s.samples_per_round:
            raise ValueError(f'search.controller.samples_per_round={ctrl_cfg["samples_per_round"]} '
                             f'differs from search.samples_per_round={s.samples_per_round}')
        return build_controller(ctrl_cfg, self.num_params, init_mu=self.init_theta)

    def build_hooks(self) -> List[Hook]:
        """``search.hooks`` from MMSeg's HOOKS, sorted by priority like
        mmengine's Runner sorts its hooks (see :mod:`.search_hooks`)."""
        hooks = []
        for cfg in self.settings.hooks:
            hook = HOOKS.build(dict(cfg))
            if not isinstance(hook, Hook):
                raise TypeError(f'search.hooks: {cfg!r} built a {type(hook).__name__}, not an '
                                'mmengine Hook')
            hooks.append(hook)
        return sorted(hooks, key=lambda h: get_priority(h.priority))

    def build_fidelity(self):
        """The round's fidelity schedule (``search.fidelity``), None = full proxies."""
        fid = self.settings.fidelity
        if fid is None:
            return None
        return FIDELITY_SCHEDULES.get(fid.type)(fid, theta_iters(self.settings), self.work_dir,
                                                self.rank)

    def build_pool(self) -> ProxyPool:
        """The workers that train this process's proxies (``search.workers``)."""
        local_world = int(os.environ.get('LOCAL_WORLD_SIZE', self.world_size))
        w = self.settings.workers
        num_workers = w.num_workers
        if num_workers is None:
            num_workers = default_num_workers(w.models_per_device, w.threads_per_worker,
                                              local_world)
        if num_workers == 0 and is_distributed():
            raise ValueError('search.workers.num_workers=0 (proxies in this process) cannot '
                             'be used under a distributed launcher; use >= 1')
        return ProxyPool(num_workers, w.threads_per_worker, w.models_per_device,
                         int(os.environ.get('LOCAL_RANK', defaults.LOCAL_RANK)), local_world,
                         max_retries=w.max_retries)

    def _on_rank0(self, fn):
        """Run ``fn`` on rank 0 and share its result; an error there is
        raised on every rank instead of leaving the others waiting."""
        result, error = None, None
        if self.rank == 0:
            try:
                result = fn()
            except Exception as e:
                if not is_distributed():
                    raise
                error = e
        if is_distributed():
            shared = [result, error]
            broadcast_object_list(shared)  # in place
            result, error = shared
        if error is not None:
            raise error
        return result

    # ------------------------------------------------------------------ set-up
    def build_splits(self) -> Dict[str, str]:
        """Split the training set into proxy-train and hold-out name lists
        (written once; a resume checks them and never rewrites them)."""
        split_dir = osp.join(self.work_dir, 'splits')
        files = dict(train=osp.join(split_dir, 'train.txt'),
                     hold_out=osp.join(split_dir, 'hold_out.txt'))
        self._on_rank0(lambda: self._write_splits(files))
        return files

    def _compute_splits(self) -> Dict[str, List[str]]:
        ds_cfg = copy.deepcopy(self.cfg.train_dataloader.dataset)
        ds_cfg['pipeline'] = []
        dataset = DATASETS.build(ds_cfg)
        if not hasattr(dataset, 'data_prefix') or 'img_path' not in dataset.data_prefix:
            raise ValueError(f'the hold-out split needs a plain BaseSegDataset as '
                             f'train_dataloader.dataset, got {type(dataset).__name__}')
        img_dir = dataset.data_prefix['img_path']
        suffix = dataset.img_suffix
        names = sorted(osp.relpath(dataset.get_data_info(i)['img_path'], img_dir)[:-len(suffix)]
                       for i in range(len(dataset)))
        try:
            return self.settings.hold_out.split(names)
        except ValueError as err:
            raise ValueError(f'search.hold_out={self.settings.hold_out.to_cfg()}: {err}') from None

    def _write_splits(self, files: Dict[str, str]) -> None:
        splits = self._compute_splits()
        self.fingerprint = search_fingerprint(self.cfg, splits)
        self._state = self._check_resume()
        os.makedirs(osp.dirname(files['train']), exist_ok=True)
        for key, names in splits.items():
            if osp.isfile(files[key]):
                with open(files[key]) as f:
                    on_disk = [line for line in f.read().splitlines() if line]
                if split_digest(on_disk) != split_digest(names):
                    raise RuntimeError(
                        f'{files[key]} ({len(on_disk)} images) is not the split this config '
                        f'gives ({len(names)} images): the data or search.hold_out changed, '
                        'or the file was edited. It is left as it is; use another --work-dir '
                        'for a different search')
                continue
            atomic_write_text(files[key], '\n'.join(names) + '\n')
        self.logger.info(f"search split: {len(splits['train'])} train / "
                         f"{len(splits['hold_out'])} hold-out images")

    def _check_resume(self) -> Optional[Dict]:
        """The saved state to resume from (None for a fresh search), after
        refusing a fresh start over an existing search and a resume whose
        config defines another search."""
        path = osp.join(self.work_dir, STATE_FILE)
        if not self.resume:
            if osp.isfile(path) or self.ledger.records():
                raise RuntimeError(
                    f'{self.work_dir} already holds a search; pass --resume to continue it or '
                    'choose another --work-dir (nothing was overwritten)')
            return None
        if not osp.isfile(path):
            return None
        state = torch.load(path, map_location='cpu', weights_only=True)
        saved = state.get('fingerprint')
        if saved is None:
            self.logger.warning(f'{path} has no config fingerprint (an older version wrote it): '
                                'the resumed config is not checked against it')
        why = check_resume(saved, self.fingerprint)
        if why is not None:
            raise ValueError(f'--resume {self.work_dir}: {why}')
        done = int(state['round'])
        if self.settings.rounds < done:
            raise ValueError(f'--resume {self.work_dir}: search.rounds={self.settings.rounds} '
                             f'but {done} rounds are already done; rounds can only grow')
        return state

    def save_state(self, round_idx: int, elapsed: float) -> None:
        """Write ``search_state.pth``: the next round, the controller and the
        wall time so far (what a resume starts from)."""
        state = dict(round=round_idx, controller=self.controller.state_dict(),
                     elapsed_s=float(elapsed), round_times=list(self._round_times),
                     fingerprint=self.fingerprint)
        with atomic_open(osp.join(self.work_dir, STATE_FILE), 'wb') as f:
            torch.save(state, f)

    # -------------------------------------------------------------- the search
    def load_state(self) -> int:
        """Load ``search_state.pth`` (rank 0); returns the round to start at. A
        fresh search saves its fingerprint at once, so a search killed in its
        first round is checked on resume too."""
        state = self._state
        if state is None:
            self.save_state(0, 0.0)
            return 0
        self.controller.load_state_dict(state['controller'])
        # wall time of the earlier sessions up to their last finished round
        self._elapsed_before = float(state.get('elapsed_s', defaults.ELAPSED_S))
        self._round_times = [float(t) for t in state.get('round_times', defaults.ROUND_TIMES)]
        how = f'torchrun restart {self.restart}' if self.restart else '--resume'
        self.logger.info(f'{how}: resumed the search from {self.work_dir}/{STATE_FILE} at '
                         f'round {int(state["round"]) + 1} (finished proxies are not re-run)')
        return int(state['round'])

    def _tasks(self, round_idx: int, samples: torch.Tensor, done: Dict[int, Dict]) -> List[Dict]:
        s = self.settings
        tasks = []
        for i in range(samples.shape[0]):
            if i in done or i % self.world_size != self.rank:
                continue
            theta = _as_list(samples[i])
            name = f'r{round_idx:02d}_p{i:02d}'
            work_dir = osp.join(self.work_dir, 'proxies', name)
            seed = proxy_seed(s.seed, round_idx, i)
            cfg = make_proxy_config(self.cfg, s, s.loss_params(theta), seed, work_dir,
                                    self.split_files, name)
            if self.warm_start is not None:
                self.warm_start.configure(cfg, s)
            os.makedirs(work_dir, exist_ok=True)
            cfg_path = osp.join(work_dir, 'proxy_config.py')
            cfg.dump(cfg_path)
            tasks.append(dict(round=round_idx, index=i, seed=seed, theta=theta,
                              control_points=s.space.control_points(theta),
                              config=cfg_path, rank=self.rank, **s.reward_task()))
        return tasks

    def _finished(self, round_idx: int, samples: torch.Tensor) -> Dict[int, Dict]:
        """Finished proxies of a round whose theta matches this round's sample."""
        done = {}
        for i, rec in self.ledger.finished(round_idx).items():
            if i < samples.shape[0] and np.allclose(rec['theta'], _as_list(samples[i]), atol=1e-12):
                done[i] = rec
        return done

    def _rewards(self, round_idx: int, records: List[Dict]) -> torch.Tensor:
        ok = [r['reward'] for r in records if r['status'] == 'ok']
        if not ok:
            errors = '; '.join(f"p{r['index']}: {r['status']} {r['error']}" for r in records[:4])
            raise RuntimeError(f'every proxy of round {round_idx} failed ({errors}); see '
                               f"{osp.join(self.work_dir, 'proxies')}/*/error.txt")
        worst = min(r.get('reward_mapped', r['reward']) for r in records if r['status'] == 'ok')
        for r in records:
            # a halved round's samples carry their rung reward mapped below the survivors'
            r['reward_used'] = r.get('reward_mapped', r['reward']) if r['status'] == 'ok' \
                else worst
        return torch.tensor([r['reward_used'] for r in records], dtype=torch.float64)

    def train(self) -> Dict:
        """Run (or resume) the search; returns the ``best_loss.json`` content."""
        return self.run()

    def _timeout(self, own_s: float) -> float:
        """How long this rank waits for the others' proxies of a round."""
        fixed = self.settings.dist.timeout_s
        if fixed is not None:
            return float(fixed)
        return max(600.0, 3.0 * max(self._round_times + [own_s]))

    def _handle_signals(self):
        """SIGTERM/SIGINT raise :class:`SearchInterrupted` in the main thread;
        returns the previous handlers."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def interrupt(signum, frame):
            raise SearchInterrupted(signum)

        return {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}

    def run(self) -> Dict:
        self._elapsed_before = 0.0
        self._round_times: List[float] = []
        self._trained = 0
        self._stop_reason: Optional[str] = None
        handlers = self._handle_signals()
        self._t0 = time.time()
        best = None
        clean = False
        try:
            start_round = self._start()
            for t in range(start_round, self.settings.rounds):
                self.call_hook('before_round', round_idx=t)
                best = self.run_round(t)
                self.call_hook('after_round', round_idx=t, best=best)
                if self._stopped_after(t):
                    break
            if best is None:  # resumed a search that had already finished
                best = self._on_rank0(lambda: self.write_outputs(self._elapsed()))
            clean = True
        except SearchInterrupted as e:
            self.logger.warning(f'{signal.Signals(e.signum).name} received: workers stopped; '
                                f'{self.work_dir} keeps every finished proxy, continue with '
                                '--resume')
            raise
        except Exception as e:
            self.logger.error(f'the search stopped: {type(e).__name__}: {e}')
            raise
        finally:
            if clean:
                self.pool.close()
            else:
                self.pool.terminate()  # a running proxy's result is lost either way
            self.lock.release()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        return best

    def _elapsed(self) -> float:
        """Search wall time: earlier sessions up to their last round, plus this one."""
        return self._elapsed_before + time.time() - self._t0

    def _start(self) -> int:
        """Resume state, logs and the warm start; returns the first round to run."""
        s = self.settings
        start_round, self._elapsed_before, self._round_times = self._on_rank0(
            lambda: (self.load_state(), self._elapsed_before, self._round_times))
        if self.restart and self.rank == 0:
            self.ledger.append_event(dict(
                event='group_restart', restart=self.restart, round=start_round,
                time=time.strftime('%Y-%m-%d %H:%M:%S'),
                error='torchrun restarted the process group (a rank was lost)'))
        self.logger.info(f'loss search: target_metric={s.target_metric}, {self.num_params} '
                         f'parameters, {s.rounds} rounds x {s.samples_per_round} proxies x '
                         f'{s.proxy.max_iters} iterations, '
                         f'{self.world_size} process(es) x {self.pool.num_workers} worker(s), '
                         f'up to {self.pool.max_retries} re-run(s) of a proxy that loses its '
                         'worker')
        if is_distributed():
            fixed = s.dist.timeout_s
            self.logger.info(
                'collective timeout: ' + (f'{fixed} s' if fixed is not None else
                                          '3x the longest round so far, at least 600 s')
                + ' (search.dist.timeout_s); ranks not yet reported are logged every '
                f'{s.dist.report_s} s')
        if self.warm_start is not None:
            self._on_rank0(lambda: self.warm_start.prepare(
                self.cfg, s, self.split_files, self.pool, self.ledger, self.logger,
                self._on_event))
        return start_round

    def run_round(self, round_idx: int) -> Dict:
        """One round, full proxies or successive halving behind it; returns
        the ``best_loss.json`` content after it (on every rank)."""
        samples, done = self._on_rank0(lambda: self._round_samples(round_idx))
        start = time.time()
        if self.fidelity is not None:
            records = self._halving_round(round_idx, samples, done)
            self._round_times.append(time.time() - start)
        else:
            records, seconds = self._full_round(round_idx, samples, done)
            self._round_times.append(seconds)
        best = self._on_rank0(lambda: self._finish_round(round_idx, samples, records,
                                                         self._elapsed()))
        if self.fidelity is not None:
            self._on_rank0(lambda: self.fidelity.cleanup(round_idx))
        return best

    def _full_round(self, round_idx: int, samples: torch.Tensor, done: Dict[int, Dict]):
        """Every proxy of a round trained in full; the round's records (all
        ranks) and the slowest rank's seconds."""
        tasks = self._tasks(round_idx, samples, done)
        if done and self.rank == 0:
            self.logger.info(f'round {round_idx + 1}/{self.settings.rounds}: {len(done)} '
                             'proxies already finished in the ledger, not re-run')
        start = time.time()
        mine = self._run_tasks(round_idx, tasks, self._t0, self._trained)
        own = time.time() - start
        self._trained += len(mine)
        if is_distributed():
            parts = gather_json(dict(records=mine, seconds=own), f'round{round_idx}',
                                self._timeout(own), self.settings.dist.report_s,
                                self.logger.warning)
        else:
            parts = [dict(records=mine, seconds=own)]
        records = sorted(list(done.values()) + [r for p in parts for r in p['records']],
                         key=lambda r: r['index'])
        return records, max(p['seconds'] for p in parts)

    # ------------------------------------------------------------------ hooks
    def call_hook(self, fn_name: str, **kwargs) -> None:
        """Call ``fn_name`` of every search hook that has it (mmengine's
        ``Runner.call_hook`` convention: ``hook.fn(runner, **kwargs)``)."""
        for hook in self._hooks:
            fn = getattr(hook, fn_name, None)
            if callable(fn):
                fn(self, **kwargs)

    def request_stop(self, reason: str) -> None:
        """Stop cleanly after the current round (a hook calls this); the
        work dir stays resumable."""
        self._stop_reason = str(reason)

    def _stopped_after(self, round_idx: int) -> bool:
        # rank 0 decides, so that every rank leaves the loop together
        reason = self._on_rank0(lambda: self._stop_reason)
        if reason is None:
            return False
        self.logger.warning(f'search stopped by a hook after round {round_idx + 1}/'
                            f'{self.settings.rounds}: {reason}; continue with --resume')
        return True

    def _halving_round(self, round_idx: int, samples: torch.Tensor, done: Dict[int, Dict]
                       ) -> List[Dict]:
        """One round under successive halving (see :mod:`.fidelity`); every
        sample's final record, on every rank."""
        if len(done) == samples.shape[0]:
            return sorted(done.values(), key=lambda r: r['index'])
        prior = self._on_rank0(lambda: self.fidelity.finished(round_idx, samples))
        started = [time.time()]

        def run(tasks: List[Dict]):
            started[0] = time.time()
            return self.pool.run(tasks, on_event=self._on_event)

        def gather(k: int, mine: List[Dict]) -> List[Dict]:
            if not is_distributed():
                return mine
            # a rung's share can be uneven (survivors go to rank index % world)
            parts = gather_json(dict(records=mine), f'round{round_idx}_rung{k}',
                                self._timeout(time.time() - started[0]),
                                self.settings.dist.report_s, self.logger.warning)
            return [r for p in parts for r in p['records']]

        finals = self.fidelity.run_round(
            round_idx, samples, prior, lambda skip: self._tasks(round_idx, samples, skip), run,
            gather, self.logger.info)
        if self.rank == 0:
            for rec in finals:
                self.ledger.append(rec)
        return finals

    def _round_samples(self, round_idx: int):
        samples = self.controller.sample().to(torch.float64)
        return samples, self._finished(round_idx, samples)

    def _on_event(self, event: Dict) -> None:
        self.ledger.append_event(event)
        self.logger.warning(
            f"infrastructure event [rank {self.rank}]: proxy r{event['round']:02d}_p"
            f"{event['index']:02d} lost ({event['error']}); {event['action']} "
            f'(not a result of its theta; recorded in {self.ledger.event_file})')

    def _run_tasks(self, round_idx: int, tasks: List[Dict], t0: float, trained: int) -> List[Dict]:
        s = self.settings
        records = []
        for rec in self.pool.run(tasks, on_event=self._on_event):
            self.ledger.append(rec)
            records.append(rec)
            done = trained + len(records)
            per = (time.time() - t0) / max(done, 1)
            left = (s.rounds - round_idx) * s.samples_per_round / self.world_size - len(records)
            reward = 'n/a' if rec['reward'] is None else f"{rec['reward']:.4f}"
            error = ''
            if rec['error']:
                error = f", error: {rec['error']} (see {osp.join(rec['work_dir'], 'error.txt')})"
            self.logger.info(
                f"round {round_idx + 1}/{s.rounds} proxy {rec['index'] + 1}/{s.samples_per_round} "
                f"[rank {self.rank}]: {rec['status']}, reward={reward}, {rec['wall_time']:.1f}s, "
                f"ETA {max(left, 0) * per / 60:.1f} min{error}")
        return records

    def _finish_round(self, round_idx: int, samples: torch.Tensor, records: List[Dict],
                      elapsed: float) -> Dict:
        rewards = self._rewards(round_idx, records)
        stats = self.controller.update(samples, rewards)
        self.ledger.write_canonical(
            [r for r in self.ledger.records() if r['round'] != round_idx] + records)
        self.save_state(round_idx + 1, elapsed)
        failed = sum(r['status'] != 'ok' for r in records)
        self.logger.info(
            f'round {round_idx + 1}/{self.settings.rounds} done: reward mean '
            f'{float(rewards.mean()):.4f}, max {float(rewards.max()):.4f}, failed {failed}; '
            f'best so far {self.controller.best_reward:.4f}; '
            + ', '.join(f'{k}={v:.4g}' for k, v in stats.items() if isinstance(v, (int, float))))
        self._log_scalars(round_idx, rewards, stats)
        return self.write_outputs(elapsed)

    def _log_scalars(self, round_idx: int, rewards: torch.Tensor, stats: Dict) -> None:
        from mmengine.visualization import Visualizer
        name = f'loss_search_vis_{id(self)}'
        if not Visualizer.check_instance_created(name):
            Visualizer.get_instance(name, vis_backends=self.cfg.get('vis_backends'),
                                    save_dir=osp.join(self.work_dir, 'vis_data'))
        vis = Visualizer.get_instance(name)
        scalars = {f'search/{k}': float(v) for k, v in stats.items() if isinstance(v, (int, float))}
        scalars.update({'search/reward_mean': float(rewards.mean()),
                        'search/reward_max': float(rewards.max()),
                        'search/best_reward': float(self.controller.best_reward)})
        vis.add_scalars(scalars, step=round_idx + 1)

    def write_outputs(self, elapsed: float) -> Dict:
        """best_loss.json, the retrain config and the plots (rank 0)."""
        s = self.settings
        records = [r for r in self.ledger.records() if r['round'] != WARM_ROUND]
        best_mu = _as_list(self.controller.best_mu)
        ws = s.proxy.warm_start
        best = s.space.best_loss(
            best_mu, reward=float(self.controller.best_reward),
            rounds_done=int(self.controller.round), history=self.controller.history,
            budget=dict(rounds=s.rounds, samples_per_round=s.samples_per_round,
                        proxy_iters=s.proxy.max_iters, proxies_trained=len(records),
                        failed=sum(r['status'] != 'ok' for r in records),
                        wall_time_s=round(elapsed, 1), processes=self.world_size,
                        workers_per_process=self.pool.num_workers,
                        proxy_iters_spent=iters_spent(self.ledger.records(), theta_iters(s)),
                        warm_start=None if ws is None else ws.to_cfg(),
                        fidelity=None if s.fidelity is None else s.fidelity.to_cfg()),
            controller=dict(s.controller), seed=s.seed, hold_out=s.hold_out.to_cfg())
        atomic_write_json(osp.join(self.work_dir, BEST_FILE), best)
        self._write_retrain_config(best)
        try:
            from .plots import plot_search_progress, plot_surrogate_curves
            plot_search_progress(records, self.controller.history,
                                 osp.join(self.work_dir, 'search_progress.png'))
            plot_surrogate_curves(best['target_metric'], best['parameterization'],
                                  best['num_pieces'], best['control_points'],
                                  osp.join(self.work_dir, 'surrogate_curves.png'),
                                  title=f"searched, hold-out reward {best['reward']:.4f}")
        except Exception as e:  # a plot must never cost the search
            self.logger.warning(f'could not draw the search plots: {type(e).__name__}: {e}')
        return best

    def _write_retrain_config(self, best: Dict) -> None:
        cfg = copy.deepcopy(self.cfg)
        for key in ('runner_type', 'search', 'resume', 'launcher', 'work_dir'):
            if key in cfg:
                cfg.pop(key)
        apply_loss_params(cfg, best, heads=self.settings.heads)
        cfg.dump(osp.join(self.work_dir, RETRAIN_FILE))
