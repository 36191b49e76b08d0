# Paper-scale search (GPU): R50-DeepLabV3+ proxies on PASCAL VOC 2012 train,
# 1500 hold-out images. Needs data/VOCdevkit (see MMSeg's dataset docs).
# torchrun --nproc_per_node=8 tools/search.py THIS_FILE --launcher pytorch
_base_ = [
    '../_base_/models/deeplabv3plus_r50.py', 'mmseg::_base_/datasets/pascal_voc12.py',
    '../_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_20k.py',
    '../_base_/search/paper_gpu.py'
]
# Proxies are single-GPU runs: plain BN instead of SyncBN.
bn = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=(128, 128)),
    backbone=dict(norm_cfg=bn),
    decode_head=dict(num_classes=21, norm_cfg=bn,
                     loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU')),
    auxiliary_head=dict(num_classes=21, norm_cfg=bn,
                        loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                         loss_weight=0.4)))
# 10x learning rate on the heads, as in the authors' proxy.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(decode_head=dict(lr_mult=10.0),
                                                         auxiliary_head=dict(lr_mult=10.0))))
search = dict(
    target_metric='mIoU',
)
