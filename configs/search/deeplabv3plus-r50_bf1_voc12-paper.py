# Paper-scale search (GPU) of a BF1 surrogate; see the mIoU config.
_base_ = ['./deeplabv3plus-r50_miou_voc12-paper.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BF1')),
             auxiliary_head=dict(loss_decode=dict(target_metric='BF1')))
search = dict(target_metric='BF1')
