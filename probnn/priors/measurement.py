"""Measurement sets: the inputs ``X_M`` at which two priors over functions are compared.

Functional-prior fitting (Tran et al., 2022) matches the distribution of ``f(X_M)`` under a target
process and under a BNN. ``X_M`` is redrawn at every outer step (so the match holds over a region,
not just at fixed points) except for a fixed grid.

* :class:`GridMeasurementSet` -- a regular grid on a box (low-dimensional inputs; the 1D toy uses 200
  points on ``[-5, 5]``-like intervals). Fixed.
* :class:`BoxMeasurementSet` -- ``num_points`` uniform points in a box, redrawn per step.
* :class:`DataMeasurementSet` -- the paper's UCI choice: a fraction ``data_fraction`` (0.7) of the
  points are training inputs drawn without replacement, the rest (0.3) uniform in the training inputs'
  bounding box, redrawn per step.

Every measurement set has ``sample(generator) -> [num_points, num_features]`` (float64) and
``num_points`` / ``num_features``. A plain tensor ``[M, d]`` is accepted wherever a measurement set is
(:func:`as_measurement_set` wraps it as a fixed set).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from probnn.errors import InputError
from probnn.random import GeneratorLike, as_generator
from probnn.validation import check_inputs

DTYPE = torch.float64


def _as_bounds(low: float | Sequence[float] | torch.Tensor, high: float | Sequence[float] | torch.Tensor,
               num_features: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    lower = torch.as_tensor(low, dtype=DTYPE).reshape(-1)
    upper = torch.as_tensor(high, dtype=DTYPE).reshape(-1)
    size = max(len(lower), len(upper), num_features or 1)
    if len(lower) not in (1, size) or len(upper) not in (1, size):
        raise InputError(f"low and high must be scalars or have num_features={size} entries")
    lower, upper = lower.expand(size).clone(), upper.expand(size).clone()
    if not bool((upper > lower).all()):
        raise InputError(f"high must exceed low in every dimension; got low={lower.tolist()}, high={upper.tolist()}")
    return lower, upper


class MeasurementSet:
    """Base class: a (possibly random) set of ``num_points`` inputs in ``R^num_features``."""

    num_points: int
    num_features: int

    def sample(self, generator: GeneratorLike = None) -> torch.Tensor:
        """Draw the inputs for one step: ``[num_points, num_features]`` float64."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON description (recorded in a fit's ``fit_info``)."""
        return {"kind": type(self).__name__, "num_points": self.num_points, "num_features": self.num_features}


class FixedMeasurementSet(MeasurementSet):
    """The same inputs ``x [M, d]`` at every step."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = check_inputs(x, "measurement_set", dtype=DTYPE)
        self.num_points, self.num_features = self.x.shape

    def sample(self, generator: GeneratorLike = None) -> torch.Tensor:
        return self.x


class GridMeasurementSet(FixedMeasurementSet):
    """A regular grid with ``points_per_dimension`` points per axis on ``[low, high]^d`` (fixed).

    Example:
        >>> GridMeasurementSet(-1.0, 1.0, 200).sample().shape
        torch.Size([200, 1])
    """

    def __init__(self, low: float | Sequence[float], high: float | Sequence[float], points_per_dimension: int,
                 num_features: int | None = None) -> None:
        if not isinstance(points_per_dimension, int) or points_per_dimension < 2:
            raise InputError(f"points_per_dimension must be an int >= 2; got {points_per_dimension!r}")
        lower, upper = _as_bounds(low, high, num_features)
        axes = [torch.linspace(float(a), float(b), points_per_dimension, dtype=DTYPE) for a, b in zip(lower, upper)]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))
        super().__init__(grid)
        self.low, self.high = lower, upper


class BoxMeasurementSet(MeasurementSet):
    """``num_points`` points uniform on the box ``[low, high]``, redrawn at every step."""

    def __init__(self, low: float | Sequence[float], high: float | Sequence[float], num_points: int,
                 num_features: int | None = None) -> None:
        if not isinstance(num_points, int) or num_points < 1:
            raise InputError(f"num_points must be a positive int; got {num_points!r}")
        self.low, self.high = _as_bounds(low, high, num_features)
        self.num_points = num_points
        self.num_features = len(self.low)

    def sample(self, generator: GeneratorLike = None) -> torch.Tensor:
        generator = as_generator(generator)
        uniform = torch.rand(self.num_points, self.num_features, generator=generator, dtype=DTYPE)
        return self.low + (self.high - self.low) * uniform


class DataMeasurementSet(MeasurementSet):
    """Training inputs mixed with uniform points in their bounding box (Tran et al.'s 70/30 split).

    Each draw takes ``round(data_fraction * num_points)`` distinct rows of ``x`` (all of them if there
    are fewer) and fills the rest with points uniform in ``[min x, max x]`` per feature.

    Args:
        x: training inputs ``[n, d]``.
        num_points: size of each measurement set (paper: 100 for UCI).
        data_fraction: share of training inputs (paper: 0.7).
    """

    def __init__(self, x: torch.Tensor, num_points: int = 100, data_fraction: float = 0.7) -> None:
        self.x = check_inputs(x, "x", dtype=DTYPE)
        if not isinstance(num_points, int) or num_points < 1:
            raise InputError(f"num_points must be a positive int; got {num_points!r}")
        if not 0.0 <= data_fraction <= 1.0:
            raise InputError(f"data_fraction must lie in [0, 1]; got {data_fraction!r}")
        self.num_points = num_points
        self.num_features = self.x.shape[1]
        self.data_fraction = float(data_fraction)
        self.low = self.x.min(0).values
        self.high = self.x.max(0).values

    def sample(self, generator: GeneratorLike = None) -> torch.Tensor:
        generator = as_generator(generator)
        num_data = min(round(self.data_fraction * self.num_points), self.x.shape[0])
        rows = torch.randperm(self.x.shape[0], generator=generator)[:num_data]
        uniform = torch.rand(self.num_points - num_data, self.num_features, generator=generator, dtype=DTYPE)
        return torch.cat([self.x[rows], self.low + (self.high - self.low) * uniform])

    def config(self) -> dict[str, Any]:
        return {**super().config(), "data_fraction": self.data_fraction}


def as_measurement_set(measurement_set: MeasurementSet | torch.Tensor) -> MeasurementSet:
    """Accept a :class:`MeasurementSet` or a fixed tensor of inputs ``[M, d]``."""
    if isinstance(measurement_set, MeasurementSet):
        return measurement_set
    if isinstance(measurement_set, torch.Tensor):
        return FixedMeasurementSet(measurement_set)
    raise InputError("measurement_set must be a probnn.priors.MeasurementSet or a tensor of inputs "
                     f"[num_points, num_features]; got {type(measurement_set).__name__}")
