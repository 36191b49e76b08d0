# Paper-scale search (GPU): R50-DeepLabV3+ proxies on PASCAL VOC 2012 train,
# 1500 hold-out images. Needs data/VOCdevkit (see MMSeg's dataset docs).
#   torchrun --nproc_per_node=8 tools/search.py THIS_FILE --launcher pytorch
_base_ = [
    '../_base_/models/deeplabv3plus_r50-d8_proxy-128x128.py',
    'mmseg::_base_/datasets/pascal_voc12.py', '../_base_/default_runtime.py',
    '../_base_/search/paper_gpu.py'
]
model = dict(decode_head=dict(num_classes=21), auxiliary_head=dict(num_classes=21))
search = dict(target_metric='mIoU')
