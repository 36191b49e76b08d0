# Paper setting (GPU): R101-DeepLabV3+ retrained 10k iterations on VOC aug with
# the mIoU surrogate (authors' preset 'voc_miou' unless --loss-params is given).
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_autoloss'], allow_failed_imports=False)
model = dict(
    decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                      preset='voc_miou')),
    auxiliary_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                         preset='voc_miou', loss_weight=0.4)))
train_cfg = dict(max_iters=10000, val_interval=1000)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=10000, by_epoch=False)]
val_evaluator = dict(_delete_=True, type='SegMetric',
                     metrics=['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1'], tol=5)
test_evaluator = val_evaluator
# final val / test metrics as JSON in the work dir (tools/compare_runs.py reads them)
custom_hooks = [dict(type='FinalMetricsHook')]
