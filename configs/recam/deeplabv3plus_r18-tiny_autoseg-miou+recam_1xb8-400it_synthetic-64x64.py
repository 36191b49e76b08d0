# Tiny DeepLabV3+ on the synthetic shapes: the authors' searched mIoU
# surrogate (AutoSegLoss, preset 'voc_miou') plus the boundary-aware
# ReCAM-style loss on the decode head.
_base_ = ['../baseline/deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou', loss_weight=1.0),
        dict(
            type='BoundaryReCAMLoss',
            mask_source='prob',
            tol=2,
            boundary_weight=1.0,
            use_reclassifier=True,
            num_classes={{_base_.num_classes}},
            loss_weight=1.0,
            loss_name='loss_recam'),
    ]))
