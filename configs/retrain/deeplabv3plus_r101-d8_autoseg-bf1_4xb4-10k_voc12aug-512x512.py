# Paper setting (GPU) with the BF1 surrogate (preset 'voc_bf1' unless --loss-params).
_base_ = ['./deeplabv3plus_r101-d8_autoseg-miou_4xb4-10k_voc12aug-512x512.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BF1', preset='voc_bf1')),
             auxiliary_head=dict(loss_decode=dict(target_metric='BF1', preset='voc_bf1')))
