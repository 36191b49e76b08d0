# MMSeg's runtime defaults plus the plugin import, CPU-friendly settings.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmseg_autoloss'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # On CPU the plugin's launcher set-up switches to gloo.
    dist_cfg=dict(backend='nccl'),
)
randomness = dict(seed=0)
