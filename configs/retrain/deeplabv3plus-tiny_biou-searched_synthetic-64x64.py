# Retrain tiny deeplabv3plus with a BIoU surrogate (preset 'voc_biou' unless
# --loss-params gives a searched best_loss.json).
_base_ = ['./deeplabv3plus-tiny_miou-searched_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=dict(target_metric='BIoU', preset='voc_biou', tol=2)),
    auxiliary_head=dict(loss_decode=dict(target_metric='BIoU', preset='voc_biou', tol=2)))
