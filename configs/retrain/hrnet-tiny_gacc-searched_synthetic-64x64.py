# Retrain tiny hrnet with a gAcc surrogate (preset 'voc_gacc' unless
# --loss-params gives a searched best_loss.json).
_base_ = ['./hrnet-tiny_miou-searched_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='gAcc', preset='voc_gacc')))
