# CPU quick-start: search a FWIoU surrogate (see the mIoU config).
_base_ = ['./deeplabv3plus_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='FWIoU')),
             auxiliary_head=dict(loss_decode=dict(target_metric='FWIoU')))
search = dict(target_metric='FWIoU')
