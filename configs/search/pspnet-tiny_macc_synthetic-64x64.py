# CPU quick-start: search a mAcc surrogate with tiny pspnet proxies on the
# synthetic shapes. python tools/search.py THIS_FILE
_base_ = ['../baseline/pspnet-tiny_ce_synthetic-64x64.py', '../_base_/search/quick_cpu.py']
model = dict(
    decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mAcc')),
    auxiliary_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mAcc',
                                         loss_weight=0.4)))
search = dict(
    target_metric='mAcc',
)
