# PSPNet R50-D8 on CamVid at the download's 480x360, MMSeg's 20k schedule
# (4 GPUs x 4 images; ImageNet-pretrained backbone as in MMSeg's configs).
_base_ = [
    'mmseg::_base_/models/pspnet_r50-d8.py', '../_base_/datasets/camvid_480x360.py',
    '../_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_20k.py'
]
crop_size = (360, 480)
model = dict(data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=11),
             auxiliary_head=dict(num_classes=11))
