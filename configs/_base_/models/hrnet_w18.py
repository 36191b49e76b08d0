# Full-size HRNet-W18 + FCN head (GPU).
_base_ = ['mmseg::_base_/models/fcn_hr18.py']
