# CPU quick-start search of an mIoU surrogate on CamVid (240x180, converted
# with --scale 0.5; docs/camvid.md): python tools/search.py THIS_FILE
# Rewards come from the hold-out sequence 0006R0, a whole drive: neighbouring
# frames are near-duplicates, so a random hold-out would leak.
_base_ = ['../camvid/deeplabv3plus_r18-tiny_1xb8-4k_camvid-128x128.py',
          '../_base_/search/quick_cpu.py']
__loss = dict(type='AutoSegLoss', target_metric='mIoU')
model = dict(decode_head=dict(loss_decode=dict(__loss, _delete_=True)),
             auxiliary_head=dict(loss_decode=dict(__loss, _delete_=True, loss_weight=0.4)))
runner_type = 'LossSearchRunner'
search = dict(
    target_metric='mIoU',
    heads=('decode_head', 'auxiliary_head'),
    # lr 0.4: CE's pick on the hold-out at 2,000 iterations
    # (benchmarks/results/camvid_plateau.md); the proxy length is the synthetic
    # data's until the CamVid proxy-fidelity study picks one.
    proxy=dict(lr=0.4),
    hold_out=dict(_delete_=True, group=r'^([^_]+)_', groups=['0006R0']),
    tol=2,
)
