# CPU quick-start: search a mIoU surrogate with tiny deeplabv3plus proxies on the
# synthetic shapes. python tools/search.py THIS_FILE
_base_ = ['../baseline/deeplabv3plus-tiny_ce_synthetic-64x64.py', '../_base_/search/quick_cpu.py']
model = dict(
    decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU')),
    auxiliary_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU',
                                         loss_weight=0.4)))
search = dict(
    target_metric='mIoU',
)
