# The authors' search settings (Auto Seg-Loss, Sec. 4.3 and their release):
# T=12 rounds x M=32 proxies (8 GPUs x 4 proxies), sigma=0.2, Adam lr 0.2,
# 60 updates per round, clip 0.2, baseline = reward of mu, factorized ratio;
# proxies: 1000 SGD iterations, batch 32, 128x128 crops.
runner_type = 'LossSearchRunner'
search = dict(
    parameterization='bezier',
    heads=('decode_head', 'auxiliary_head'),
    controller=dict(type='PPO2Controller', sigma=0.2, mu_lr=0.2, updates_per_round=60,
                    clip_eps=0.2, baseline='mu', ratio='per_dim'),
    rounds=12,
    samples_per_round=32,
    proxy=dict(max_iters=1000, batch_size=32, crop_size=(128, 128), lr=0.02, log_level='WARNING'),
    hold_out=dict(size=1500, seed=0),
    workers=dict(num_workers=None, models_per_device=4, threads_per_worker=2),
    seed=0,
    tol=5,
)
