"""The :class:`Predictive` contract: one interface for every kind of posterior predictive.

A ``Predictive`` describes the marginal predictive distribution ``p(y_i | x_i, data)`` at each of
the points it was made for (its ``batch_shape``, usually ``[num_points]``). Metrics, plots, the
BoTorch adapter and the BO loop use only this interface, so they never branch on the model or
backend that produced the prediction.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from probnn.random import GeneratorLike, as_generator
from probnn.validation import check_positive_int, check_probability, to_tensor

#: Number of bisection steps used by the generic quantile: each halves the bracket, so 80 steps
#: shrink a bracket of width W to W * 2**-80, below float64 resolution for any sane W.
_BISECTION_STEPS = 80
#: Samples used by the generic, sample-based CRPS estimator when a kind has no closed form.
_CRPS_SAMPLES = 2000


class Predictive(ABC):
    """Posterior predictive distribution, independent across its batch of points.

    Subclasses implement ``mean``, ``variance``, ``sample``, ``log_prob`` and ``cdf``; quantiles,
    intervals and CRPS have generic implementations (bisection on ``cdf``; a sample estimator of
    ``E|Y - y| - E|Y - Y'| / 2``) that kinds with closed forms override.
    """

    @property
    @abstractmethod
    def batch_shape(self) -> torch.Size:
        """Shape of the batch of points, e.g. ``[num_points]``."""

    @property
    @abstractmethod
    def mean(self) -> torch.Tensor:
        """Predictive mean ``E[y]``, shape ``batch_shape``."""

    @property
    @abstractmethod
    def variance(self) -> torch.Tensor:
        """Predictive variance ``Var[y]``, shape ``batch_shape``."""

    @property
    def stddev(self) -> torch.Tensor:
        """Predictive standard deviation, shape ``batch_shape``."""
        return self.variance.clamp_min(0).sqrt()

    @abstractmethod
    def sample(self, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        """Draw ``num_samples`` predictive samples, shape ``[num_samples, *batch_shape]``."""

    @abstractmethod
    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """Per-point log predictive density ``log p(y_i | x_i, data)``, shape ``batch_shape``."""

    @abstractmethod
    def cdf(self, y: torch.Tensor) -> torch.Tensor:
        """Predictive CDF ``P(Y_i <= y_i)``, shape ``batch_shape``."""

    # ------------------------------------------------------------------ generic implementations
    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        """Quantile function. ``q`` a float gives ``batch_shape``; a 1-D tensor ``[m]`` gives ``[m, *batch_shape]``.

        Generic implementation: bisection on :meth:`cdf` inside a bracket grown from
        ``mean +- k * stddev`` until it holds the quantile.
        """
        levels, scalar = self._check_levels(q)
        results = torch.stack([self._bisect_quantile(float(level)) for level in levels])
        return results[0] if scalar else results

    def interval(self, level: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Central predictive interval holding probability ``level``: ``(q((1-level)/2), q((1+level)/2))``."""
        level = check_probability(level, "level")
        bounds = self.quantile(torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
        return bounds[0], bounds[1]

    def crps(self, y: torch.Tensor) -> torch.Tensor:
        """Continuous ranked probability score per point (lower is better), shape ``batch_shape``.

        ``CRPS(F, y) = E|Y - y| - 0.5 E|Y - Y'|`` with ``Y, Y' ~ F`` independent (Gneiting & Raftery,
        2007). Generic estimate from :data:`_CRPS_SAMPLES` draws with a fixed seed, using the
        unbiased pairwise form via sorted samples.
        """
        y = self._check_value(y, "y")
        draws = self.sample(_CRPS_SAMPLES, generator=0).to(y.dtype)
        return _sample_crps(draws, y)

    def affine(self, shift: torch.Tensor | float, scale: torch.Tensor | float) -> Predictive:
        """The predictive of ``shift + scale * Y`` (e.g. to undo target standardisation)."""
        from probnn.predictive.transformed import AffinePredictive

        return AffinePredictive(self, shift, scale)

    # ------------------------------------------------------------------ helpers
    def _check_value(self, y: torch.Tensor, name: str) -> torch.Tensor:
        tensor = to_tensor(y, name)
        if not tensor.dtype.is_floating_point:
            tensor = tensor.to(self.mean.dtype)
        if bool(torch.isnan(tensor).any()):
            # +-inf are legitimate values (log_prob -inf, cdf 0 or 1); NaN would only yield NaN silently
            raise _nan_error(name, tensor)
        if tensor.ndim == len(self.batch_shape) + 1 and tensor.shape[-1] == 1:
            tensor = tensor[..., 0]
        try:
            torch.broadcast_shapes(tensor.shape, self.batch_shape)
        except RuntimeError as error:
            raise _shape_error(name, tensor.shape, self.batch_shape) from error
        return tensor.to(self.mean.dtype)

    @staticmethod
    def _check_levels(q: float | torch.Tensor) -> tuple[torch.Tensor, bool]:
        scalar = not isinstance(q, torch.Tensor) or q.ndim == 0
        levels = torch.as_tensor(q, dtype=torch.float64).reshape(-1)
        for level in levels.tolist():
            check_probability(level, "q")
        return levels, scalar

    def _bisect_quantile(self, level: float) -> torch.Tensor:
        mean, std = self.mean.detach(), self.stddev.detach()
        std = torch.where(torch.isfinite(std) & (std > 0), std, torch.ones_like(std))
        width = 8.0
        low, high = mean - width * std, mean + width * std
        for _ in range(60):  # grow the bracket until cdf(low) <= level <= cdf(high)
            bad_low = self.cdf(low) > level
            bad_high = self.cdf(high) < level
            if not bool(bad_low.any() or bad_high.any()):
                break
            low = torch.where(bad_low, low - (high - low), low)
            high = torch.where(bad_high, high + (high - low), high)
        for _ in range(_BISECTION_STEPS):
            middle = 0.5 * (low + high)
            below = self.cdf(middle) < level
            low = torch.where(below, middle, low)
            high = torch.where(below, high, middle)
        return 0.5 * (low + high)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_shape={tuple(self.batch_shape)})"


def _shape_error(name: str, got: torch.Size, expected: torch.Size) -> Exception:
    from probnn.errors import InputError

    return InputError(f"{name} must have shape {tuple(expected)} (the predictive's batch); got {tuple(got)}")


def _nan_error(name: str, tensor: torch.Tensor) -> Exception:
    from probnn.errors import InputError

    count = int(torch.isnan(tensor).sum())
    return InputError(f"{name} must not contain NaN; got {count} NaN entries")


def _sample_crps(draws: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sample CRPS: ``mean|X_i - y| - sum_{i<j}|X_i - X_j| / (m (m-1))`` computed in O(m log m).

    ``draws`` has shape ``[m, *batch]``. With sorted draws ``x_(1..m)``,
    ``sum_{i<j} (x_(j) - x_(i)) = sum_k (2k - m - 1) x_(k)``.
    """
    m = draws.shape[0]
    term1 = (draws - y).abs().mean(0)
    ordered, _ = draws.sort(dim=0)
    weights = (2 * torch.arange(1, m + 1, dtype=draws.dtype) - m - 1).reshape(-1, *[1] * (draws.ndim - 1))
    term2 = (weights * ordered).sum(0) / (m * (m - 1))
    return term1 - term2


def check_num_samples(num_samples: int) -> int:
    """Validate a ``num_samples`` argument."""
    return check_positive_int(num_samples, "num_samples")


def sample_generator(generator: GeneratorLike) -> torch.Generator:
    """Resolve a sampling generator (thin alias kept for symmetry in subclasses)."""
    return as_generator(generator)


LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
