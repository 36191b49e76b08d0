# Evaluate with every metric of the plugin; tol=2 suits 64x64 images.
val_evaluator = dict(type='SegMetric', metrics=['mIoU'], tol=2)
test_evaluator = dict(type='SegMetric',
                      metrics=['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C'],
                      tol=2, q=(5, ))
custom_hooks = [dict(type='FinalMetricsHook')]
