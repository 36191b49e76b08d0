"""The search's hold-out split of the training set: random images, or whole
groups of them.

Neighbouring video frames are near-duplicates, so a random hold-out of a
video dataset leaks: its frames have near-copies in training, and the reward
then favours memorisation. ``group`` (a regular expression whose first
capture group names an image's group, e.g. CamVid's sequence prefix
``'^([^_]+)_'``) keeps every group on one side: the held-out groups are
``groups`` when given, else whole groups drawn at random until ``size`` /
``fraction`` images are held out.
"""
import re
from collections import Counter
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = ['hold_out_split', 'group_of']


def group_of(name: str, group: str) -> str:
    """The group of image ``name`` under the pattern ``group``."""
    m = re.search(group, name)
    if m is None or not m.groups():
        raise ValueError(f'search.hold_out.group={group!r} does not match image {name!r} (it '
                         'must match every image name and have one capture group)')
    return m.group(1)


def hold_out_split(names: Sequence[str], size: Optional[int] = None,
                   fraction: Optional[float] = None, seed: int = 0,
                   group: Optional[str] = None,
                   groups: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
    """Split image ``names`` into ``{'train': [...], 'hold_out': [...]}``
    (each sorted).

    Args:
        names: Image names of the training set.
        size: Images to hold out (at least, with ``group``).
        fraction: Or the fraction of images to hold out.
        seed: Seed of the random choice.
        group: Pattern whose first capture group is an image's group.
        groups: With ``group``: exactly these groups are held out.

    Returns:
        dict: Both lists, sorted; neither is empty.
    """
    names = sorted(names)
    if group is None:
        n = _target(size, fraction, len(names))
        order = np.random.default_rng(seed).permutation(len(names))
        held = {names[i] for i in order[:n]}
    else:
        of = {name: group_of(name, group) for name in names}
        present = sorted(set(of.values()))
        if groups is not None:
            unknown = sorted(set(groups) - set(present))
            if unknown:
                raise ValueError(f'search.hold_out.groups has {unknown}, which no image is in '
                                 f'(the groups are {present})')
            chosen = set(groups)
        else:
            n = _target(size, fraction, len(names))
            sizes = Counter(of.values())
            chosen, count = set(), 0
            for k in np.random.default_rng(seed).permutation(len(present)):
                if count >= n:
                    break
                chosen.add(present[k])
                count += sizes[present[k]]
        held = {name for name in names if of[name] in chosen}
    train = [n for n in names if n not in held]
    if not train or not held:
        raise ValueError(f'the hold-out split leaves {len(train)} train and {len(held)} '
                         f'hold-out images of {len(names)}: both must be non-empty')
    return dict(train=train, hold_out=sorted(held))


def _target(size: Optional[int], fraction: Optional[float], total: int) -> int:
    n = size if size is not None else int(round(fraction * total))
    if n < 1 or n >= total:
        raise ValueError(f'search.hold_out gives {n} hold-out images but the training set has '
                         f'{total}: it must leave images to train on')
    return n
