# A first user's search on real data (one GPU): the authors' R50-DeepLabV3+
# proxies on PASCAL VOC 2012 (ImageNet-pretrained backbone, 128x128 crops),
# with the search of `make demo` and the acceptance comparison: one shared
# 200-iteration CE run, then 100 iterations per theta, 8 proxies a round,
# 6 rounds: 5,000 proxy-iterations (the paper: 384,000). Needs
# data/VOCdevkit (MMSeg's dataset docs). How to check its output against CE:
# docs/search.md, "Checking the search on your data".
#   python tools/search.py THIS_FILE --work-dir work_dirs/voc_first_budget
_base_ = ['./deeplabv3plus_r50-d8_search-miou_8xb32-paper_voc12-128x128.py']
search = dict(
    # the quick start's PPO2 (configs/_base_/search/quick_cpu.py)
    controller=dict(baseline='mean', normalize_advantages=True),
    rounds=6,
    samples_per_round=8,
    # lr 0.01: MMSeg's rate for this model on VOC (the synthetic-data 0.4 is
    # the tiny model's); the proxies' batch is 8, not the paper's 32
    proxy=dict(max_iters=300, batch_size=8, lr=0.01, warm_start=dict(iters=200, loss='CE')),
    workers=dict(models_per_device=4, threads_per_worker=2),
)
