# Tiny DeepLabV3+ on the synthetic shapes: cross-entropy plus the
# boundary-aware ReCAM-style loss (method.md §7) on the decode head.
# A list of losses replaces the base CrossEntropyLoss dict instead of
# merging into it; MMSeg sums the items and logs each under its loss_name.
_base_ = ['../baseline/deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, loss_name='loss_ce'),
        dict(
            type='BoundaryReCAMLoss',
            mask_source='prob',      # soft mask = softmax probability of class k
            tol=2,                   # band half width around each GT class boundary
            boundary_weight=1.0,     # 0 = plain ReCAM-style pooling
            use_reclassifier=True,   # ReCAM's FC2: learnable C x C, starts at identity
            num_classes={{_base_.num_classes}},
            loss_weight=1.0,         # ReCAM's lambda (1 on VOC)
            loss_name='loss_recam'),
    ]))
