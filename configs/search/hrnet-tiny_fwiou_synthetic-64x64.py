# CPU quick-start: search a FWIoU surrogate with tiny hrnet proxies on the
# synthetic shapes. python tools/search.py THIS_FILE
_base_ = ['../baseline/hrnet-tiny_ce_synthetic-64x64.py', '../_base_/search/quick_cpu.py']
model = dict(
    decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='FWIoU')))
search = dict(
    target_metric='FWIoU',
)
