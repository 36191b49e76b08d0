# mIoU surrogate + BF1 surrogate: global quality plus sharper boundaries
# (Auto Seg-Loss Sec. 5). --loss-params takes one file per target metric:
#   tools/train.py THIS_FILE --loss-params miou/best_loss.json bf1/best_loss.json
_base_ = ['./deeplabv3plus_r18-tiny_ce_1xb8-400it_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou', loss_name='loss_miou'),
        dict(type='AutoSegLoss', target_metric='BF1', preset='voc_bf1', tol=2, loss_name='loss_bf1'),
    ]),
    auxiliary_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                         preset='voc_miou', loss_weight=0.4)))
