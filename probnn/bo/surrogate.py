"""The surrogate's predictive at candidate points, and the input coordinates a surrogate is fitted in."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from probnn.errors import InputError
from probnn.posterior import Posterior
from probnn.predictive import Predictive

#: The input coordinates :func:`probnn.bo.minimize` can fit a surrogate in: ``"unit"`` maps the search
#: box onto ``[0, 1]^d``, ``"centred"`` onto ``[-1, 1]^d``; ``"auto"`` picks per surrogate
#: (:func:`input_scaling_for`).
INPUT_SCALINGS = ("auto", "unit", "centred")


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


def is_translation_invariant(surrogate: Any) -> bool:
    """Whether the surrogate's prior over functions is invariant to shifting the inputs.

    A model with a gpytorch ``kernel`` answers with the kernel's ``is_stationary`` (True for RBF /
    Matern, False for the NNGP / NTK dot-product kernels, through ``ScaleKernel`` too); a model
    without a kernel but with weights (``num_features`` and a ``numpyro_model``, e.g. a BNN) is not
    invariant (``f(x) = W2 phi(W1 x + b1) + b2`` with zero-mean priors is centred at the origin).
    Anything else is treated as invariant (its inputs are left in the unit cube).
    """
    kernel = getattr(surrogate, "kernel", None)
    if kernel is None and hasattr(surrogate, "ensure_kernel") and getattr(surrogate, "default_kernel", False):
        return True  # the GP's default RBF-ARD kernel, built at the first fit
    if kernel is not None:
        return bool(getattr(kernel, "is_stationary", True))
    return not hasattr(surrogate, "numpyro_model")


def input_scaling_for(surrogate: Any, backend_options: set[str] | None = None) -> str:
    """``"auto"`` resolved for ``surrogate``: ``"centred"`` (inputs in ``[-1, 1]^d``) when its prior is
    not translation-invariant, ``"unit"`` (``[0, 1]^d``) otherwise and for backends that rescale inputs
    themselves (a ``rescale_inputs`` option: the PFN, whose priors live on the unit cube).

    Why: a dot-product kernel such as the ReLU NNGP depends on the angle between inputs and their norms.
    On the positive orthant ``[0, 1]^d`` every pair of inputs is within 90 degrees of each other, so
    the prior correlates distinct points strongly (depth-3 ReLU NNGP, ``weight_std = 1``,
    ``bias_std = 0.1``: mean prior correlation 0.91 between 200 uniform points of ``[0, 1]^2``, 0.76
    once centred to ``[-1, 1]^2``; ``tests/bo/test_bo_input_scaling.py``) and the posterior hardly
    tells them apart; centred on the origin, the points spread over all directions, as such priors
    (and the weight priors of a BNN, whose hidden units' hyperplanes pass near the origin) assume.
    """
    if backend_options is not None and "rescale_inputs" in backend_options:
        return "unit"
    return "unit" if is_translation_invariant(surrogate) else "centred"


def to_model_inputs(unit: torch.Tensor, scaling: str) -> torch.Tensor:
    """Map unit-cube points to the surrogate's coordinates (``u`` or ``2 u - 1``)."""
    return 2 * unit - 1 if scaling == "centred" else unit


def from_model_inputs(model: torch.Tensor, scaling: str) -> torch.Tensor:
    """Inverse of :func:`to_model_inputs`."""
    return (model + 1) / 2 if scaling == "centred" else model
