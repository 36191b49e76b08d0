# Tiny HRNet from scratch with cross-entropy on CamVid at the 240x180 CPU
# setting (128x128 crops, batch 8, 11 classes).
_base_ = [
    '../_base_/models/fcn_hr-tiny.py', '../_base_/datasets/camvid.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_4k.py'
]
crop_size = (128, 128)
model = dict(data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=11))
