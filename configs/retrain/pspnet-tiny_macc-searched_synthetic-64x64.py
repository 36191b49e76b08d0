# Retrain tiny pspnet with a mAcc surrogate. Defaults to the authors' VOC
# parameters (preset 'voc_macc'); pass the search's result with
#   python tools/train.py THIS_FILE --loss-params work_dirs/<search>/best_loss.json
_base_ = ['./pspnet-tiny_ce-eval_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mAcc',
                                      preset='voc_macc')),
    auxiliary_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mAcc',
                                         preset='voc_macc', loss_weight=0.4)))
