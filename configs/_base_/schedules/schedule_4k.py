# 4,000 iterations, lr 0.1: the first CamVid schedule of the tiny CPU models
# (not yet shown to be CE's plateau: benchmarks/results/camvid_plateau.md).
_base_ = ['./schedule_400it.py']
optimizer = dict(lr=0.1)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=4000, by_epoch=False)
]
train_cfg = dict(max_iters=4000, val_interval=1000)
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=1000))
