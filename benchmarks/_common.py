"""Shared by the benchmark scripts: train one config with a seed, evaluate it.

One :class:`Job` is one MMSeg training run (``Runner.from_cfg``) of a config
with a given seed, schedule, learning rate and (optionally) replaced losses,
followed by one evaluation per requested split with ``SegMetric``.
:func:`run_jobs` runs many jobs, in this process or in spawned worker
processes (one torch thread each), and returns their results in order; with
a :class:`ResultStore` every finished job is kept on disk at once and a rerun
skips the jobs already there.

    from _common import Job, run_jobs
    job = Job(config='configs/baseline/deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py',
              work_dir='/tmp/ce_s0', seed=0, iters=300, batch_size=8,
              data_root='data/synthetic_shapes', splits=('val', 'test'))
    [result] = run_jobs([job], workers=0)
    result['test']['mIoU']
"""
import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing as mp
import os
import os.path as osp
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.hooks import Hook

from mmseg_autoloss.utils.stats import mean_std  # noqa: F401  (the studies import it from here)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# SegMetric names and the keys of its result (percent).
ALL_METRICS = ('aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C', 'mIoU_C_q')
ALL_KEYS = ('aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C', 'mIoU_C_q5')
SPLITS = ('val', 'test')

LossCfg = Union[Dict[str, Any], List[Dict[str, Any]]]


@dataclass
class Job:
    """One training run and its evaluation.

    Args:
        config: Config path (relative to the repository or absolute).
        work_dir: Runner work dir of this run.
        seed: ``randomness.seed`` (weights, data order, augmentation).
        iters: Training iterations (poly schedule ends there).
        batch_size: Training batch size.
        data_root: Dataset root for every split.
        lr: SGD learning rate; None keeps the config's.
        decode_loss: Replaces ``model.decode_head.loss_decode`` (None keeps it).
        aux_loss: Replaces ``model.auxiliary_head.loss_decode`` (None keeps it).
        splits: Splits to evaluate after training, among 'val' and 'test'.
        metrics: SegMetric ``metrics``.
        tol: Boundary tolerance for BIoU/BF1 (pixels).
        q: Worst-case percentages for ``*_q`` metrics.
        threads: torch CPU threads for this run.
        name: Unique experiment name (mmengine's logger/visualizer instances).
        tag: Free-form data returned with the result (arm, lr, ...).
        classwise: Also return per-class values (``IoU.<class>``, ...).
        val_interval: Also validate every so many iterations during
            training; the result's ``curve`` lists (iteration, val mIoU).
        cfg_options: Merged into the config after loading it (as
            ``--cfg-options``), e.g. other data loaders.
        checkpoint_interval: Keep the latest checkpoint every so many
            iterations in ``work_dir`` and resume from it when the job runs
            again (a killed long run loses at most that much); 0 keeps none.
    """
    config: str
    work_dir: str
    seed: int
    iters: int
    batch_size: int
    data_root: str
    lr: Optional[float] = None
    decode_loss: Optional[LossCfg] = None
    aux_loss: Optional[LossCfg] = None
    splits: Tuple[str, ...] = ('test', )
    metrics: Tuple[str, ...] = ALL_METRICS
    tol: int = 2
    q: Tuple[float, ...] = (5, )
    threads: int = 1
    name: str = ''
    tag: Dict[str, Any] = field(default_factory=dict)
    classwise: bool = False
    val_interval: int = 0
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    checkpoint_interval: int = 0

    def __post_init__(self) -> None:
        for key in ('iters', 'batch_size', 'threads'):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'Job.{key} must be a positive integer, got {value!r}')
        for key in ('val_interval', 'checkpoint_interval'):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f'Job.{key} must be an integer >= 0, got {value!r}')
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f'Job.lr must be None or > 0, got {self.lr!r}')
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits:
            raise ValueError(f'Job.splits={self.splits!r}: give one or more of {SPLITS}')


def _set_poly_end(schedulers, iters: int) -> None:
    for sched in schedulers if isinstance(schedulers, list) else [schedulers]:
        sched['begin'] = 0
        sched['end'] = iters


def build_config(job: Job):
    """The mmengine Config of ``job``: the file plus the job's overrides."""
    from mmengine.config import Config
    path = job.config if osp.isabs(job.config) else osp.join(REPO, job.config)
    cfg = Config.fromfile(path)
    if job.cfg_options:
        cfg.merge_from_dict(job.cfg_options)
    cfg.work_dir = job.work_dir
    cfg.experiment_name = job.name or osp.basename(osp.normpath(job.work_dir))
    if cfg.get('visualizer') is not None:
        cfg.visualizer['name'] = cfg.experiment_name
    cfg.randomness = dict(seed=job.seed)
    cfg.log_level = 'WARNING'
    if job.decode_loss is not None:
        cfg.model.decode_head.loss_decode = job.decode_loss
    if job.aux_loss is not None:
        if cfg.model.get('auxiliary_head') is None:
            raise ValueError(f'Job.aux_loss is set but {job.config} has no auxiliary_head')
        cfg.model.auxiliary_head.loss_decode = job.aux_loss
    if job.lr is not None:
        cfg.optim_wrapper.optimizer.lr = float(job.lr)
    for split in ('train', ) + SPLITS:
        cfg[f'{split}_dataloader'].dataset.data_root = job.data_root
    cfg.train_dataloader.batch_size = job.batch_size
    # No validation during training unless asked: each split is evaluated
    # once at the end (the loop validates at its last iteration unless
    # val_begin is past it).
    every = job.val_interval or job.iters + 1
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=job.iters, val_begin=every,
                         val_interval=every)
    cfg.val_cfg = dict(type='ValLoop')
    cfg.test_cfg = dict(type='TestLoop')
    _set_poly_end(cfg.param_scheduler, job.iters)
    # A list: mmengine reads a bare dict with a ``metrics`` key as an
    # Evaluator config, not as the metric SegMetric.
    evaluator = [dict(type='SegMetric', metrics=list(job.metrics), tol=job.tol, q=tuple(job.q),
                      classwise=job.classwise)]
    cfg.val_evaluator = evaluator
    cfg.test_evaluator = evaluator
    if job.checkpoint_interval:
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                            interval=job.checkpoint_interval, max_keep_ckpts=1)
        cfg.resume = True  # from work_dir's latest checkpoint, if any
    else:
        cfg.default_hooks.checkpoint = None  # nothing to resume: no weights are kept
    cfg.default_hooks.pop('visualization', None)
    cfg.default_hooks.logger.interval = max(1, job.iters // 3)
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) or []
                        if h.get('type') != 'FinalMetricsHook']
    return cfg


def train_and_evaluate(job: Job) -> Dict[str, Any]:
    """Train ``job`` and evaluate it on its splits.

    Returns:
        dict: ``{'name', 'seed', 'lr', 'tag', 'train_s', 'eval_s', <split>:
        {metric key: percent}}`` for each split of ``job.splits``.
    """
    import torch
    old_threads = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    try:
        import mmseg_autoloss  # noqa: F401  (registers the plugin)
        from mmengine.runner import Runner
        cfg = build_config(job)
        # before the Runner: it also points a stale last_checkpoint at this work dir
        resumed_at = _checkpoint_iter(job.work_dir) if job.checkpoint_interval else 0
        with warnings.catch_warnings():
            # MMSeg's deprecation notices would repeat once per run.
            warnings.simplefilter('ignore')
            runner = Runner.from_cfg(cfg)
            curve: List[Tuple[int, float]] = []
            if job.val_interval:
                runner.register_hook(_CurveHook(curve), priority='LOWEST')
            start = time.perf_counter()
            runner.train()
            train_s = time.perf_counter() - start
            out: Dict[str, Any] = dict(name=cfg.experiment_name, seed=job.seed,
                                       lr=float(cfg.optim_wrapper.optimizer.lr),
                                       tag=dict(job.tag), train_s=train_s)
            if resumed_at:
                out['resumed_at'] = resumed_at
            if job.val_interval:
                out['curve'] = curve
            start = time.perf_counter()
            for split in job.splits:
                metrics = runner.val() if split == 'val' else runner.test()
                out[split] = {k: float(v) for k, v in metrics.items()
                              if isinstance(v, (int, float))}
            out['eval_s'] = time.perf_counter() - start
    finally:
        torch.set_num_threads(old_threads)
    return out


class _CurveHook(Hook):
    """Appends (iteration, val mIoU) to a list after each validation."""

    def __init__(self, curve: List[Tuple[int, float]]) -> None:
        self.curve = curve

    def after_val_epoch(self, runner, metrics=None) -> None:
        if metrics and 'mIoU' in metrics:
            self.curve.append((runner.iter, float(metrics['mIoU'])))


def _latest_checkpoint(work_dir: str) -> Optional[str]:
    """``work_dir``'s latest checkpoint, or None.

    mmengine's ``last_checkpoint`` holds the absolute path it saved to; a
    work dir reached by another path since (a removed worktree whose
    ``work_dirs`` was a link, a moved folder) holds the file under the same
    name, so the pointer is rewritten to it. A pointer to a file that is
    nowhere is dropped: the run starts afresh instead of failing to load.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        path = f.read().strip()
    if osp.isfile(path):
        return path
    here = osp.join(work_dir, osp.basename(path))
    if path and osp.isfile(here):
        with open(pointer, 'w') as f:
            f.write(here)
        return here
    print(f'{pointer} names {path!r}, which is gone: training from the start', flush=True)
    os.remove(pointer)
    return None


def _checkpoint_iter(work_dir: str) -> int:
    """The iteration of ``work_dir``'s latest checkpoint (0: none)."""
    stem = osp.splitext(osp.basename(_latest_checkpoint(work_dir) or ''))[0]
    return int(stem[5:]) if stem.startswith('iter_') and stem[5:].isdigit() else 0


class ResultStore:
    """Finished jobs' results in an append-only JSON-lines file.

    A job is found again by its name and a digest of what it computes (its
    fields except ``work_dir``, ``threads`` and ``tag``), so a changed job is
    run afresh. A ``data_root`` inside the repository enters the digest
    relative to it, so a clone or worktree elsewhere finds the same runs.
    Each result is flushed and fsynced as its job finishes: a killed
    benchmark loses no finished run.

    Args:
        path: The ``.jsonl`` file (created with its folder).
        legacy_roots: Repository paths that runs stored before the keys were
            made path-free were computed from (their absolute ``data_root``
            is in those keys); this clone's own path is always tried.
        also: Other stores whose runs are found too (read only: new runs go
            to ``path``), e.g. another study that trained the same jobs.
    """

    VOLATILE = ('work_dir', 'threads', 'tag', 'checkpoint_interval')
    # Fields added after the first stores were written: in the key only when
    # set, so the runs already stored are found again.
    LATER = ('classwise', 'val_interval', 'cfg_options')

    def __init__(self, path: str, legacy_roots: Sequence[str] = (),
                 also: Sequence[str] = ()) -> None:
        self.path = path
        self.legacy_roots = [REPO] + [r for r in legacy_roots if r != REPO]
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self._results: Dict[str, Dict[str, Any]] = {}
        for p in [q for q in also if q != path] + [path]:
            if not osp.isfile(p):
                continue
            with open(p) as f:
                for line in f:
                    try:
                        item = json.loads(line)
                    except json.JSONDecodeError:  # a line cut by a kill
                        continue
                    self._results[item['key']] = item['result']

    @classmethod
    def key(cls, job: Any, repo: Optional[str] = None) -> str:
        """The job's key; with ``repo``, the older form whose ``data_root``
        is absolute, as computed from a clone at ``repo``."""
        fields = {k: v for k, v in asdict(job).items()
                  if k not in cls.VOLATILE and not (k in cls.LATER and not v)}
        root = fields.get('data_root')
        if isinstance(root, str) and osp.isabs(root) and \
                osp.commonpath([osp.abspath(root), REPO]) == REPO:
            rel = osp.relpath(root, REPO)
            fields['data_root'] = osp.join(repo, rel) if repo else osp.join('<repo>', rel)
        digest = hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode())
        return f'{getattr(job, "name", "")}@{digest.hexdigest()[:12]}'

    def get(self, job: Any) -> Optional[Dict[str, Any]]:
        for key in [self.key(job)] + [self.key(job, r) for r in self.legacy_roots]:
            if key in self._results:
                return self._results[key]
        return None

    def put(self, job: Any, result: Dict[str, Any]) -> None:
        key = self.key(job)
        with open(self.path, 'a') as f:
            f.write(json.dumps(dict(key=key, result=result), sort_keys=True) + '\n')
            f.flush()
            os.fsync(f.fileno())
        self._results[key] = result

    def __len__(self) -> int:
        return len(self._results)


def _init_worker(threads: int, parent: int) -> None:
    import torch

    from mmseg_autoloss.search.workers import die_with_parent
    die_with_parent(parent)  # a killed study leaves no training behind
    torch.set_num_threads(threads)
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    warnings.filterwarnings('ignore')


def run_jobs(jobs: Sequence[Job], workers: int = 2,
             on_result: Optional[Callable[[Job, Dict[str, Any]], None]] = None,
             store: Optional[ResultStore] = None) -> List[Dict[str, Any]]:
    """Run ``jobs``; results come back in the order of ``jobs``.

    Args:
        jobs: The runs.
        workers: Spawned worker processes (each runs one job at a time);
            0 runs the jobs one after the other in this process.
        on_result: Called with (job, result) as each job finishes (not for
            results taken from ``store``).
        store: Keeps each finished result; jobs already in it are not run.

    Returns:
        list[dict]: :func:`train_and_evaluate`'s result per job.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f'workers must be an integer >= 0, got {workers!r}')
    results: List[Optional[Dict[str, Any]]] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        results[i] = None if store is None else store.get(job)
        if results[i] is None:
            todo.append(i)

    def finished(i: int, result: Dict[str, Any]) -> None:
        results[i] = result
        if store is not None:
            store.put(jobs[i], result)
        if on_result is not None:
            on_result(jobs[i], result)

    if workers == 0 or len(todo) <= 1:
        for i in todo:
            finished(i, train_and_evaluate(jobs[i]))
        return results  # type: ignore[return-value]
    threads = max(jobs[i].threads for i in todo)
    # spawn, not fork: a forked child would inherit this process's torch
    # thread pool and mmengine singletons.
    with cf.ProcessPoolExecutor(min(workers, len(todo)), mp_context=mp.get_context('spawn'),
                                initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        futures = {pool.submit(train_and_evaluate, jobs[i]): i for i in todo}
        for fut in cf.as_completed(futures):
            finished(futures[fut], fut.result())
    return results  # type: ignore[return-value]


def run_adaptive(jobs: Sequence[Job], workers: int,
                 then: Callable[[Job, Dict[str, Any]], Sequence[Job]],
                 store: Optional[ResultStore] = None,
                 on_result: Optional[Callable[[Job, Dict[str, Any]], None]] = None,
                 last_start: Optional[float] = None) -> List[Tuple[Job, Dict[str, Any]]]:
    """Run ``jobs`` and the jobs their results call for, keeping every worker
    busy: ``then(job, result)`` returns follow-up jobs (e.g. more seeds once a
    learning-rate grid is complete), which go to the front of the queue.

    Args:
        jobs: The first runs, in the order they should start.
        workers: Spawned worker processes (>= 1).
        then: Called once per finished job (also for results taken from
            ``store``), in this process.
        store: Keeps each finished result; jobs already in it are not run.
        on_result: Called with (job, result) as each job finishes, after
            ``then`` (not for results taken from ``store``).
        last_start: A ``time.time()`` after which no job starts (the running
            ones finish; the rest stays for a rerun), e.g. so that nothing
            is cut off half-trained when the machine goes away.

    Returns:
        list[tuple]: (job, result) of every job, in the order they finished.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f'workers must be an integer >= 1, got {workers!r}')
    queue = list(jobs)
    done: List[Tuple[Job, Dict[str, Any]]] = []
    seen = set()
    held: List[str] = []

    def finished(job: Job, result: Dict[str, Any]) -> None:
        done.append((job, result))
        queue[:0] = [j for j in then(job, result)]

    threads = max([j.threads for j in jobs] or [1])
    with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context('spawn'),
                                initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        running: Dict[cf.Future, Job] = {}
        while queue or running:
            while queue and len(running) < workers:
                job = queue.pop(0)
                key = ResultStore.key(job)
                if key in seen:
                    continue
                seen.add(key)
                cached = None if store is None else store.get(job)
                if cached is not None:
                    finished(job, cached)
                elif last_start is not None and time.time() > last_start:
                    held.append(job.name or key)
                else:
                    at = _checkpoint_iter(job.work_dir) if job.checkpoint_interval else 0
                    print(f"[{time.strftime('%H:%M')}] start {job.name or key}"
                          + (f' (resuming at iteration {at})' if at else ''), flush=True)
                    running[pool.submit(train_and_evaluate, job)] = job
            if not running:
                continue
            ready, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in ready:
                job = running.pop(fut)
                result = fut.result()
                if store is not None:
                    store.put(job, result)
                finished(job, result)
                if on_result is not None:
                    on_result(job, result)
    if held:
        print(f'--last-start passed: {len(held)} run(s) not started, left for a rerun: '
              + ', '.join(held), flush=True)
    return done


def ensure_dataset(data_root: str, sizes: Sequence[int], seed: int = 0) -> str:
    """Generate the synthetic shapes at ``data_root`` unless already there
    with the same settings; returns the absolute root."""
    from mmseg_autoloss.datasets import generate_synthetic_dataset
    root = data_root if osp.isabs(data_root) else osp.join(REPO, data_root)
    generate_synthetic_dataset(root, splits=dict(zip(('train', ) + SPLITS, sizes)),
                               img_size=64, num_classes=6, seed=seed)
    return root


def write_results(out: str, text: str, data: Dict[str, Any], draw: Callable[[], Any]) -> None:
    """Write a benchmark's table ``out`` (markdown), its plot (the matplotlib
    figure ``draw()`` returns, same stem, ``.png``) and its numbers (same
    stem, ``.json``), and print the table."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    stem = osp.splitext(out)[0]
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig = draw()
    fig.tight_layout()
    fig.savefig(stem + '.png', dpi=110)
    plt.close(fig)
    with open(out, 'w') as f:
        f.write(text)
    with open(stem + '.json', 'w') as f:
        json.dump(data, f, indent=1)
    print(text)
    print(f'written: {out}, {stem}.png, {stem}.json')


def start_study() -> float:
    """Set up a study's process (one torch thread, quiet logs) and return its
    start time (``time.perf_counter``)."""
    import torch
    torch.set_num_threads(1)
    quiet()
    return time.perf_counter()


def add_retrain_args(p) -> None:
    """The retraining and machine options the search studies share."""
    p.add_argument('--retrain-seeds', type=int, nargs='+', default=None, help='default 0 1')
    p.add_argument('--retrain-iters', type=int, default=None, help='default 800')
    p.add_argument('--lr', type=float, default=None,
                   help="retraining learning rate (default 0.4, CE's pick on val at 800 "
                   'iterations in schedule_plateau.md; on another machine CE picked 0.8)')
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--sizes', type=int, nargs=3, default=None, metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--data-root', default=None)
    p.add_argument('--workers', type=int, default=None,
                   help='proxy/retrain processes, 1 torch thread each (0: this process; default '
                   '2, --quick 0)')


def study_paths(args, name: str, argv) -> None:
    """Resolve ``args.work_dir`` against the repository, default ``args.out``
    (under the work dir for ``--quick``, else ``benchmarks/results/<name>.md``)
    and keep the command line in ``args.argv``."""
    args.work_dir = osp.abspath(args.work_dir if osp.isabs(args.work_dir)
                                else osp.join(REPO, args.work_dir))
    if args.out is None:
        args.out = (osp.join(args.work_dir, f'{name}.md') if args.quick else
                    osp.join(REPO, 'benchmarks', 'results', f'{name}.md'))
    args.argv = list(sys.argv[1:] if argv is None else argv)


# options that say when to stop, not what is computed: a results file's
# command leaves them out, so it reruns the whole study
SESSION_OPTIONS = ('--last-start', )


def command_line(script: str, argv: Sequence[str]) -> str:
    """How the results file names the command that wrote it."""
    words: List[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a.split('=')[0] in SESSION_OPTIONS:
            skip = '=' not in a
        else:
            words.append(a)
    return f'python benchmarks/{osp.basename(script)}' + ''.join(' ' + a for a in words)


def quiet() -> None:
    """Keep this process's console to the benchmark's own lines."""
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    warnings.filterwarnings('ignore')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
