"""The Bayesian linear regression both inference test modules check against (a BNN with no hidden layer).

``y = X w + b + eps`` with 30 points, ``eps ~ N(0, NOISE^2)`` and the NT prior (weight variance
``1 / fan_in = 1/2``, bias variance 1): the posterior of ``theta = (w, b)`` is Gaussian with precision
``P + D^T D / NOISE^2`` and mean ``precision^-1 D^T y / NOISE^2``, ``D = [X, 1]``.
"""

from __future__ import annotations

import torch

NOISE = 0.5


def linear_regression_posterior() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``x [30, 2]``, ``y [30]`` and the closed-form posterior mean ``[3]`` and precision ``[3, 3]`` (float64)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(30, 2, generator=generator)
    y = x @ torch.tensor([1.0, -0.5]) + 0.3 + NOISE * torch.randn(30, generator=generator)
    design = torch.cat([x, torch.ones(30, 1)], 1).double()
    prior_precision = torch.diag(torch.tensor([2.0, 2.0, 1.0], dtype=torch.float64))
    precision = prior_precision + design.T @ design / NOISE**2
    mean = torch.linalg.solve(precision, design.T @ y.double() / NOISE**2)
    return x, y, mean, precision
