# The authors' search proxy (GPU): R50-DeepLabV3+ on 128x128 inputs with plain
# BN (each proxy is a single-GPU run), AutoSegLoss on both heads, and 10x the
# learning rate on the heads. The search config sets the target metric.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py', 'mmseg::_base_/schedules/schedule_20k.py']
bn = dict(type='BN', requires_grad=True)
__loss = dict(type='AutoSegLoss', target_metric='mIoU')
model = dict(
    data_preprocessor=dict(size=(128, 128)),
    backbone=dict(norm_cfg=bn),
    decode_head=dict(norm_cfg=bn, loss_decode=dict(__loss, _delete_=True)),
    auxiliary_head=dict(norm_cfg=bn, loss_decode=dict(__loss, _delete_=True, loss_weight=0.4)))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(decode_head=dict(lr_mult=10.0),
                                                         auxiliary_head=dict(lr_mult=10.0))))
