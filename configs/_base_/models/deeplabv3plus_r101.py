# Full-size R101-DeepLabV3+ (GPU), the paper's retraining network.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
model = dict(pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
