"""Named priors for PFN pre-training (``probnn pretrain --prior NAME``).

Each preset is a factory ``num_features -> Model`` plus the task settings it was designed for.
Inputs live in the unit cube ``[0, 1]^d`` (``fit_pfn`` rescales data there).

* ``gp``: zero-mean GP, RBF kernel with lengthscale 0.2, output scale 1, noise variance 0.1,
  ``d = 1``; targets are *not* standardised (a fixed-hyperparameter prior, where the exact GP
  posterior predictive is the Bayes-optimal answer the PFN is checked against).
* ``gp-hyperprior``: zero-mean GP, RBF-ARD kernel with hyperpriors
  ``lengthscale_j ~ LogNormal(log 0.35, 0.6)`` (95 % in ``[0.11, 1.1]``, from wiggly to nearly linear on
  the unit cube), ``outputscale ~ LogNormal(0, 0.5)`` and noise variance ``~ LogNormal(log 0.02, 1.2)``
  (95 % in ``[0.002, 0.2]``, signal-to-noise from 5 to 500), ``d`` drawn from 1..3; targets
  standardised with the training set's mean and std, so the shipped PFN works in any units.
* ``gp-hyperprior-raw``: the same prior with targets left in the prior's own units (zero mean,
  ``outputscale ~ LogNormal(0, 0.5)``). Standardising makes a PFN's answer invariant to shifting and
  scaling ``y``, so it cannot use what the prior says about the level and size of ``y`` (far from
  the data the Bayes predictive reverts to the prior mean 0, and the magnitude of ``y`` informs the
  output scale); at small ``n`` that information is worth a lot. This preset's PFN is the Bayes
  answer for data that really are on the prior's scale (the benchmark against NUTS), the
  standardised one is the tool for data in arbitrary units.
* ``gp-bo``: the GP prior for Bayesian optimisation of (nearly) deterministic objectives: as
  ``gp-hyperprior`` but with the lengthscale location scaled by ``sqrt(d)``, noise variance
  ``~ LogNormal(log 1e-4, 2)`` and ``d`` drawn from 1..6.
* ``bnn``: a small Bayesian neural network prior (one hidden layer of 50 tanh units, Gaussian
  weight prior, noise standard deviation 0.1), when :mod:`probnn.models.bnn` is available.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from probnn.errors import InputError
from probnn.models.base import Model


@dataclass(frozen=True)
class PriorPreset:
    """A named prior: factory, input dimensions, target normalisation and a description."""

    name: str
    factory: Callable[[int], Model]
    num_features: int | tuple[int, int]
    target_normalisation: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)


FIXED_LENGTHSCALE = 0.2
FIXED_OUTPUTSCALE = 1.0
FIXED_NOISE = 0.1


def fixed_gp(num_features: int) -> Model:
    """The ``gp`` preset's model for ``num_features`` inputs."""
    import gpytorch

    from probnn.gp.regression import GP

    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=num_features))
    kernel.base_kernel.lengthscale = FIXED_LENGTHSCALE
    kernel.outputscale = FIXED_OUTPUTSCALE
    return GP(kernel, noise=FIXED_NOISE, mean="zero", num_features=num_features)


#: Hyperpriors of the ``gp-hyperprior`` preset as (location, scale) of log-normals.
HYPERPRIOR_LOGNORMALS = {
    "lengthscale": (math.log(0.35), 0.6),
    "outputscale": (0.0, 0.5),
    "noise": (math.log(0.02), 1.2),
}


def _lognormal_hyperprior_gp(num_features: int, lognormals: dict[str, tuple[float, float]]) -> Model:
    """Zero-mean RBF-ARD GP with log-normal hyperpriors ``{name: (location, scale)}`` on lengthscale,
    outputscale and noise."""
    import gpytorch

    from probnn.gp.regression import GP

    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=num_features))
    hyperpriors = {name: torch.distributions.LogNormal(torch.tensor(loc, dtype=torch.float64),
                                                       torch.tensor(scale, dtype=torch.float64))
                   for name, (loc, scale) in lognormals.items()}
    return GP(kernel, noise="learned", mean="zero", num_features=num_features, hyperpriors=hyperpriors)


def hyperprior_gp(num_features: int) -> Model:
    """The ``gp-hyperprior`` preset's model for ``num_features`` inputs."""
    return _lognormal_hyperprior_gp(num_features, HYPERPRIOR_LOGNORMALS)


#: Hyperpriors of the ``gp-bo`` preset (location, scale of log-normals). The lengthscale location
#: grows with the dimension (``log(0.35 sqrt(d))``: a fixed per-dimension lengthscale makes functions
#: ever more wiggly as d grows), and the noise variance is centred at 1e-4 (95 % in [2e-6, 5e-3]): black-box
#: objectives in Bayesian optimisation are mostly deterministic, and a model that believes in noise
#: keeps re-evaluating its incumbent (EI stays positive where the predictive spread cannot shrink).
BO_HYPERPRIOR_LOGNORMALS = {
    "lengthscale": (math.log(0.35), 0.6),
    "outputscale": (0.0, 0.5),
    "noise": (math.log(1e-4), 2.0),
}


def bo_gp(num_features: int) -> Model:
    """The ``gp-bo`` preset's model for ``num_features`` inputs (see :data:`BO_HYPERPRIOR_LOGNORMALS`)."""
    location, scale = BO_HYPERPRIOR_LOGNORMALS["lengthscale"]
    lognormals = {**BO_HYPERPRIOR_LOGNORMALS, "lengthscale": (location + 0.5 * math.log(num_features), scale)}
    return _lognormal_hyperprior_gp(num_features, lognormals)


def small_bnn(num_features: int) -> Model:
    """The ``bnn`` preset's model (needs :mod:`probnn.models.bnn`)."""
    try:
        from probnn.models.bnn import BNN
    except ImportError as error:  # pragma: no cover - depends on the inference branch
        raise InputError("the 'bnn' prior needs probnn.models.bnn, which this installation lacks") from error
    return BNN(num_features, hidden=(50,), activation="tanh", noise=0.1)   # noise is a standard deviation


PRESETS: dict[str, PriorPreset] = {
    "gp": PriorPreset("gp", fixed_gp, 1, "none",
                      f"GP, RBF lengthscale {FIXED_LENGTHSCALE}, outputscale {FIXED_OUTPUTSCALE}, noise variance "
                      f"{FIXED_NOISE}, zero mean, x in [0,1]", {"lengthscale": FIXED_LENGTHSCALE,
                                                                "outputscale": FIXED_OUTPUTSCALE,
                                                                "noise": FIXED_NOISE}),
    "gp-hyperprior": PriorPreset("gp-hyperprior", hyperprior_gp, (1, 3), "standardise",
                                 "GP, RBF-ARD, LogNormal hyperpriors on lengthscales, outputscale and noise; "
                                 "x in [0,1]^d, d=1..3; targets standardised",
                                 {"lognormal_hyperpriors": {k: list(v) for k, v in HYPERPRIOR_LOGNORMALS.items()}}),
    "gp-hyperprior-raw": PriorPreset("gp-hyperprior-raw", hyperprior_gp, (1, 3), "none",
                                     "GP, RBF-ARD, LogNormal hyperpriors on lengthscales, outputscale and noise; "
                                     "x in [0,1]^d, d=1..3; targets in the prior's own units (not standardised)",
                                     {"lognormal_hyperpriors": {k: list(v) for k, v in HYPERPRIOR_LOGNORMALS.items()}}),
    "gp-bo": PriorPreset("gp-bo", bo_gp, (1, 6), "standardise",
                         "GP for Bayesian optimisation: RBF-ARD, lengthscale ~ LogNormal(log(0.35 sqrt(d)), 0.6), "
                         "outputscale ~ LogNormal(0, 0.5), noise variance ~ LogNormal(log 1e-4, 2); x in [0,1]^d, "
                         "d=1..6; targets standardised",
                         {"lognormal_hyperpriors": {k: list(v) for k, v in BO_HYPERPRIOR_LOGNORMALS.items()},
                          "lengthscale_location_per_dimension": "log(0.35) + 0.5 log(d)"}),
    "bnn": PriorPreset("bnn", small_bnn, 1, "standardise",
                       "BNN 1-50-1 tanh, Gaussian weight prior, noise std 0.1; x in [0,1]"),
}


def get_preset(name: str) -> PriorPreset:
    """Look up a preset by name with a clear error."""
    if name not in PRESETS:
        raise InputError(f"unknown prior {name!r}; available: {sorted(PRESETS)}")
    return PRESETS[name]
