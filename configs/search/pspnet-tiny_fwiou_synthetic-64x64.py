# CPU quick-start: search a FWIoU surrogate with tiny pspnet proxies.
_base_ = ['./pspnet-tiny_miou_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='FWIoU')),
             auxiliary_head=dict(loss_decode=dict(target_metric='FWIoU')))
search = dict(target_metric='FWIoU')
