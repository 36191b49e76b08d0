# Retrain tiny hrnet with a FWIoU surrogate (preset 'voc_fwiou' unless
# --loss-params gives a searched best_loss.json).
_base_ = ['./hrnet-tiny_miou-searched_synthetic-64x64.py']
model = dict(decode_head=dict(loss_decode=dict(target_metric='FWIoU', preset='voc_fwiou')))
