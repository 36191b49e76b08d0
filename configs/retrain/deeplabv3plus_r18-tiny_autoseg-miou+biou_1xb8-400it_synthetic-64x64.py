# mIoU surrogate + BIoU surrogate (see the mIoU + BF1 config):
#   tools/train.py THIS_FILE --loss-params miou/best_loss.json biou/best_loss.json
_base_ = ['./deeplabv3plus_r18-tiny_autoseg-miou+bf1_1xb8-400it_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=[
    dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou', loss_name='loss_miou'),
    dict(type='AutoSegLoss', target_metric='BIoU', preset='voc_biou', tol=2, loss_name='loss_biou'),
]))
