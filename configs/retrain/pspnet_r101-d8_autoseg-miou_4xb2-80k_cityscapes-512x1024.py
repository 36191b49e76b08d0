# Transfer (GPU): the mIoU surrogate on pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.
_base_ = ['mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmseg_autoloss'], allow_failed_imports=False)
model = dict(decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                               preset='voc_miou')))
val_evaluator = dict(_delete_=True, type='SegMetric', metrics=['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1'])
test_evaluator = val_evaluator
