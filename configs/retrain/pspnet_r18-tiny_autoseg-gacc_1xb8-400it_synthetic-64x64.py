# Retrain with the gAcc surrogate (preset 'voc_gacc' unless --loss-params).
_base_ = ['./pspnet_r18-tiny_autoseg-miou_1xb8-400it_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='gAcc', preset='voc_gacc')),
             auxiliary_head=dict(loss_decode=dict(target_metric='gAcc', preset='voc_gacc')))
