# Retrain tiny deeplabv3plus with a mIoU surrogate. Defaults to the authors' VOC
# parameters (preset 'voc_miou'); pass the search's result with
#   python tools/train.py THIS_FILE --loss-params work_dirs/<search>/best_loss.json
_base_ = ['./deeplabv3plus-tiny_ce-eval_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                      preset='voc_miou')),
    auxiliary_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                         preset='voc_miou', loss_weight=0.4)))
