# Retrain with the BIoU surrogate (preset 'voc_biou' unless --loss-params).
_base_ = ['./fcn_hr-tiny_autoseg-miou_1xb8-400it_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BIoU', preset='voc_biou', tol=2)))
