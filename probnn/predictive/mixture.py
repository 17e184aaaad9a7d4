"""Mixture predictive: ``p(y_i) = sum_s w_s p_s(y_i)``.

This is the predictive of every sampling or variational backend: posterior draws
``theta_s`` (or function draws ``f_s``) each give a component ``p(y | x, theta_s)`` (the likelihood's
noise around ``f_s(x)``), weighted equally (MCMC, VI) or by importance weights (self-normalised
importance sampling over a scale prior), or over pseudo-context sets (martingale posterior NPs).
"""

from __future__ import annotations

import torch

from probnn.errors import InputError
from probnn.predictive.base import Predictive, check_num_samples, sample_generator
from probnn.random import GeneratorLike


class MixturePredictive(Predictive):
    """Finite mixture over the leading batch dimension of ``components``.

    Args:
        components: a predictive with batch shape ``[num_components, *batch]`` that supports
            ``select(index)`` on its leading dimension (Gaussian and Student-t kinds do).
        log_weights: unnormalised log mixture weights ``[num_components]``; ``None`` for equal weights.
    """

    def __init__(self, components: Predictive, log_weights: torch.Tensor | None = None) -> None:
        if len(components.batch_shape) < 1:
            raise InputError("components must have a leading mixture dimension [num_components, ...]")
        if not hasattr(components, "select"):
            raise InputError(f"components of kind {type(components).__name__} cannot be mixed (no select())")
        count = components.batch_shape[0]
        dtype = components.mean.dtype
        if log_weights is None:
            log_weights = torch.zeros(count, dtype=dtype)
        log_weights = torch.as_tensor(log_weights, dtype=dtype)
        if log_weights.shape != (count,):
            raise InputError(f"log_weights must have shape [{count}]; got {tuple(log_weights.shape)}")
        if bool(torch.isnan(log_weights).any()) or not bool(torch.isfinite(log_weights).any()):
            raise InputError("log_weights must contain no NaN and at least one finite value")
        self.components = components
        self.log_weights = log_weights - torch.logsumexp(log_weights, 0)

    @property
    def weights(self) -> torch.Tensor:
        """Normalised mixture weights ``[num_components]``."""
        return self.log_weights.exp()

    @property
    def effective_sample_size(self) -> float:
        """Kish effective sample size ``1 / sum_s w_s^2`` of the weights."""
        return float(1.0 / (self.weights**2).sum())

    @property
    def batch_shape(self) -> torch.Size:
        return self.components.batch_shape[1:]

    def _expand_weights(self) -> torch.Tensor:
        return self.weights.reshape(-1, *[1] * len(self.batch_shape))

    @property
    def mean(self) -> torch.Tensor:
        return (self._expand_weights() * self.components.mean).sum(0)

    @property
    def variance(self) -> torch.Tensor:
        """Law of total variance: ``sum_s w_s (var_s + mean_s^2) - mean^2``."""
        weights = self._expand_weights()
        means = self.components.mean
        second = (weights * (self.components.variance + means**2)).sum(0)
        return (second - self.mean**2).clamp_min(0)

    def sample(self, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        """One component per draw (a joint draw across points), then a draw from that component."""
        num_samples = check_num_samples(num_samples)
        generator = sample_generator(generator)
        index = torch.multinomial(self.weights, num_samples, replacement=True, generator=generator)
        return self.components.select(index).sample(1, generator=generator)[0]

    def _per_component(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` (broadcastable to ``batch_shape``, e.g. ``[m, *batch]``) with a mixture axis inserted
        just before the batch dimensions: ``[..., 1, *batch]``, which broadcasts against the
        components' ``[num_components, *batch]``."""
        y = y.expand(torch.broadcast_shapes(y.shape, self.batch_shape))
        return y.unsqueeze(y.ndim - len(self.batch_shape))

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_value(y, "y")
        component_log_prob = self.components.log_prob(self._per_component(y))
        weights = self.log_weights.reshape(-1, *[1] * len(self.batch_shape))
        return torch.logsumexp(component_log_prob + weights, -len(self.batch_shape) - 1)

    def cdf(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_value(y, "y")
        component_cdf = self.components.cdf(self._per_component(y))
        return (self._expand_weights() * component_cdf).sum(-len(self.batch_shape) - 1)
