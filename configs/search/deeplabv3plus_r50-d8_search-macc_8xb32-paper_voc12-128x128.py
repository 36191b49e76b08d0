# Paper-scale search (GPU) of a mAcc surrogate; see the mIoU config.
_base_ = ['./deeplabv3plus_r50-d8_search-miou_8xb32-paper_voc12-128x128.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='mAcc')),
             auxiliary_head=dict(loss_decode=dict(target_metric='mAcc')))
search = dict(target_metric='mAcc')
