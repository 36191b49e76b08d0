# CPU quick-start search of a boundary-aware loss on CamVid (240x180): the
# mIoU surrogate plus the naive BF1 surrogate with a searched share b
# (search.mix_metric), rewarded by the mean of hold-out mIoU and BF1 (tol 2)
# so that sharper boundaries may not cost the regions.
#   python tools/search.py THIS_FILE
_base_ = ['./deeplabv3plus_r18-tiny_search-miou_1xb8-quick_camvid-128x128.py']
search = dict(mix_metric='BF1', mix_weight=0.3, reward=['mIoU', 'BF1'])
