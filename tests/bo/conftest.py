"""Shared fixtures of the BO tests."""

from collections.abc import Callable

import pytest
import torch

import probnn
from probnn.bo import minimize
from probnn.bo.loop import BOResult


@pytest.fixture
def pfn_loop() -> Callable[..., BOResult]:
    """Run the BO loop on the 2-D quadratic ``||x - 0.5||^2`` with a tiny, untrained, seeded PFN surrogate."""
    from probnn.models.pfn import PFN

    def run(budget: int = 4) -> BOResult:
        torch.manual_seed(0)
        network = PFN(torch.linspace(-4, 4, 33, dtype=torch.float64), max_features=2, width=16, depth=1, heads=2)
        return minimize(lambda x: float(((x - 0.5) ** 2).sum()), [[0.0, 0.0], [1.0, 1.0]],
                        surrogate=probnn.models.GP(), method="pfn", fit_options={"checkpoint": network},
                        budget=budget, initial_points=3, generator=0, progress=False)

    return run
