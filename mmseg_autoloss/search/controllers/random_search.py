"""Random search: the baseline of the paper's Fig. 3."""
from typing import Any, Dict, Optional

import torch
from torch import Tensor

from .base import CONTROLLERS, ArrayLike, BestSampleController

__all__ = ['RandomSearchController']


@CONTROLLERS.register_module()
class RandomSearchController(BestSampleController):
    """Random search: M fresh uniform samples in [0, 1]^D per round.

    Output: the best sample seen (:class:`BestSampleController`). Apart from
    the warm start below every proposal is a new uniform draw, so at equal
    budget it evaluates as many distinct points as PPO2.

    Args:
        num_params: Dimension D.
        samples_per_round: Samples M per round (>= 1).
        include_init_mu: Make row 0 of the first round ``init_mu`` (the warm
            start from a preset: it is evaluated and competes for the
            output).
        init_mu: Initial point in [0, 1]^D (None = 0.5).
        seed: Seed of the sampling generator.
    """

    def __init__(self, num_params: int, samples_per_round: int = 32,
                 include_init_mu: bool = True, init_mu: Optional[ArrayLike] = None,
                 seed: int = 0) -> None:
        super().__init__(num_params, samples_per_round, init_mu, seed)
        self.include_init_mu = bool(include_init_mu)

    def _config(self) -> Dict[str, Any]:
        cfg = super()._config()
        cfg.update(include_init_mu=self.include_init_mu)
        return cfg

    def _draw(self) -> Tensor:
        draws = torch.rand((self.samples_per_round, self.num_params),
                           generator=self._generator, dtype=torch.float64)
        if self.include_init_mu and self._round == 0:
            draws[0] = self.init_mu
        return draws
