# Paper-scale search (GPU) of a FWIoU surrogate; see the mIoU config.
_base_ = ['./deeplabv3plus-r50_miou_voc12-paper.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='FWIoU')),
             auxiliary_head=dict(loss_decode=dict(target_metric='FWIoU')))
search = dict(target_metric='FWIoU')
