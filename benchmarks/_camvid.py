"""What the CamVid studies share: the data, the configs and a job.

The selection protocol: a setting (learning rate, schedule, loss parameters)
is chosen on the selection split (train minus sequence 0006R0, judged on
0006R0: ``configs/_base_/datasets/camvid_select.py``); results are reported
on CamVid's val split. In a :class:`~_common.Job` the 'val' split is the
hold-out and 'test' is CamVid val; ``full_train=True`` trains on all of
train instead (then only 'test', CamVid val, is evaluated).
"""
import argparse
import copy
import functools
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

from _common import REPO, Job
from compare_losses import MODEL_NAMES  # noqa: F401  (the CamVid studies import it from here)
from compare_losses import best_lr

MODEL_CONFIGS = {
    'deeplabv3plus': 'configs/camvid/deeplabv3plus_r18-tiny_1xb8-4k_camvid-128x128.py',
    'pspnet': 'configs/camvid/pspnet_r18-tiny_1xb8-4k_camvid-128x128.py',
    'hrnet': 'configs/camvid/fcn_hr-tiny_1xb8-4k_camvid-128x128.py',
}
SELECT_CONFIG = 'configs/_base_/datasets/camvid_select.py'
DATA_ROOT = osp.join(REPO, 'data', 'camvid')
SHARED_SRC = osp.join(osp.dirname(REPO), 'shared', 'datasets', 'camvid')
SPLIT_NAMES = dict(val='hold-out 0006R0', test='CamVid val')
TOL = 2  # BIoU/BF1 tolerance at 240x180
CHECKPOINT_INTERVAL = 500  # a killed run resumes from its last 500-iteration mark
# The worktree the first CamVid runs were computed from, before store keys
# were made path-free (their keys hold its absolute data_root).
LEGACY_ROOTS = ('/work/wt_study', )


def add_study_args(p, study: str) -> None:
    """The data, machine and output options every CamVid study takes."""
    results = osp.join(REPO, 'benchmarks', 'results')
    p.add_argument('--data-root', default=DATA_ROOT,
                   help='converted CamVid (converted from --src when missing)')
    p.add_argument('--src', default=SHARED_SRC, help="CamVid in the download's layout")
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', study))
    p.add_argument('--store', default=osp.join(results, f'{study}.jsonl'))
    p.add_argument('--out', default=osp.join(results, f'{study}.md'))
    p.add_argument('--last-start', type=_clock, default=None, metavar='HH:MM',
                   help="start no run after this time of day (the running ones finish; a "
                        "rerun does the rest), e.g. so none is cut off when the machine goes; "
                        "'now': only write the report from the store")


PLATEAU_STORE = osp.join(REPO, 'benchmarks', 'results', 'camvid_plateau.jsonl')


def add_also_stores(p) -> None:
    """``--also-stores``: where a study finds CE's runs (the plateau study's
    store by default; its jobs are the same, so they are not run again)."""
    p.add_argument('--also-stores', nargs='*', default=[PLATEAU_STORE],
                   help="other studies' stores whose identical runs count (read only)")


LADDER = [0.05, 0.1, 0.2, 0.4, 0.8]  # the default lr ladder of the CamVid studies


def add_ladder_args(p, start_help: str) -> None:
    """``--lrs`` (the ladder every arm brackets its lr on) and ``--start-lr``."""
    p.add_argument('--lrs', type=float, nargs='+', default=LADDER,
                   help='the lr ladder (ascending) each arm brackets its lr on')
    p.add_argument('--start-lr', type=float, default=None,
                   help=f'{start_help} (default: the middle of the ladder)')


def check_ladder(p, args) -> None:
    """Sort ``--lrs`` and default/check ``--start-lr`` against it."""
    if min(args.lrs) <= 0:
        p.error(f'--lrs ({args.lrs}) must be > 0')
    args.lrs = sorted(args.lrs)
    if args.start_lr is None:
        args.start_lr = args.lrs[len(args.lrs) // 2]
    if args.start_lr not in args.lrs:
        p.error(f'--start-lr ({args.start_lr:g}) must be one of --lrs ({args.lrs})')


def _clock(text: str) -> float:
    """'HH:MM' today (tomorrow if already past) as a ``time.time()``; 'now'."""
    import datetime as dt
    import time
    if text == 'now':
        return time.time()
    try:
        hh, mm = (int(v) for v in text.split(':'))
        when = dt.datetime.now().replace(hour=hh, minute=mm, second=0, microsecond=0)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HH:MM, got {text!r}') from None
    if when < dt.datetime.now():
        when += dt.timedelta(days=1)
    return when.timestamp()


def bracket_lr(ladder: Sequence[float], scores: Dict[float, float],
               start: Sequence[float]) -> Tuple[Optional[float], List[float]]:
    """A learning rate bracketed on ``ladder``: (chosen lr, []) or (None, the
    lrs to run next).

    The lrs of ``start`` run first; then, while the best lr run so far (the
    smaller on a tie) has a ladder neighbour not run yet, that neighbour runs.
    The choice is the best lr whose neighbours both ran and scored no better,
    so no point far from it costs a run, and it is at an end of the grid
    only where the ladder ends there (widen the ladder then). Scores of lrs
    off the ladder are ignored.

    Args:
        ladder: The lr grid, ascending.
        scores: lr -> score (higher is better) of the runs finished so far.
        start: The lrs to run first (on the ladder).
    """
    scores = {lr: v for lr, v in scores.items() if lr in ladder}
    missing = [lr for lr in start if lr not in scores]
    if missing:
        return None, missing
    best = best_lr(scores)
    i = list(ladder).index(best)
    need = [ladder[j] for j in (i - 1, i + 1)
            if 0 <= j < len(ladder) and ladder[j] not in scores]
    return (None, need) if need else (best, [])


def around(ladder: Sequence[float], lr: float) -> List[float]:
    """``lr`` and its neighbours on ``ladder``."""
    i = list(ladder).index(lr)
    return list(ladder[max(i - 1, 0):i + 2])


def check_distinct(p, args, keys: Sequence[str]) -> None:
    """``p.error`` unless each list option of ``keys`` has distinct values."""
    for key in keys:
        v = getattr(args, key)
        if len(set(v)) != len(v):
            p.error(f'--{key} must be distinct, got {v}')


def ensure_camvid(data_root: str = DATA_ROOT, src: str = SHARED_SRC) -> str:
    """``data_root`` with the converted CamVid, converting ``src`` (the
    download's layout) there first when it is missing."""
    if not osp.isfile(osp.join(data_root, 'splits', 'select_holdout.txt')):
        import sys
        sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
        from camvid import convert
        print(f'converting {src} -> {data_root}', flush=True)
        convert(src, data_root)
    return data_root


@functools.lru_cache(maxsize=None)
def _select_loaders() -> Dict[str, Any]:
    """The selection split's loaders, read once per process."""
    from mmengine.config import Config
    sel = Config.fromfile(osp.join(REPO, SELECT_CONFIG))
    return {f'{s}_dataloader': sel[f'{s}_dataloader'].to_dict() for s in ('train', 'val', 'test')}


def camvid_job(model: str, name: str, iters: int, lr: float, seed: int, data_root: str,
               work_root: str, decode_loss: Any = None, aux_loss: Any = None,
               full_train: bool = False, batch_size: int = 8,
               tag: Optional[Dict[str, Any]] = None) -> Job:
    """One tiny-model run on CamVid: on the selection split (evaluated on
    the hold-out and on val) or, with ``full_train``, on all of train
    (evaluated on val)."""
    name = f'{model}_{name}_lr{lr:g}_s{seed}_{iters}it' + ('_full' if full_train else '')
    splits: Tuple[str, ...] = ('test', ) if full_train else ('val', 'test')
    return Job(config=MODEL_CONFIGS[model], work_dir=osp.join(work_root, name), seed=seed,
               iters=iters, batch_size=batch_size, data_root=data_root, lr=lr,
               decode_loss=decode_loss, aux_loss=aux_loss, splits=splits, tol=TOL, threads=1,
               name=name, classwise=True, cfg_options=camvid_options(full_train),
               checkpoint_interval=CHECKPOINT_INTERVAL,
               tag=dict(tag or {}, model=model, lr=lr, seed=seed, iters=iters,
                        full_train=full_train))


def camvid_options(full_train: bool) -> Dict[str, Any]:
    """The loaders of a run: the selection split's, or (``full_train``) all
    of train with CamVid val as 'test'."""
    opts = copy.deepcopy(_select_loaders())
    if full_train:
        opts['train_dataloader']['dataset']['ann_file'] = ''  # every train frame
        # validation during training (a job's curve) reads CamVid val too
        opts['val_dataloader'] = opts['test_dataloader']
    return opts
