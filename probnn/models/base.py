"""The one probabilistic-model contract every probnn model implements.

A model is a prior over functions plus a likelihood. It

* declares the inference methods that can fit it (``backends``: method name -> backend path), so
  :func:`probnn.fit` can dispatch and list the valid choices;
* samples functions from its prior at given inputs (:meth:`Model.sample_prior_functions`) and
  observations from its likelihood (:meth:`Model.sample_observations`): this *prior contract* is
  all that functional-prior fitting, PFN pre-training and neural-process pre-training consume,
  through :func:`probnn.datasets.tasks.sample_task_batch`;
* saves and loads through ``get_state``/``from_state`` (see :mod:`probnn.io`).

Parametric models (BNNs, GP hyperparameters) additionally expose their log joint to the sampling
and variational backends; those hooks are documented by the backends that use them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch

from probnn.errors import UnsupportedOperationError
from probnn.random import GeneratorLike, as_generator


class Model(ABC):
    """Abstract base of every probnn model (a prior over functions and a likelihood)."""

    #: Inference methods that fit this model: ``{"method": "module:function"}``. The backend is
    #: called as ``function(model, x, y, **options)`` and returns a :class:`probnn.Posterior`.
    backends: ClassVar[Mapping[str, str]] = {}
    #: The method :func:`probnn.fit` uses when none is given.
    default_method: ClassVar[str | None] = None
    #: ``"real"`` for regression targets, ``"categorical"`` for class labels.
    target_kind: ClassVar[str] = "real"

    @property
    def supported_methods(self) -> tuple[str, ...]:
        """Names of the inference methods that can fit this model."""
        return tuple(self.backends)

    @property
    def num_outputs(self) -> int:
        """Size of the function's output (the ``out`` axis of prior samples)."""
        return 1

    @abstractmethod
    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        """Draw functions from the prior and evaluate them at ``x``.

        Args:
            x: inputs ``[num_points, num_features]``.
            num_samples: number of independent functions.
            generator: seed or ``torch.Generator`` (see :mod:`probnn.random`).

        Returns:
            Function values ``[num_samples, num_points, num_outputs]``.
        """

    def sample_observations(self, f: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        """Draw observations ``y ~ p(y | f)`` from the likelihood, same shape as ``f``.

        Models without an observation model (e.g. a bare kernel prior) raise.
        """
        raise UnsupportedOperationError(f"{type(self).__name__} has no likelihood to sample observations from")

    def sample_prior_batch(self, x: torch.Tensor, *, generator: GeneratorLike = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """One prior draw per task on a batch of input sets (used to build synthetic tasks).

        Args:
            x: inputs ``[batch, num_points, num_features]``; each task has its own inputs and its
                own function (and, for hierarchical priors, its own hyperparameters).

        Returns:
            ``(f, y)``, each ``[batch, num_points, num_outputs]``: noiseless function values and
            observations. The default loops over tasks; models override it with a batched version.
        """
        generator = as_generator(generator)
        functions = torch.stack([self.sample_prior_functions(task, 1, generator=generator)[0] for task in x])
        return functions, self.sample_observations(functions, generator=generator)

    # --------------------------------------------------------------------- persistence
    @abstractmethod
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """JSON config and tensors that rebuild this model (see :mod:`probnn.io`)."""

    @classmethod
    @abstractmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Model:
        """Rebuild a model from :meth:`get_state`'s output."""

    def save(self, path: str | Path) -> Path:
        """Save the model (its prior, hyperparameters and weights) with :func:`probnn.io.save`."""
        from probnn import io

        return io.save(self, path)
