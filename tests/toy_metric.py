"""A user's target metric for the tests: one table entry plus one relaxed function."""
import contextlib
from typing import Iterator

from mmseg_autoloss.surrogates import (TargetMetric, register_target_metric, relaxed_miou,
                                       remove_target_metric)


def relaxed_miou_squared(probs, label, gs, **kwargs):
    """The toy: the relaxed mIoU squared (1 on one-hot input like any surrogate)."""
    return relaxed_miou(probs, label, gs, **kwargs)**2


# two g with one piece each (theta has 4 numbers, mIoU's default has 12);
# SegMetric's mIoU scores it
TOY = TargetMetric('mIoU_sq', num_g=2, num_pieces=1, relaxed=relaxed_miou_squared,
                   evaluator='mIoU')


@contextlib.contextmanager
def toy_registered() -> Iterator[TargetMetric]:
    """The toy in the table for the duration of a test, and gone after it."""
    register_target_metric(TOY)
    try:
        yield TOY
    finally:
        remove_target_metric(TOY.name)
