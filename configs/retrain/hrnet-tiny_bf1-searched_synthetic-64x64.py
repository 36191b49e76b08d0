# Retrain tiny hrnet with a BF1 surrogate (preset 'voc_bf1' unless
# --loss-params gives a searched best_loss.json).
_base_ = ['./hrnet-tiny_miou-searched_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BF1', preset='voc_bf1', tol=2)))
