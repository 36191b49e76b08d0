# CPU quick-start: search a mAcc surrogate with tiny pspnet proxies.
_base_ = ['./pspnet-tiny_miou_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='mAcc')),
             auxiliary_head=dict(loss_decode=dict(target_metric='mAcc')))
search = dict(target_metric='mAcc')
