"""The surrogate's predictive at candidate points (no BoTorch needed)."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from probnn.posterior import Posterior
from probnn.predictive import Predictive


def _accepts(function: Any, name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def predict_latent(posterior: Posterior, x: torch.Tensor, *, observation_noise: bool = False) -> Predictive:
    """The predictive at ``x`` ``[n, d]``: of the latent ``f`` when the posterior can leave out the
    observation noise (``predict(x, observation_noise=False)``, e.g. the exact GP, as BoTorch does),
    else of the observations ``y`` (every other posterior's ``predict``)."""
    if _accepts(posterior.predict, "observation_noise"):
        return posterior.predict(x, observation_noise=observation_noise)
    return posterior.predict(x)
