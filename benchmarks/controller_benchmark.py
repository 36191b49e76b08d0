"""PPO2, random search, TPE and CMA-ES on synthetic rewards, at equal sample budget.

No network is trained: the reward is a smooth function of Theta in [0, 1]^12
(D = 12 as for mIoU with n = 2 Bezier pieces) with a known maximum, plus
Gaussian noise standing in for proxy-training noise. Each controller gets
``rounds x samples`` reward evaluations and starts from the identity theta
(the runner's ``init_mu``); the table reports the noise-free reward of its
output (PPO2: the ``mu_t`` of the round with the best mean reward; random
search, TPE, CMA-ES: the best sample seen), the regret ``r* - r(output)``,
the distance of the output to the optimum, the observed mean reward of the
first and the last round, and the controller's own time per run (no
training), as mean +- std over seeds. TPE and CMA-ES need Optuna
(``pip install optuna cmaes``); without it their rows are skipped.

Tasks:
    sphere: ``r = 0.8 - 0.4 * mean_d (theta_d - theta*_d)^2``, ``theta*``
        uniform in [0.1, 0.9]^12 per seed.
    peaked: ``r = 0.6 + 0.2 * exp(-(theta - theta*)^T H (theta - theta*) / (2 * 0.5^2))``
        with ``H`` a random rotation of eigenvalues log-spaced in [0.1, 10]
        (normalised to mean 1) and ``theta*`` the authors' searched mIoU
        parameters (method.md §4, converted to theta; two entries are ~0, on the
        boundary). Far from ``theta*`` the reward is flat.

Usage::

    python benchmarks/controller_benchmark.py [--seeds 10] [--rounds 12]
        [--samples 32] [--noise 0.005] [--out benchmarks/results/controller_benchmark.md]
"""
import argparse
import os
import os.path as osp
import time
from typing import Callable, Dict, List, Tuple

import torch

from mmseg_autoloss.search.controllers import (BaseController, PPO2Controller,
                                               RandomSearchController)
from mmseg_autoloss.search.optuna_controllers import (CMAESController, TPEController,
                                                      require_packages)

D = 12
# Identity g (method.md §3), n = 2, two g functions: the runner's initial mu.
IDENTITY_THETA = torch.tensor([0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5] * 2, dtype=torch.float64)
# method.md §4: the authors' searched mIoU control points (absolute), AND then OR.
AUTHORS_MIOU_POINTS = [5.69728440e-04, 6.43720450e-01, 3.38589169e-01, 7.05543360e-01,
                       6.25281252e-01, 7.79551927e-01, 6.90375570e-01, 1.30628900e-02,
                       8.34170515e-01, 9.62431815e-01, 9.42998269e-01, 9.80038125e-01]

Reward = Callable[[torch.Tensor], torch.Tensor]


def control_points_to_theta(points: List[float], num_free: int = 3) -> torch.Tensor:
    """Absolute control points (per g: B_1..B_num_free, (u, v) each) -> theta (method.md §3)."""
    pts = torch.tensor(points, dtype=torch.float64).view(-1, num_free, 2)
    prev = torch.cat([torch.zeros_like(pts[:, :1]), pts[:, :-1]], dim=1)
    return ((pts - prev) / (1 - prev)).flatten()


def make_task(name: str, seed: int) -> Tuple[torch.Tensor, Reward]:
    """The optimum theta* and the noise-free reward of task ``name``."""
    gen = torch.Generator().manual_seed(1000 + seed)
    if name == 'sphere':
        opt = 0.1 + 0.8 * torch.rand(D, generator=gen, dtype=torch.float64)

        def reward(theta: torch.Tensor) -> torch.Tensor:
            return 0.8 - 0.4 * ((theta - opt)**2).mean(-1)
    elif name == 'peaked':
        opt = control_points_to_theta(AUTHORS_MIOU_POINTS)
        q, _ = torch.linalg.qr(torch.randn(D, D, generator=gen, dtype=torch.float64))
        eig = torch.logspace(-1, 1, D, dtype=torch.float64)
        hess = q @ torch.diag(eig / eig.mean()) @ q.T

        def reward(theta: torch.Tensor) -> torch.Tensor:
            d = theta - opt
            return 0.6 + 0.2 * torch.exp(-((d @ hess) * d).sum(-1) / (2 * 0.5**2))
    else:
        raise ValueError(f'unknown task {name!r}')
    return opt, reward


CONTROLLERS: Dict[str, Callable[[int, int], BaseController]] = {
    'random search': lambda m, seed: RandomSearchController(D, m, init_mu=IDENTITY_THETA,
                                                            seed=seed),
    'PPO2 per-dim ratio, mean baseline, normalized advantages (default)':
    lambda m, seed: PPO2Controller(D, m, init_mu=IDENTITY_THETA, seed=seed),
    'PPO2 default + KL early stop (target_kl=0.2)':
    lambda m, seed: PPO2Controller(D, m, target_kl=0.2, init_mu=IDENTITY_THETA, seed=seed),
    'PPO2 per-dim ratio, mean baseline, raw advantages':
    lambda m, seed: PPO2Controller(D, m, normalize_advantages=False, init_mu=IDENTITY_THETA,
                                   seed=seed),
    'PPO2 joint ratio, mean baseline, raw advantages (paper)':
    lambda m, seed: PPO2Controller(D, m, ratio='joint', normalize_advantages=False,
                                   init_mu=IDENTITY_THETA, seed=seed),
    "PPO2 per-dim ratio, mu baseline, raw advantages (authors' release)":
    lambda m, seed: PPO2Controller(D, m, baseline='mu', normalize_advantages=False,
                                   init_mu=IDENTITY_THETA, seed=seed),
    'TPE (Optuna; multivariate, constant liar, preset as first trial)':
    lambda m, seed: TPEController(D, m, init_mu=IDENTITY_THETA, seed=seed),
    'CMA-ES (Optuna; x0 = preset, sigma0 = 0.2, population M)':
    lambda m, seed: CMAESController(D, m, init_mu=IDENTITY_THETA, seed=seed),
}
OPTUNA_ROWS = {'TPE': ('optuna', ), 'CMA-ES': ('optuna', 'cmaes')}


def available(name: str) -> bool:
    """False for an Optuna row when Optuna (or cmaes) is not installed."""
    for prefix, packages in OPTUNA_ROWS.items():
        if name.startswith(prefix):
            try:
                require_packages(prefix, packages)
            except ImportError:
                return False
    return True


def run_search(ctl: BaseController, reward: Reward, rounds: int, noise: float,
               seed: int) -> BaseController:
    """``rounds`` rounds of sample -> noisy reward -> update."""
    gen = torch.Generator().manual_seed(2000 + seed)
    for _ in range(rounds):
        samples = ctl.sample()
        noisy = reward(samples) + noise * torch.randn(
            samples.shape[0], generator=gen, dtype=torch.float64)
        ctl.update(samples, noisy)
    return ctl


def _fmt(values: List[float], digits: int = 4) -> str:
    t = torch.tensor(values, dtype=torch.float64)
    std = t.std().item() if t.numel() > 1 else 0.0
    return f'{t.mean().item():.{digits}f} ± {std:.{digits}f}'


def _mean(values: List[float]) -> float:
    return sum(values) / len(values)


def benchmark(seeds: int, rounds: int, samples: int, noise: float, command: str) -> str:
    lines = [
        '# Controller benchmark: PPO2, random search, TPE, CMA-ES (synthetic rewards)', '',
        f'Budget per run: {rounds} rounds x {samples} samples = {rounds * samples} reward '
        f'evaluations; D = {D}; reward noise N(0, {noise}^2); {seeds} seeds '
        '(mean ± std over seeds). Initial mu / preset = identity theta (method.md §3); random '
        'search and TPE evaluate it as their first sample, CMA-ES starts at it. '
        'Output: PPO2 = mu_t of the round with the best mean reward, random search, TPE and '
        'CMA-ES = best sample seen. "true reward" = noise-free reward of the output, '
        'regret = r* - true reward, round 1 -> last = observed mean reward of the first and '
        'the last round, wins = seeds where the output beats random search\'s output, '
        's/run = the controller\'s own time (sample + update, no training) on 1 thread.',
        '', f'Generated by `{command}`.', '']
    for task in ('sphere', 'peaked'):
        opt, reward = make_task(task, 0)
        lines += [f'## Task `{task}` (r* = {reward(opt).item():.4f})', '',
                  '| controller | true reward of output | regret | distance to optimum '
                  '| round 1 -> last | wins vs random | s/run |',
                  '|---|---|---|---|---|---|---|']
        init_r, init_regret, init_d = [], [], []
        for seed in range(seeds):
            opt, reward = make_task(task, seed)
            init_r.append(reward(IDENTITY_THETA).item())
            init_regret.append(reward(opt).item() - init_r[-1])
            init_d.append((IDENTITY_THETA - opt).norm().item())
        lines.append(f'| initial mu (identity) | {_fmt(init_r)} | {_fmt(init_regret)} | '
                     f'{_fmt(init_d, 3)} | - | - | - |')
        random_true: List[float] = []
        for name, make in CONTROLLERS.items():
            if not available(name):
                print(f'skipped {name!r}: Optuna / cmaes not installed')
                continue
            true, regret, dist, first, last, secs = [], [], [], [], [], []
            for seed in range(seeds):
                opt, reward = make_task(task, seed)
                start = time.perf_counter()
                ctl = run_search(make(samples, seed), reward, rounds, noise, seed)
                secs.append(time.perf_counter() - start)
                out = ctl.best_mu
                true.append(reward(out).item())
                regret.append(reward(opt).item() - true[-1])
                dist.append((out - opt).norm().item())
                first.append(ctl.history[0]['mean_reward'])
                last.append(ctl.history[-1]['mean_reward'])
            if name == 'random search':
                random_true = true
                wins = '-'
            else:
                wins = f'{sum(t > r for t, r in zip(true, random_true))}/{seeds}'
            lines.append(f'| {name} | {_fmt(true)} | {_fmt(regret)} | {_fmt(dist, 3)} '
                         f'| {_mean(first):.4f} -> {_mean(last):.4f} | {wins} '
                         f'| {_mean(secs):.2f} |')
        lines.append('')
    return '\n'.join(lines)


DEFAULT_OUT = osp.join(osp.dirname(osp.abspath(__file__)), 'results', 'controller_benchmark.md')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=12)
    parser.add_argument('--samples', type=int, default=32)
    parser.add_argument('--noise', type=float, default=0.005)
    parser.add_argument('--out', default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    command = (f'python benchmarks/controller_benchmark.py --seeds {args.seeds} --rounds '
               f'{args.rounds} --samples {args.samples} --noise {args.noise}')
    if args.out != DEFAULT_OUT:
        command += f' --out {args.out}'
    table = benchmark(args.seeds, args.rounds, args.samples, args.noise, command)
    print(table)
    print(f'(took {time.perf_counter() - start:.1f} s)')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(table + '\n')
        print(f'written to {args.out}')


if __name__ == '__main__':
    main()
