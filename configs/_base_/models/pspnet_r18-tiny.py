# Tiny PSPNet proxy for CPU (see tiny_common.py).
_base_ = ['mmseg::_base_/models/pspnet_r50-d8.py', './tiny_common.py']
model = dict(
    pretrained=None,
    data_preprocessor={{_base_.tiny_preprocessor}},
    backbone={{_base_.tiny_resnet}},
    decode_head=dict(in_channels=128, channels=32, num_classes={{_base_.num_classes}},
                     norm_cfg={{_base_.tiny_norm_cfg}}),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes={{_base_.num_classes}},
                        norm_cfg={{_base_.tiny_norm_cfg}}))
