"""``method="condition"``: condition a pre-trained neural process on a context set.

``probnn.fit(np_model, x_context, y_context, method="condition")`` runs no optimisation: it encodes
the context (and, for stochastic models, draws the ``S`` conditioning draws: latent samples or
pseudo-context sets) once, and returns a :class:`NeuralProcessPosterior` whose ``predict(x)`` is a
:class:`~probnn.predictive.GaussianPredictive` (CNP, attentive CNP) or an equal-weight
:class:`~probnn.predictive.MixturePredictive` over the draws (latent NP, MPNP, MPANP).
"""

from __future__ import annotations

from typing import Any

import torch

from probnn import io
from probnn.errors import InputError, InputTypeError
from probnn.models.neural_process.base import NeuralProcess
from probnn.posterior import Posterior
from probnn.predictive import Predictive
from probnn.random import GeneratorLike, as_generator
from probnn.validation import check_positive_int


@io.register
class NeuralProcessPosterior(Posterior):
    """A neural process conditioned on one context set.

    Attributes:
        x_context ``[n, d]``, y_context ``[n]`` (float64, as given);
        draws: conditioning draws ``{name: [S, 1, ...]}`` (empty for deterministic models).
    """

    method = "condition"

    def __init__(self, model: NeuralProcess, x_context: torch.Tensor, y_context: torch.Tensor,
                 draws: dict[str, torch.Tensor], *, fit_info: dict[str, Any] | None = None) -> None:
        super().__init__(model, num_features=x_context.shape[-1], fit_info=fit_info)
        self.x_context = x_context
        self.y_context = y_context
        self.draws = draws

    @property
    def num_components(self) -> int:
        """Mixture components of the predictive (1 for deterministic models)."""
        return next(iter(self.draws.values())).shape[0] if self.draws else 1

    def predict(self, x: torch.Tensor) -> Predictive:
        """Predictive of ``y`` at ``x [m, d]``: batch shape ``[m]``."""
        x = self.check_inputs(x)
        predictive = self.model.predictive(self.x_context.unsqueeze(0), self.y_context[None, :, None],
                                           x.unsqueeze(0), draws=self.draws)
        return _drop_task_axis(predictive)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors = {"x_context": self.x_context, "y_context": self.y_context}
        tensors.update({f"draws.{key}": value for key, value in self.draws.items()})
        config = {"model": io.encode_child(self.model, "model", tensors), "fit_info": self.fit_info}
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> NeuralProcessPosterior:
        model = io.decode_child(config["model"], "model", tensors)
        draws = {key[len("draws."):]: value for key, value in tensors.items() if key.startswith("draws.")}
        return cls(model, tensors["x_context"], tensors["y_context"], draws, fit_info=config["fit_info"])


def _drop_task_axis(predictive: Predictive) -> Predictive:
    """``[1, m]`` (or mixture components ``[S, 1, m]``) -> ``[m]``."""
    from probnn.predictive import GaussianPredictive, MixturePredictive

    if isinstance(predictive, MixturePredictive):
        components = predictive.components
        return MixturePredictive(GaussianPredictive(components.mean[:, 0], components.variance[:, 0]),
                                 predictive.log_weights)
    return GaussianPredictive(predictive.mean[0], predictive.variance[0])


def fit_condition(model: NeuralProcess, x: torch.Tensor, y: torch.Tensor, *, num_samples: int | None = None,
                  generator: GeneratorLike = None, progress: bool | None = None) -> NeuralProcessPosterior:
    """Condition ``model`` on the context ``(x [n, d], y [n])``.

    Args:
        num_samples: conditioning draws ``S`` for stochastic models (default ``model.num_samples``:
            50 pseudo-context sets or latent samples).
        generator: seed or generator of the draws (same seed, same posterior).
        progress: accepted for the backend contract; conditioning is one forward pass.
    """
    if not isinstance(model, NeuralProcess):
        raise InputTypeError(f"method='condition' needs a neural process; got {type(model).__name__}")
    if x.shape[-1] != model.num_features:
        raise InputError(f"x has {x.shape[-1]} features; this neural process was built for {model.num_features}")
    if y.ndim != 1:
        raise InputError(f"y must be 1-D [num_points] for a neural process; got shape {tuple(y.shape)}")
    samples = check_positive_int(num_samples if num_samples is not None else model.num_samples, "num_samples")
    model.eval()
    x_model, y_model = x.to(model.dtype).unsqueeze(0), y.to(model.dtype)[None, :, None]
    with torch.no_grad():
        draws = model.draw(x_model, y_model, samples, generator=as_generator(generator))
    draws = {key: value.detach().clone() for key, value in draws.items()}
    return NeuralProcessPosterior(model, x.to(torch.float64), y.to(torch.float64), draws,
                                  fit_info={"num_context": int(x.shape[0]), "num_samples": samples if draws else 1})
