# CPU quick-start: search a BF1 surrogate (see the mIoU config).
_base_ = ['./pspnet_r18-tiny_search-miou_1xb8-quick_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BF1')),
             auxiliary_head=dict(loss_decode=dict(target_metric='BF1')))
search = dict(target_metric='BF1')
