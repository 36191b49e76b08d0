# CPU quick-start: search a BIoU surrogate (see the mIoU config).
_base_ = ['./fcn_hr-tiny_search-miou_1xb8-quick_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BIoU')))
search = dict(target_metric='BIoU', drop_bg=True)
