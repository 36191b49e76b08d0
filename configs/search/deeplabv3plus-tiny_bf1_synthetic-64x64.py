# CPU quick-start: search a BF1 surrogate with tiny deeplabv3plus proxies.
_base_ = ['./deeplabv3plus-tiny_miou_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BF1')),
             auxiliary_head=dict(loss_decode=dict(target_metric='BF1')))
search = dict(target_metric='BF1')
