# Tiny deeplabv3plus with cross-entropy on the synthetic shapes (CPU baseline).
_base_ = [
    '../_base_/models/deeplabv3plus_r18-tiny.py', '../_base_/datasets/synthetic_shapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_400it.py'
]
