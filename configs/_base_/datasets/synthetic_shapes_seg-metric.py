# The synthetic shapes evaluated with every metric of the plugin: mIoU on val
# (model selection), all metrics on test. tol=2 suits 64x64 images.
_base_ = ['./synthetic_shapes.py']
val_evaluator = dict(_delete_=True, type='SegMetric', metrics=['mIoU'], tol=2)
test_evaluator = dict(
    _delete_=True, type='SegMetric', tol=2, q=(5, ),
    metrics=['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C', 'mIoU_C_q'])
custom_hooks = [dict(type='FinalMetricsHook')]
