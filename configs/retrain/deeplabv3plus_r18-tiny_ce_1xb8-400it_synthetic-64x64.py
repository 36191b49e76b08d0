# Cross-entropy baseline evaluated with every metric of the plugin; the
# retrain configs of this folder inherit from it.
_base_ = [
    '../_base_/models/deeplabv3plus_r18-tiny.py', '../_base_/datasets/synthetic_shapes_seg-metric.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_400it.py'
]
