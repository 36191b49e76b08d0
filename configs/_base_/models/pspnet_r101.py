# Full-size R101-PSPNet (GPU).
_base_ = ['mmseg::_base_/models/pspnet_r50-d8.py']
model = dict(pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
