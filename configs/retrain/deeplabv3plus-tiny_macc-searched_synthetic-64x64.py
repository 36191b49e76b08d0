# Retrain tiny deeplabv3plus with a mAcc surrogate (preset 'voc_macc' unless
# --loss-params gives a searched best_loss.json).
_base_ = ['./deeplabv3plus-tiny_miou-searched_synthetic-64x64.py']
model = dict(
    decode_head=dict(loss_decode=dict(target_metric='mAcc', preset='voc_macc')),
    auxiliary_head=dict(loss_decode=dict(target_metric='mAcc', preset='voc_macc')))
