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
    # Off (left unset, so that --cfg-options can turn them on; docs/search.md)
    # until the fidelity study (benchmarks/proxy_fidelity.py) picks otherwise:
    #   proxy.warm_start=dict(iters=K, loss='CE')  one shared K-iteration CE run
    #       per search that every proxy starts from (or a checkpoint path)
    #   fidelity=dict(type='SuccessiveHalving', eta=2, min_fraction=0.25)
    #       successive halving of the proxies inside each round
    proxy=dict(max_iters=150, batch_size=8, log_level='WARNING'),
    hold_out=dict(fraction=0.25, seed=0),
    workers=dict(num_workers=None, models_per_device=1, threads_per_worker=1),
    seed=0,
    tol=2,
    drop_bg=False,
)
