# Paper-scale search (GPU) of a FWIoU surrogate; see the mIoU config.
_base_ = ['./deeplabv3plus_r50-d8_search-miou_8xb32-paper_voc12-128x128.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='FWIoU')),
             auxiliary_head=dict(loss_decode=dict(target_metric='FWIoU')))
search = dict(target_metric='FWIoU')
