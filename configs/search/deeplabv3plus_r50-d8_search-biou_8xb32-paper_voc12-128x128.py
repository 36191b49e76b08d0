# Paper-scale search (GPU) of a BIoU surrogate; see the mIoU config.
_base_ = ['./deeplabv3plus_r50-d8_search-miou_8xb32-paper_voc12-128x128.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BIoU')),
             auxiliary_head=dict(loss_decode=dict(target_metric='BIoU')))
search = dict(target_metric='BIoU', drop_bg=True)
