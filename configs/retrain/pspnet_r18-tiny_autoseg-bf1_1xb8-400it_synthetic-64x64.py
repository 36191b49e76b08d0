# Retrain with the BF1 surrogate (preset 'voc_bf1' unless --loss-params).
_base_ = ['./pspnet_r18-tiny_autoseg-miou_1xb8-400it_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BF1', preset='voc_bf1', tol=2)),
             auxiliary_head=dict(loss_decode=dict(target_metric='BF1', preset='voc_bf1', tol=2)))
