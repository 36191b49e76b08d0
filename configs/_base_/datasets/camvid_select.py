# CamVid's selection split, for choosing settings (lr, schedule, loss
# parameters) without touching val: train on train minus sequence 0006R0
# (splits/select_train.txt), validate on 0006R0 (splits/select_holdout.txt;
# neighbouring frames are near-duplicates, so the hold-out is a whole drive).
# The test loader reads CamVid's val split: the number to REPORT once the
# settings are fixed. Both lists are written by tools/dataset_converters/camvid.py.
_base_ = ['./camvid.py']
train_dataloader = dict(dataset=dict(ann_file='splits/select_train.txt'))
val_dataloader = dict(dataset=dict(
    ann_file='splits/select_holdout.txt',
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')))
test_dataloader = dict(dataset=dict(
    data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
