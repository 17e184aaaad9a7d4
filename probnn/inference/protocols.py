"""What a parametric model implements to be fitted by nuts / hmc / svi / sghmc (contract B).

A *parametric* model has a finite set of latent variables ``theta`` (network weights, kernel
hyperparameters, scales) with a prior and a likelihood. The sampling and variational backends
only need its log joint ``log p(y, theta | x)`` and a way to turn posterior draws of ``theta`` into
predictions:

* :meth:`ParametricModel.numpyro_model` -- the log joint as a numpyro model. This is the compiled
  fast path (JAX ``jit`` + NUTS in XLA). The observation site must be named ``"y"`` and be
  ``obs=y`` (``None`` when predicting). Latent sites may be ``numpyro.deterministic`` transforms of
  non-centred sample sites; the backends record both.
* :meth:`ParametricModel.pyro_model` (optional) -- the same log joint in pyro, over torch tensors;
  used by the generic path (``engine="pyro"``) and by :class:`probnn.models.PyroModel`.
* :meth:`ParametricModel.predictive_from_draws` -- ``draws`` maps site names to tensors
  ``[num_draws, ...]`` (chains flattened); returns a :class:`probnn.predictive.MixturePredictive`
  (equal weights) over the draws, or an equivalent predictive (e.g. averaged class probabilities).
* :meth:`ParametricModel.log_likelihood_from_draws` -- pointwise ``log p(y_i | x_i, theta_s)``
  ``[num_draws, num_points]``, exported to ArviZ for ``az.loo`` / ``az.waic``.

Optional, for the local reparameterisation trick of ``method="svi"`` (mean-field; see
:mod:`probnn.inference.local_reparameterization`): ``local_reparameterization_layers()`` (the
``(weight site, bias site)`` names per layer, or ``None``), ``jax_activation()`` and
``jax_observation_distribution(f, latent)``. :class:`probnn.models.BNN` implements them.

``x_train`` / ``y_train`` are passed to ``predictive_from_draws`` for models whose predictive
depends on the training data given ``theta`` (e.g. a GP with sampled hyperparameters).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from probnn.predictive import Predictive

#: Name of the observation site in every numpyro / pyro model the backends fit.
OBSERVATION_SITE = "y"


@runtime_checkable
class ParametricModel(Protocol):
    """Structural type of models fitted by the nuts / hmc / svi / sghmc backends."""

    def numpyro_model(self, x: Any, y: Any | None) -> None:
        """The log joint as a numpyro model over JAX arrays ``x [n, d]``, ``y [n]`` (or ``None``)."""

    def predictive_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor, *,
                              x_train: torch.Tensor | None = None,
                              y_train: torch.Tensor | None = None) -> Predictive:
        """Posterior predictive at ``x`` from draws ``{site: [num_draws, ...]}``."""

    def log_likelihood_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor,
                                  y: torch.Tensor) -> torch.Tensor:
        """Pointwise log likelihood ``[num_draws, num_points]``."""


def has_numpyro_model(model: Any) -> bool:
    """Whether ``model`` offers the compiled (numpyro/JAX) path."""
    return callable(getattr(model, "numpyro_model", None))


def has_pyro_model(model: Any) -> bool:
    """Whether ``model`` offers the generic (pyro/torch) path."""
    return callable(getattr(model, "pyro_model", None))
