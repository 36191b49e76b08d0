# Paper setting (GPU) with the gAcc surrogate (preset 'voc_gacc' unless --loss-params).
_base_ = ['./deeplabv3plus_r101-d8_autoseg-miou_4xb4-10k_voc12aug-512x512.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='gAcc', preset='voc_gacc')),
             auxiliary_head=dict(loss_decode=dict(target_metric='gAcc', preset='voc_gacc')))
