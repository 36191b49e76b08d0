# 4,000 iterations at lr 0.2: cross-entropy's pick on CamVid's hold-out
# sequence at this length from the ladder 0.1-1.6 (tiny DeepLabV3+;
# benchmarks/results/camvid_plateau.md, which also says whether 4,000 is
# CE's plateau).
_base_ = ['./schedule_400it.py']
optimizer = dict(lr=0.2)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=4000, by_epoch=False)
]
train_cfg = dict(max_iters=4000, val_interval=1000)
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=1000))
