# Retrain with the mIoU surrogate at cross-entropy's plateau schedule (1600
# iterations, lr 0.8), the schedule of the acceptance comparison:
#   python tools/train.py THIS_FILE --loss-params work_dirs/<search>/best_loss.json
_base_ = ['./deeplabv3plus_r18-tiny_ce_1xb8-1600it_synthetic-64x64.py']
__loss = dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou')
model = dict(decode_head=dict(loss_decode=dict(__loss, _delete_=True)),
             auxiliary_head=dict(loss_decode=dict(__loss, _delete_=True, loss_weight=0.4)))
