# CPU quick-start: search a FWIoU surrogate with tiny deeplabv3plus proxies.
_base_ = ['./deeplabv3plus-tiny_miou_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='FWIoU')),
             auxiliary_head=dict(loss_decode=dict(target_metric='FWIoU')))
search = dict(target_metric='FWIoU')
