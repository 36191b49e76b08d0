"""Deterministic synthetic segmentation data in MMSeg's on-disk layout.

The generator draws shapes of very different sizes and frequencies (large
blobs, medium polygons, many small disks, thin lines, a rare class) over a
textured background, lets them occlude each other, and marks a few void
regions with ``ignore_index``. It writes::

    data_root/img_dir/{split}/{name}.png     # RGB images
    data_root/ann_dir/{split}/{name}.png     # uint8 label maps
    data_root/meta.json                      # classes, palette, settings

so that :class:`SyntheticShapesDataset` (a plain ``BaseSegDataset``) reads it
through MMSeg's real pipeline.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

IGNORE_INDEX = 255

# One entry per foreground shape kind: (name, drawer, objects per image range,
# probability that the kind appears in an image at all).
_KINDS = (
    ('blob', 'ellipse_large', (1, 2), 0.9),
    ('box', 'polygon_medium', (1, 3), 0.7),
    ('dot', 'disk_small', (3, 9), 0.8),
    ('wire', 'thin_line', (1, 3), 0.6),
    ('rare', 'triangle', (1, 1), 0.2),
)

_BASE_PALETTE = [
    (40, 40, 40), (220, 60, 60), (60, 180, 75), (255, 225, 25),
    (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
    (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128),
]


def class_names(num_classes: int) -> List[str]:
    """Class names for ``num_classes`` classes, background first."""
    if num_classes < 2:
        raise ValueError(f'num_classes must be >= 2, got {num_classes}')
    names = ['background']
    for i in range(num_classes - 1):
        kind = _KINDS[i % len(_KINDS)][0]
        names.append(kind if i < len(_KINDS) else f'{kind}{i // len(_KINDS)}')
    return names


def class_palette(num_classes: int) -> List[List[int]]:
    """A distinct RGB colour per class (for visualisation)."""
    return [list(_BASE_PALETTE[i % len(_BASE_PALETTE)]) for i in range(num_classes)]


def _texture(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Smooth random texture in [-1, 1] with features of ``scale`` pixels."""
    coarse = rng.standard_normal((max(2, size // scale), max(2, size // scale)))
    tex = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(tex / 2.0, -1.0, 1.0)


def _draw_mask(rng: np.random.Generator, drawer: str, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    s = size
    if drawer == 'ellipse_large':
        center = tuple(int(v) for v in rng.integers(s // 5, 4 * s // 5, 2))
        axes = tuple(int(v) for v in rng.integers(s // 6, s // 3, 2))
        cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    elif drawer == 'polygon_medium':
        c = rng.integers(s // 6, 5 * s // 6, 2)
        n = int(rng.integers(4, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(s / 12, s / 5, n)
        pts = np.stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)], 1)
        cv2.fillPoly(mask, [pts.round().astype(np.int32)], 1)
    elif drawer == 'disk_small':
        center = tuple(int(v) for v in rng.integers(2, s - 2, 2))
        cv2.circle(mask, center, int(rng.integers(1, max(2, s // 20) + 1)), 1, -1)
    elif drawer == 'thin_line':
        p0 = tuple(int(v) for v in rng.integers(0, s, 2))
        p1 = tuple(int(v) for v in rng.integers(0, s, 2))
        cv2.line(mask, p0, p1, 1, int(rng.integers(1, 3)))
    elif drawer == 'triangle':
        c = rng.integers(s // 5, 4 * s // 5, 2)
        r = rng.uniform(s / 10, s / 6)
        ang = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        pts = np.stack([c[0] + r * np.cos(ang), c[1] + r * np.sin(ang)], 1)
        cv2.fillPoly(mask, [pts.round().astype(np.int32)], 1)
    else:  # pragma: no cover - internal table
        raise KeyError(drawer)
    return mask.astype(bool)


def make_sample(rng: np.random.Generator, size: int, num_classes: int,
                ignore_prob: float = 0.3, noise: float = 0.25):
    """Draw one (image, label) pair.

    Args:
        rng: Random generator (the only source of randomness).
        size: Height and width in pixels.
        num_classes: Number of classes including background (label 0).
        ignore_prob: Probability that an image gets a void region and void
            outlines around its rare-class objects.
        noise: Standard deviation of the per-pixel colour noise (0-1 scale).

    Returns:
        tuple: ``uint8`` RGB image (H, W, 3) and ``uint8`` label map (H, W).
    """
    palette = np.asarray(class_palette(num_classes), np.float32) / 255.0
    label = np.zeros((size, size), np.uint8)
    img = palette[0] + 0.35 * _texture(rng, size, 8)[..., None] * np.array([1.0, 0.8, 0.6])
    # Draw every object in a random order so that later ones occlude earlier
    # ones regardless of class.
    objects = []
    for cls in range(1, num_classes):
        _, drawer, (lo, hi), prob = _KINDS[(cls - 1) % len(_KINDS)]
        if rng.random() < prob:
            objects += [(cls, drawer)] * int(rng.integers(lo, hi + 1))
    for k in rng.permutation(len(objects)):
        cls, drawer = objects[k]
        mask = _draw_mask(rng, drawer, size)
        label[mask] = cls
        tex = _texture(rng, size, int(rng.integers(2, 6)))[..., None]
        colour = palette[cls] + rng.uniform(-0.15, 0.15, 3)
        img[mask] = (colour + 0.2 * tex)[mask]
    if rng.random() < ignore_prob:
        y0, x0 = rng.integers(0, size - size // 8, 2)
        h, w = rng.integers(size // 16 + 1, size // 6 + 2, 2)
        label[y0:y0 + h, x0:x0 + w] = IGNORE_INDEX
        img[y0:y0 + h, x0:x0 + w] = rng.uniform(0, 1, 3)
        # Void outline around the rare class, like VOC's object borders.
        rare = label == min(len(_KINDS), num_classes - 1)
        if rare.any():
            ring = cv2.dilate(rare.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~rare
            label[ring] = IGNORE_INDEX
    img = img + noise * rng.standard_normal(img.shape)
    img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return img, label


def generate_synthetic_dataset(data_root: str,
                               splits: Optional[Dict[str, int]] = None,
                               img_size: int = 64,
                               num_classes: int = 6,
                               seed: int = 0,
                               ignore_prob: float = 0.3,
                               noise: float = 0.25,
                               overwrite: bool = False) -> dict:
    """Write a synthetic dataset in MMSeg's ``img_dir/ann_dir`` layout.

    Args:
        data_root: Output directory.
        splits: Images per split, default ``{'train': 160, 'val': 48,
            'test': 48}``.
        img_size: Image height and width.
        num_classes: Classes including background.
        seed: Seed; the same arguments always give the same files.
        ignore_prob: See :func:`make_sample`.
        noise: See :func:`make_sample`.
        overwrite: Regenerate even if ``meta.json`` says the data exists
            with the same settings.

    Returns:
        dict: The metadata written to ``data_root/meta.json``.
    """
    splits = dict(splits or {'train': 160, 'val': 48, 'test': 48})
    for name, n in splits.items():
        if not isinstance(n, int) or n < 1:
            raise ValueError(f'splits[{name!r}] must be a positive int, got {n!r}')
    if img_size < 16:
        raise ValueError(f'img_size must be >= 16, got {img_size}')
    meta = dict(classes=class_names(num_classes), palette=class_palette(num_classes),
                splits=splits, img_size=img_size, num_classes=num_classes,
                seed=seed, ignore_prob=ignore_prob, noise=noise,
                ignore_index=IGNORE_INDEX)
    meta_path = osp.join(data_root, 'meta.json')
    if not overwrite and osp.isfile(meta_path):
        with open(meta_path) as f:
            if json.load(f) == json.loads(json.dumps(meta)):
                return meta
    # One independent stream per split so adding a split changes no other.
    for split_idx, (split, n) in enumerate(sorted(splits.items())):
        rng = np.random.default_rng([seed, split_idx, n])
        img_dir = osp.join(data_root, 'img_dir', split)
        ann_dir = osp.join(data_root, 'ann_dir', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(n):
            img, label = make_sample(rng, img_size, num_classes, ignore_prob, noise)
            name = f'{split}_{i:05d}.png'
            cv2.imwrite(osp.join(img_dir, name), img[..., ::-1])
            cv2.imwrite(osp.join(ann_dir, name), label)
    with open(meta_path, 'w') as f:
        json.dump(meta, f, indent=1)
    return meta


def label_statistics(data_root: str, split: str, num_classes: int) -> np.ndarray:
    """Pixel count per class (and ignore as the last entry) of one split."""
    ann_dir = osp.join(data_root, 'ann_dir', split)
    counts = np.zeros(num_classes + 1, np.int64)
    for name in sorted(os.listdir(ann_dir)):
        lab = cv2.imread(osp.join(ann_dir, name), cv2.IMREAD_UNCHANGED)
        counts += np.bincount(np.where(lab == IGNORE_INDEX, num_classes, lab).ravel(),
                              minlength=num_classes + 1)[:num_classes + 1]
    return counts


def read_split_names(data_root: str, split: str) -> Sequence[str]:
    """Sorted image stems of one split."""
    img_dir = osp.join(data_root, 'img_dir', split)
    return sorted(osp.splitext(n)[0] for n in os.listdir(img_dir) if n.endswith('.png'))
