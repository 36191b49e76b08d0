# Retrain tiny hrnet with a BIoU surrogate. Defaults to the authors' VOC
# parameters (preset 'voc_biou'); pass the search's result with
#   python tools/train.py THIS_FILE --loss-params work_dirs/<search>/best_loss.json
_base_ = ['./hrnet-tiny_ce-eval_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='BIoU',
                                      preset='voc_biou', tol=2)))
