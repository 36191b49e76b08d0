"""Pictures of a search: rewards per round and the searched g functions."""
from typing import Dict, List, Optional, Sequence

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


G_NAMES = {1: ['AND'], 2: ['AND', 'OR'],
           4: ['g1 (AND, y)', 'g2 (AND, erode y)', 'g3 (OR, y)', 'g4 (OR, erode y)']}


def plot_surrogate_curves(target_metric: str, parameterization: str, num_pieces: int,
                          control_points: Optional[Sequence[float]], out_file: str,
                          title: str = '') -> None:
    """One panel per g (AND, OR; BF1: g1..g4) with its control points and
    the identity g(y) = y of the naive surrogate dashed for reference.

    Args:
        target_metric: Metric of the surrogate.
        parameterization: 'bezier' or 'linear'.
        num_pieces: Pieces n per g.
        control_points: Flat absolute control points of all g's; None =
            identity.
        out_file: PNG path.
        title: Shown after the metric name.
    """
    import torch
    from mmseg_autoloss.surrogates import METRIC_NUM_G, build_g_functions, full_control_points

    k = METRIC_NUM_G[target_metric]
    gs = build_g_functions(k, num_pieces, parameterization, control_points=control_points)
    y = torch.linspace(0, 1, 1001, dtype=torch.float64)
    fig, axes = plt.subplots(1, k, figsize=(3.2 * k, 3.4), squeeze=False)
    for i, (ax, g) in enumerate(zip(axes[0], gs)):
        pts = full_control_points(g.points, num_pieces)[0].numpy()
        ax.plot([0, 1], [0, 1], '--', color='0.7', lw=1, label='identity')
        ax.plot(y.numpy(), g(y).numpy(), lw=2, label=parameterization)
        ax.plot(pts[:, 0], pts[:, 1], 'o:', color='C3', ms=4, lw=0.8, label='control points')
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel='y', title=G_NAMES[k][i])
        ax.set_aspect('equal')
        if i == 0:
            ax.set_ylabel('g(y)')
            ax.legend(fontsize=7, loc='lower right')
    fig.suptitle(f'{target_metric} surrogate: {title} ({parameterization}, n={num_pieces})',
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
