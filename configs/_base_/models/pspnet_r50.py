# Full-size R50-PSPNet (GPU).
_base_ = ['mmseg::_base_/models/pspnet_r50-d8.py']
