# A short CPU search on the synthetic shapes: a few rounds of a few proxies.
runner_type = 'LossSearchRunner'
search = dict(
    target_metric='mIoU',
    parameterization='bezier',
    heads=('decode_head', 'auxiliary_head'),
    # baseline='mean' with normalized advantages beat the authors' 'mu' baseline
    # on the synthetic-reward benchmark (benchmarks/controller_benchmark.py).
    controller=dict(type='PPO2Controller', sigma=0.2, mu_lr=0.2, updates_per_round=60,
                    clip_eps=0.2, baseline='mean', ratio='per_dim', normalize_advantages=True),
    rounds=3,
    samples_per_round=4,
    # Proxies from the fidelity study (benchmarks/results/proxy_fidelity.md):
    # one shared 200-iteration CE run per search, then 100 iterations with
    # each theta, at lr 0.4 (CE's tuned rate). It ranked the panel of losses
    # like 800-iteration retraining best for its cost. Successive halving
    # (fidelity=dict(type='SuccessiveHalving', eta=2, min_fraction=0.25))
    # stays off: docs/search.md.
    proxy=dict(max_iters=300, lr=0.4, warm_start=dict(iters=200, loss='CE'), batch_size=8,
               log_level='WARNING'),
    hold_out=dict(fraction=0.25, seed=0),
    workers=dict(num_workers=None, models_per_device=1, threads_per_worker=1),
    seed=0,
    tol=2,
    drop_bg=False,
)
