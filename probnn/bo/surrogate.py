"""The surrogate's predictive at candidate points (no BoTorch needed)."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from probnn.errors import InputError
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
    if _accepts(posterior.predict, "observation_noise") and not observation_noise:
        try:
            return posterior.predict(x, observation_noise=False)
        except InputError:
            # a latent predictive with a zero variance somewhere (a posterior that does not floor its
            # latent variance at data points): the predictive of y is still valid for acquisition.
            return posterior.predict(x)
    return posterior.predict(x)
