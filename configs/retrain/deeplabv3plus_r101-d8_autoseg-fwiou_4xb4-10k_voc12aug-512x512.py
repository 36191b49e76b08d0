# Paper setting (GPU) with the FWIoU surrogate (preset 'voc_fwiou' unless --loss-params).
_base_ = ['./deeplabv3plus_r101-d8_autoseg-miou_4xb4-10k_voc12aug-512x512.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='FWIoU', preset='voc_fwiou')),
             auxiliary_head=dict(loss_decode=dict(target_metric='FWIoU', preset='voc_fwiou')))
