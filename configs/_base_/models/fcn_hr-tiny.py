# Tiny HRNet proxy for CPU: widths (8, 16, 32, 64), one block per branch, FCN
# head (see tiny_common.py).
_base_ = ['mmseg::_base_/models/fcn_hr18.py', './tiny_common.py']
model = dict(
    pretrained=None,
    data_preprocessor={{_base_.tiny_preprocessor}},
    backbone=dict(
        norm_cfg={{_base_.tiny_norm_cfg}},
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
                     num_classes={{_base_.num_classes}}, norm_cfg={{_base_.tiny_norm_cfg}}))
