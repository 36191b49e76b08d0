"""Pictures of a search: rewards per round and the searched g functions."""
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ['plot_search_progress', 'plot_surrogate_curves']


def plot_search_progress(records: List[Dict], history: List[Dict], out_file: str) -> None:
    """Reward of every proxy per round, μ's reward, and the best so far."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    rounds = sorted({r['round'] for r in records})
    for t in rounds:
        rs = [r for r in records if r['round'] == t]
        ok = [r['reward'] for r in rs if r['status'] == 'ok']
        ax.scatter(np.full(len(ok), t + 1) + np.linspace(-0.15, 0.15, len(ok)), ok, s=14,
                   color='tab:blue', alpha=0.6, label='proxy reward' if t == rounds[0] else None)
        bad = [r for r in rs if r['status'] != 'ok']
        if bad:
            ax.scatter([t + 1] * len(bad), [min(ok or [0])] * len(bad), marker='x', color='tab:red',
                       label='failed proxy' if t == rounds[0] else None)
        mu = [r['reward'] for r in rs if r['index'] == 0 and r['status'] == 'ok']
        if mu:
            ax.scatter([t + 1], mu, marker='D', color='tab:orange', s=30,
                       label='sample 0 (μ when baseline=mu)' if t == rounds[0] else None)
    means = [np.mean([r['reward'] for r in records if r['round'] == t and r['status'] == 'ok'] or [np.nan])
             for t in rounds]
    ax.plot([t + 1 for t in rounds], means, '-o', color='tab:green', ms=3, label='round mean')
    ax.plot([t + 1 for t in rounds], np.fmax.accumulate(np.nan_to_num(means, nan=-np.inf)), '--',
            color='k', lw=1, label='best round mean so far')
    ax.set_xlabel('round')
    ax.set_ylabel('hold-out reward')
    ax.set_title('loss search progress')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)


def plot_surrogate_curves(best: Dict, out_file: str) -> None:
    """The searched g functions next to the identity (g(y) = y)."""
    import torch
    from mmseg_autoloss.surrogates.parameterization import (METRIC_NUM_G, bezier_g, linear_g,
                                                            num_params_per_g,
                                                            theta_to_control_points)
    n_g = METRIC_NUM_G[best['target_metric']]
    n = best['num_pieces']
    g_fn = bezier_g if best['parameterization'] == 'bezier' else linear_g
    per_g = num_params_per_g(n)
    theta = torch.as_tensor(best['theta'], dtype=torch.float64)
    y = torch.linspace(0, 1, 201, dtype=torch.float64)
    fig, axes = plt.subplots(1, n_g, figsize=(3.2 * n_g, 3.2), squeeze=False)
    names = ['AND', 'OR'] if n_g == 2 else ['AND'] if n_g == 1 else [f'g{i + 1}' for i in range(n_g)]
    for k, ax in enumerate(axes[0]):
        points = theta_to_control_points(theta[k * per_g:(k + 1) * per_g], n)
        g = g_fn(y, points, n).numpy()
        ax.plot(y.numpy(), y.numpy(), '--', color='gray', lw=1, label='identity')
        ax.plot(y.numpy(), g, color='tab:blue', lw=2, label='searched')
        ax.set_title(f"{best['target_metric']}: g for {names[k]}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel('y')
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
