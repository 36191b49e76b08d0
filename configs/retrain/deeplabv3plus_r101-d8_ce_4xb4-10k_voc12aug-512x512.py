# The CE twin of deeplabv3plus_r101-d8_autoseg-miou_4xb4-10k_voc12aug-512x512.py:
# the same model, schedule, evaluator and hooks with MMSeg's cross-entropy, the
# baseline a searched surrogate is compared with on VOC (docs/search.md).
_base_ = ['./deeplabv3plus_r101-d8_autoseg-miou_4xb4-10k_voc12aug-512x512.py']
__ce = dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=False)
model = dict(decode_head=dict(loss_decode=dict(__ce, loss_weight=1.0)),
             auxiliary_head=dict(loss_decode=dict(__ce, loss_weight=0.4)))
