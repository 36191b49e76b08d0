# Tiny DeepLabV3+ on CamVid (240x180 CPU setting) with the mIoU surrogate,
# the retrain config of a CamVid search:
#   python tools/train.py THIS_FILE --loss-params work_dirs/<search>/best_loss.json
_base_ = ['./deeplabv3plus_r18-tiny_1xb8-4k_camvid-128x128.py']
__loss = dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou')
model = dict(decode_head=dict(loss_decode=dict(__loss, _delete_=True)),
             auxiliary_head=dict(loss_decode=dict(__loss, _delete_=True, loss_weight=0.4)))
