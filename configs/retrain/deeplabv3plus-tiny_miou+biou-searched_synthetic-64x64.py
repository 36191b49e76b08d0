# mIoU surrogate + BIoU surrogate: global quality plus sharper boundaries
# (Auto Seg-Loss Sec. 5). --loss-params takes one file per target metric:
#   tools/train.py THIS_FILE --loss-params miou/best_loss.json biou/best_loss.json
_base_ = ['./deeplabv3plus-tiny_ce-eval_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='AutoSegLoss', target_metric='mIoU', preset='voc_miou', loss_name='loss_miou'),
        dict(type='AutoSegLoss', target_metric='BIoU', preset='voc_biou', tol=2, loss_name='loss_biou'),
    ]),
    auxiliary_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                         preset='voc_miou', loss_weight=0.4)))
