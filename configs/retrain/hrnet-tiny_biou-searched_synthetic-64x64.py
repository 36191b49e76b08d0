# Retrain tiny hrnet with a BIoU surrogate (preset 'voc_biou' unless
# --loss-params gives a searched best_loss.json).
_base_ = ['./hrnet-tiny_miou-searched_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='BIoU', preset='voc_biou', tol=2)))
