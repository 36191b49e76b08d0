# Cross-entropy baseline evaluated with every metric of the plugin (tol=2
# suits 64x64 images). The retrain configs of this folder inherit from it.
_base_ = ['../baseline/pspnet-tiny_ce_synthetic-64x64.py']
val_evaluator = dict(_delete_=True, type='SegMetric', metrics=['mIoU'], tol=2)
test_evaluator = dict(_delete_=True, type='SegMetric',
                      metrics=['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1', 'mIoU_I', 'mIoU_C', 'mIoU_C_q'],
                      tol=2, q=(5, ))
custom_hooks = [dict(type='FinalMetricsHook')]
