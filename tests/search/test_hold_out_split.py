"""search.splits.hold_out_split: random images as before, or whole groups."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_autoloss.search.splits import hold_out_split

CAMVID = [f'0001TP_{i:06d}' for i in range(6)] + [f'0006R0_f{i:05d}' for i in range(10)] + \
    [f'0016E5_{i:05d}' for i in range(20)]
SEQ = r'^([^_]+)_'


def test_without_groups_it_is_the_runners_earlier_random_split():
    names = [f'img_{i:03d}' for i in range(40)]
    split = hold_out_split(list(reversed(names)), fraction=0.2, seed=3)
    order = np.random.default_rng(3).permutation(40)
    assert split['hold_out'] == sorted(names[i] for i in order[:8])
    assert split['train'] == sorted(names[i] for i in order[8:])


def test_named_groups_are_held_out_whole():
    split = hold_out_split(CAMVID, group=SEQ, groups=['0006R0'])
    assert split['hold_out'] == [n for n in CAMVID if n.startswith('0006R0')]
    assert len(split['train']) == 26


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 8), min_size=2, max_size=6), frac=st.floats(0.05, 0.6),
       seed=st.integers(0, 1000))
def test_random_groups_never_split_a_group(sizes, frac, seed):
    names = [f'g{g}_{i}' for g, n in enumerate(sizes) for i in range(n)]
    try:
        split = hold_out_split(names, fraction=frac, seed=seed, group=r'^(g\d+)_')
    except ValueError as err:  # every group drawn: nothing left to train on
        assert 'both must be non-empty' in str(err) or 'must leave images' in str(err)
        return
    held = {n.split('_')[0] for n in split['hold_out']}
    kept = {n.split('_')[0] for n in split['train']}
    assert not held & kept
    assert sorted(split['train'] + split['hold_out']) == sorted(names)
    # whole groups are added until the target is reached, and no more: the
    # last one added (some held group) was still needed
    target = int(round(frac * len(names)))
    assert len(split['hold_out']) >= target
    assert any(len(split['hold_out']) - sum(1 for n in split['hold_out'] if n.startswith(g + '_'))
               < target for g in held)


@pytest.mark.parametrize('kwargs, says', [
    (dict(group=SEQ, groups=['0005VD']), r"groups has \['0005VD'\], which no image is in"),
    (dict(group=r'^(\d+)X', groups=['1']), r"group='\^\(\\\\d\+\)X' does not match image"),
    (dict(group=SEQ, groups=['0001TP', '0006R0', '0016E5']), 'both must be non-empty'),
    (dict(size=36), 'gives 36 hold-out images but the training set has 36'),
])
def test_bad_hold_out_settings_name_the_field_and_value(kwargs, says):
    with pytest.raises(ValueError, match=says):
        hold_out_split(CAMVID, **kwargs)
