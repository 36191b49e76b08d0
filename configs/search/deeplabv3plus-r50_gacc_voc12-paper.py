# Paper-scale search (GPU) of a gAcc surrogate; see the mIoU config.
_base_ = ['./deeplabv3plus-r50_miou_voc12-paper.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='gAcc')),
             auxiliary_head=dict(loss_decode=dict(target_metric='gAcc')))
search = dict(target_metric='gAcc')
