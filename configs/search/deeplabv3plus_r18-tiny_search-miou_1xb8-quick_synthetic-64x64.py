# CPU quick-start: search an mIoU surrogate with tiny DeepLabV3+ proxies on the
# synthetic shapes:  python tools/search.py THIS_FILE
_base_ = ['../baseline/deeplabv3plus_r18-tiny_1xb8-400it_synthetic-64x64.py',
          '../_base_/search/quick_cpu.py']
__loss = dict(type='AutoSegLoss', target_metric='mIoU')
model = dict(decode_head=dict(loss_decode=dict(__loss, _delete_=True)),
             auxiliary_head=dict(loss_decode=dict(__loss, _delete_=True, loss_weight=0.4)))
