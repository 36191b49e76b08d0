# Full-size R50-DeepLabV3+ (GPU), the paper's search proxy.
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
