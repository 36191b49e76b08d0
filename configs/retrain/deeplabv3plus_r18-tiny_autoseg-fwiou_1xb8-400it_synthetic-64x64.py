# Retrain with the FWIoU surrogate (preset 'voc_fwiou' unless --loss-params).
_base_ = ['./deeplabv3plus_r18-tiny_autoseg-miou_1xb8-400it_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='FWIoU', preset='voc_fwiou')),
             auxiliary_head=dict(loss_decode=dict(target_metric='FWIoU', preset='voc_fwiou')))
