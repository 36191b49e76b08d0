# Paper-scale search (GPU) on Cityscapes train with 500 hold-out images.
_base_ = [
    '../_base_/models/deeplabv3plus_r50-d8_proxy-128x128.py',
    'mmseg::_base_/datasets/cityscapes.py', '../_base_/default_runtime.py',
    '../_base_/search/paper_gpu.py'
]
search = dict(target_metric='mIoU', hold_out=dict(_delete_=True, size=500, seed=0))
