# Full-size HRNet-W48 + FCN head (GPU).
_base_ = ['mmseg::_base_/models/fcn_hr18.py']
model = dict(
    pretrained='open-mmlab://msra/hrnetv2_w48',
    backbone=dict(extra=dict(
        stage2=dict(num_channels=(48, 96)),
        stage3=dict(num_channels=(48, 96, 192)),
        stage4=dict(num_channels=(48, 96, 192, 384)))),
    decode_head=dict(in_channels=[48, 96, 192, 384], channels=sum([48, 96, 192, 384])))
