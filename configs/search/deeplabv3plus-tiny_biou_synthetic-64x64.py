# CPU quick-start: search a BIoU surrogate with tiny deeplabv3plus proxies.
_base_ = ['./deeplabv3plus-tiny_miou_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BIoU')),
             auxiliary_head=dict(loss_decode=dict(target_metric='BIoU')))
search = dict(target_metric='BIoU', drop_bg=True)
