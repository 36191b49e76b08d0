# Cross-entropy at the schedule where it is near its plateau on the synthetic
# shapes (1600 iterations, lr 0.8; see _base_/schedules/schedule_1600it.py),
# evaluated with every metric of the plugin.
_base_ = [
    '../_base_/models/deeplabv3plus_r18-tiny.py', '../_base_/datasets/synthetic_shapes_seg-metric.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_1600it.py'
]
