"""The built-in target metrics, one row each (plain torch).

Every component reads a metric's facts from here through
:mod:`.target_metrics`: the number of g functions and default pieces (the
parameterization, theta's length), the relaxed function (``AutoSegLoss``),
the ``SegMetric`` metric and result key (the search's reward), and whether
it is a boundary metric with a ``tol`` (loss, reward, loss-params files).
A new metric is one row here (or a :func:`register_target_metric` call in a
user's ``custom_imports`` module) plus its relaxed function.
"""
from .relaxed_metrics import (relaxed_bf1, relaxed_biou, relaxed_fwiou, relaxed_gacc,
                              relaxed_macc, relaxed_mdice, relaxed_miou, relaxed_miou_class,
                              relaxed_miou_image)
from .target_metrics import TargetMetric, register_target_metric

__all__ = ['BUILTIN_TARGET_METRICS']

# Number of g: one per logical operation with a g of its own (method.md §2):
# AND, OR; accuracies only AND; BF1 the four operands of XOR(y, erode(y)).
# Default pieces: the authors' release, n = 2, BF1 n = 1 (SPEC §3).
BUILTIN_TARGET_METRICS = (
    TargetMetric('mIoU', num_g=2, relaxed=relaxed_miou),
    TargetMetric('FWIoU', num_g=2, relaxed=relaxed_fwiou),
    TargetMetric('mAcc', num_g=1, relaxed=relaxed_macc),
    # SegMetric's name for global accuracy is aAcc
    TargetMetric('gAcc', num_g=1, relaxed=relaxed_gacc, evaluator='aAcc'),
    TargetMetric('BIoU', num_g=2, relaxed=relaxed_biou, boundary=True),
    TargetMetric('BF1', num_g=4, relaxed=relaxed_bf1, num_pieces=1, boundary=True),
    TargetMetric('mDice', num_g=2, relaxed=relaxed_mdice),
    TargetMetric('mIoU_I', num_g=2, relaxed=relaxed_miou_image),
    TargetMetric('mIoU_C', num_g=2, relaxed=relaxed_miou_class),
)

for _entry in BUILTIN_TARGET_METRICS:
    register_target_metric(_entry, builtin=True)
