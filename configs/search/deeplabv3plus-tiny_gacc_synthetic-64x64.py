# CPU quick-start: search a gAcc surrogate with tiny deeplabv3plus proxies.
_base_ = ['./deeplabv3plus-tiny_miou_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='gAcc')),
             auxiliary_head=dict(loss_decode=dict(target_metric='gAcc')))
search = dict(target_metric='gAcc')
