# Tiny HRNet proxy for CPU: HRNet with widths (8, 16, 32, 64) and one block
# per branch, BN, no pretrained weights.
_base_ = ['mmseg::_base_/models/fcn_hr18.py']
norm_cfg = dict(type='BN', requires_grad=True)
num_classes = 6
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(
        norm_cfg=norm_cfg,
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                        num_blocks=(1, ), num_channels=(16, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC',
                        num_blocks=(1, 1), num_channels=(8, 16)),
            stage3=dict(num_modules=1, num_branches=3, block='BASIC',
                        num_blocks=(1, 1, 1), num_channels=(8, 16, 32)),
            stage4=dict(num_modules=1, num_branches=4, block='BASIC',
                        num_blocks=(1, 1, 1, 1), num_channels=(8, 16, 32, 64)))),
    decode_head=dict(in_channels=[8, 16, 32, 64], channels=120,
                     num_classes=num_classes, norm_cfg=norm_cfg))
