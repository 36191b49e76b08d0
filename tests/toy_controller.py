"""A user's controller for the tests, written as docs/contributing.md says:
one class in a module of its own, registered into CONTROLLERS on import."""
from typing import Any, Dict, Optional

import torch
from torch import Tensor

from mmseg_autoloss.search.controllers import CONTROLLERS, BestSampleController


@CONTROLLERS.register_module()
class ToyLocalSearchController(BestSampleController):
    """M uniform draws in a box of half-width ``radius`` around the best
    sample so far (``init_mu`` before any reward), clipped to [0, 1]."""

    def __init__(self, num_params: int, samples_per_round: int = 8, radius: float = 0.1,
                 init_mu: Optional[Any] = None, seed: int = 0) -> None:
        super().__init__(num_params, samples_per_round, init_mu, seed)
        if not 0 < radius <= 1:
            raise ValueError(f'ToyLocalSearchController: radius must be in (0, 1], got {radius!r}')
        self.radius = float(radius)

    def _config(self) -> Dict[str, Any]:
        return dict(super()._config(), radius=self.radius)

    def _draw(self) -> Tensor:
        step = torch.rand((self.samples_per_round, self.num_params), generator=self._generator,
                          dtype=torch.float64) * 2 - 1
        return (self.mu + self.radius * step).clamp(0, 1)
