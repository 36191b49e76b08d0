# CPU quick-start: search an mIoU surrogate with tiny HRNet proxies on the
# synthetic shapes:  python tools/search.py THIS_FILE
_base_ = ['../baseline/fcn_hr-tiny_1xb8-400it_synthetic-64x64.py', '../_base_/search/quick_cpu.py']
model = dict(
    decode_head=dict(loss_decode=dict(_delete_=True, type='AutoSegLoss', target_metric='mIoU')))
