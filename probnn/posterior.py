"""The :class:`Posterior` contract: what every inference backend returns.

A posterior wraps the fitted model (a copy: fitting never changes the model a user passed in), the
training data it was conditioned on, and whatever the backend produced (exact factors, MCMC draws,
variational parameters, a PFN's cached context). It turns new inputs into a
:class:`probnn.predictive.Predictive` and saves/loads through :mod:`probnn.io`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from probnn.errors import UnsupportedOperationError
from probnn.predictive import Predictive
from probnn.random import GeneratorLike
from probnn.validation import check_inputs


class Posterior(ABC):
    """Abstract base of every posterior.

    Attributes:
        model: the fitted model (a copy of the one given to :func:`probnn.fit`).
        method: name of the inference method that produced it.
        fit_info: JSON-able facts about the fit (time, steps, jitter, diagnostics).
    """

    method: str = ""

    def __init__(self, model: Any, *, num_features: int, fit_info: dict[str, Any] | None = None) -> None:
        self.model = model
        self.num_features = int(num_features)
        self.fit_info: dict[str, Any] = dict(fit_info or {})

    @abstractmethod
    def predict(self, x: torch.Tensor) -> Predictive:
        """Posterior predictive of observations at ``x`` ``[num_points, num_features]``."""

    def sample_functions(self, x: torch.Tensor, num_samples: int, *,
                         generator: GeneratorLike = None) -> torch.Tensor:
        """Joint posterior draws of the function at ``x``: ``[num_samples, num_points, num_outputs]``."""
        raise UnsupportedOperationError(
            f"{type(self).__name__} (method={self.method!r}) cannot draw joint posterior functions")

    def to_arviz(self) -> Any:
        """An ``arviz.InferenceData`` of the posterior draws (sampling and variational backends)."""
        raise UnsupportedOperationError(
            f"{type(self).__name__} (method={self.method!r}) holds no posterior draws; to_arviz() is "
            "available for posteriors from sampling and variational backends (nuts, hmc, sghmc, svi, ssvi)")

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary of the fit (and diagnostics where the backend has them)."""
        return {"method": self.method, "model": type(self.model).__name__, **self.fit_info}

    def check_inputs(self, x: Any, name: str = "x") -> torch.Tensor:
        """Validate prediction inputs against the number of features seen at fit time."""
        return check_inputs(x, name, num_features=self.num_features)

    # --------------------------------------------------------------------- persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        raise UnsupportedOperationError(f"{type(self).__name__} cannot be saved yet")

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Posterior:
        raise UnsupportedOperationError(f"{cls.__name__} cannot be loaded")

    def save(self, path: str | Path) -> Path:
        """Save atomically to ``path`` (a file, or a directory) as safetensors + JSON metadata."""
        from probnn import io

        return io.save(self, path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={type(self.model).__name__}, method={self.method!r})"
