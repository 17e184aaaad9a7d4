"""Affine transform of a predictive: the distribution of ``shift + scale * Y``.

Used to report predictions in original units after fitting on standardised targets:
``log p(y) = log p_Y((y - shift)/scale) - log|scale|``.
"""

from __future__ import annotations

import torch

from probnn.errors import InputError
from probnn.predictive.base import Predictive
from probnn.random import GeneratorLike


class AffinePredictive(Predictive):
    """``shift + scale * Y`` for a base predictive ``Y``; ``scale`` must be > 0."""

    def __init__(self, base: Predictive, shift: torch.Tensor | float, scale: torch.Tensor | float) -> None:
        dtype = base.mean.dtype
        self.base = base
        self.shift = torch.as_tensor(shift, dtype=dtype)
        self.scale = torch.as_tensor(scale, dtype=dtype)
        if bool((self.scale <= 0).any()) or not bool(torch.isfinite(self.scale).all()):
            raise InputError("scale must be finite and > 0")

    @property
    def batch_shape(self) -> torch.Size:
        return self.base.batch_shape

    @property
    def mean(self) -> torch.Tensor:
        return self.shift + self.scale * self.base.mean

    @property
    def variance(self) -> torch.Tensor:
        return self.scale**2 * self.base.variance

    def sample(self, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        return self.shift + self.scale * self.base.sample(num_samples, generator=generator)

    def _standardise(self, y: torch.Tensor) -> torch.Tensor:
        return (self._check_value(y, "y") - self.shift) / self.scale

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        return self.base.log_prob(self._standardise(y)) - torch.log(self.scale)

    def cdf(self, y: torch.Tensor) -> torch.Tensor:
        return self.base.cdf(self._standardise(y))

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        return self.shift + self.scale * self.base.quantile(q)

    def crps(self, y: torch.Tensor) -> torch.Tensor:
        """CRPS is equivariant: ``CRPS(a + bY, y) = b CRPS(Y, (y - a)/b)``."""
        return self.scale * self.base.crps(self._standardise(y))

    def select(self, index: torch.Tensor) -> AffinePredictive:
        return AffinePredictive(self.base.select(index), self.shift, self.scale)  # type: ignore[attr-defined]
