"""Gaussian predictive: ``y_i ~ N(mean_i, variance_i)`` independently (exact GPs, Laplace, SVI means)."""

from __future__ import annotations

import math

import torch

from probnn.errors import InputError
from probnn.predictive.base import Predictive, check_num_samples, sample_generator
from probnn.random import GeneratorLike
from probnn.validation import check_finite


class GaussianPredictive(Predictive):
    """Independent Gaussian marginals.

    Args:
        mean: predictive means, shape ``[*batch]``.
        variance: predictive variances (> 0), same shape.
    """

    def __init__(self, mean: torch.Tensor, variance: torch.Tensor) -> None:
        mean, variance = torch.broadcast_tensors(torch.as_tensor(mean), torch.as_tensor(variance))
        check_finite(mean, "mean")
        check_finite(variance, "variance")
        if bool((variance <= 0).any()):
            raise InputError(f"variance must be > 0; got minimum {float(variance.min())}")
        self._mean, self._variance = mean, variance

    @property
    def batch_shape(self) -> torch.Size:
        return self._mean.shape

    @property
    def mean(self) -> torch.Tensor:
        return self._mean

    @property
    def variance(self) -> torch.Tensor:
        return self._variance

    def sample(self, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        num_samples = check_num_samples(num_samples)
        noise = torch.randn((num_samples, *self.batch_shape), generator=sample_generator(generator),
                            dtype=self._mean.dtype)
        return self._mean + self.stddev * noise

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_value(y, "y")
        return -0.5 * ((y - self._mean) ** 2 / self._variance + torch.log(2 * math.pi * self._variance))

    def cdf(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_value(y, "y")
        return torch.special.ndtr((y - self._mean) / self.stddev)

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        levels, scalar = self._check_levels(q)
        z = torch.special.ndtri(levels.to(self._mean.dtype)).reshape(-1, *[1] * len(self.batch_shape))
        result = self._mean + self.stddev * z
        return result[0] if scalar else result

    def crps(self, y: torch.Tensor) -> torch.Tensor:
        """Closed form: ``sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]`` with ``z = (y - mu)/sigma``."""
        y = self._check_value(y, "y")
        sigma = self.stddev
        z = (y - self._mean) / sigma
        pdf = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
        return sigma * (z * (2 * torch.special.ndtr(z) - 1) + 2 * pdf - 1 / math.sqrt(math.pi))

    def select(self, index: torch.Tensor) -> GaussianPredictive:
        """Index the leading batch dimension (used by mixtures)."""
        return GaussianPredictive(self._mean[index], self._variance[index])
