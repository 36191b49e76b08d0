# Paper-scale search (GPU) on Cityscapes train with 500 hold-out images.
_base_ = [
    '../_base_/models/deeplabv3plus_r50.py', 'mmseg::_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_20k.py',
    '../_base_/search/paper_gpu.py'
]
bn = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=(128, 128)),
    backbone=dict(norm_cfg=bn),
    decode_head=dict(norm_cfg=bn,
                     loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU')),
    auxiliary_head=dict(norm_cfg=bn,
                        loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                         loss_weight=0.4)))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(decode_head=dict(lr_mult=10.0),
                                                         auxiliary_head=dict(lr_mult=10.0))))
search = dict(target_metric='mIoU', hold_out=dict(_delete_=True, size=500, seed=0))
