# Tiny DeepLabV3+ proxy for CPU: ResNetV1c-18 with 16 base channels,
# BN instead of SyncBN, no pretrained weights.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
norm_cfg = dict(type='BN', requires_grad=True)
num_classes = 6
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=128, channels=32, dilations=(1, 6, 12, 18),
                     c1_in_channels=16, c1_channels=8, num_classes=num_classes,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes=num_classes,
                        norm_cfg=norm_cfg))
