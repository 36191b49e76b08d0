"""The search space of theta: its layout, bounds, names, start point, and
how one sample becomes loss arguments.

theta is, per g, the free numbers ``θ_1u, θ_1v, …, θ_{2n-1}u, θ_{2n-1}v``
(method.md §3), the g's concatenated in the target metric's operation
order, then the extra dimensions of the space (``mix_ce``: the CE share w
of ``w·CE + (1 − w)·surrogate``; ``mix_metric``: the share b of a second
metric's surrogate); every number lies in [0, 1]. The
controllers see only the flat vector; this object is where its meaning
lives.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mmseg_autoloss.surrogates import identity_theta, num_params_per_g, theta_to_control_points
from mmseg_autoloss.surrogates.presets import LOSS_PARAMS_VERSION
from mmseg_autoloss.surrogates.target_metrics import TargetMetric, get_target_metric
from mmseg_autoloss.utils.validate import DEFAULT_MIX_WEIGHT

__all__ = ['SearchSpace']


@dataclass(frozen=True)
class SearchSpace:
    """theta of one search.

    Args:
        target_metric: A registered target metric.
        parameterization: 'bezier' or 'linear'.
        num_pieces: Pieces n of each g.
        tol: Boundary tolerance (loss arguments of a boundary metric only).
        drop_bg: Background option (boundary metric only).
        class_reduction: The surrogate's class mean ('all' or 'present').
        mix_ce: None, or the start of the searched CE share w (one more
            number after the g's).
        mix_metric: None, or a second target metric whose naive surrogate
            is mixed in with a searched share b (one more number, last).
        mix_weight: The start of b.
    """
    target_metric: str
    parameterization: str
    num_pieces: int
    tol: Optional[int] = None
    drop_bg: bool = False
    class_reduction: str = 'all'
    mix_ce: Optional[float] = None
    mix_metric: Optional[str] = None
    mix_weight: float = DEFAULT_MIX_WEIGHT

    @property
    def metric(self) -> TargetMetric:
        return get_target_metric(self.target_metric)

    @property
    def g_dim(self) -> int:
        """The numbers of the g functions: ``num_g * 2(2n-1)``."""
        return self.metric.num_g * num_params_per_g(self.num_pieces)

    @property
    def extras(self) -> List[str]:
        """Names of the dimensions after the g's, in order."""
        return [name for name, on in (('ce_weight', self.mix_ce is not None),
                                      ('mix_weight', self.mix_metric is not None)) if on]

    @property
    def dim(self) -> int:
        """Length D of theta: the g's numbers and the extras."""
        return self.g_dim + len(self.extras)

    @property
    def bounds(self) -> List[Tuple[float, float]]:
        """Every number of theta lies in [0, 1] (any value gives a valid g)."""
        return [(0.0, 1.0)] * self.dim

    @property
    def names(self) -> List[str]:
        """``g{k}.theta{i}.{u|v}`` per position (g and i as in method.md §3)."""
        per_g = [f'theta{i}.{c}' for i in range(1, 2 * self.num_pieces) for c in 'uv']
        return [f'g{k}.{name}' for k in range(self.metric.num_g)
                for name in per_g] + self.extras

    def with_extras(self, g_theta: Sequence[float]) -> List[float]:
        """A full theta from the g's numbers and the extras' start values."""
        if len(g_theta) != self.g_dim:
            raise ValueError(f'theta of the g functions has {len(g_theta)} numbers, the search '
                             f'space {self.g_dim}')
        start = dict(ce_weight=self.mix_ce, mix_weight=self.mix_weight)
        return [float(t) for t in g_theta] + [float(start[k]) for k in self.extras]

    def default(self) -> List[float]:
        """The identity g (Eq. 8), the paper's start (and the extras' starts)."""
        return self.with_extras(identity_theta(self.target_metric, self.num_pieces))

    def control_points(self, theta: Sequence[float]) -> List[float]:
        """Absolute control points of the g's of one sample."""
        g = [float(t) for t in theta[:self.g_dim]]
        return [float(v) for v in theta_to_control_points(g, self.num_pieces).tolist()]

    def loss_params(self, theta: Sequence[float]) -> Dict:
        """``AutoSegLoss`` arguments of one sample (``tol``/``drop_bg`` only
        where a boundary metric is in the loss)."""
        if len(theta) != self.dim:
            raise ValueError(f'theta has {len(theta)} numbers, the search space {self.dim}')
        params = dict(target_metric=self.target_metric, parameterization=self.parameterization,
                      num_pieces=self.num_pieces, theta=[float(t) for t in theta[:self.g_dim]])
        mixed = self.mix_metric is not None
        if self.metric.boundary or (mixed and get_target_metric(self.mix_metric).boundary):
            params.update(tol=self.tol, drop_bg=self.drop_bg)
        if self.class_reduction != 'all':
            params['class_reduction'] = self.class_reduction
        if mixed:
            params['mix_metric'] = self.mix_metric
        params.update({k: float(v) for k, v in zip(self.extras, theta[self.g_dim:])})
        return params

    def best_loss(self, theta: Sequence[float], **extra) -> Dict:
        """The head of a versioned ``best_loss.json``: schema version, loss
        arguments and control points, then ``extra``."""
        out = dict(schema_version=LOSS_PARAMS_VERSION, **self.loss_params(theta))
        out['control_points'] = self.control_points(theta)
        out.update(extra)
        return out
