# CPU quick-start: search a BIoU surrogate with tiny hrnet proxies.
_base_ = ['./hrnet-tiny_miou_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BIoU')))
search = dict(target_metric='BIoU', drop_bg=True)
