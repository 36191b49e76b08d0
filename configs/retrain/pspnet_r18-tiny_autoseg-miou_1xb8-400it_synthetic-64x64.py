# Retrain with the mIoU surrogate: the authors' VOC parameters (preset
# 'voc_miou') unless a search's result is passed:
#   python tools/train.py THIS_FILE --loss-params work_dirs/<search>/best_loss.json
_base_ = ['./pspnet_r18-tiny_ce_1xb8-400it_synthetic-64x64.py']
__loss = dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou')
model = dict(decode_head=dict(loss_decode=dict(__loss, _delete_=True)),
             auxiliary_head=dict(loss_decode=dict(__loss, _delete_=True, loss_weight=0.4)))
