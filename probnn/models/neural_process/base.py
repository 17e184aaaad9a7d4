"""The neural-process model contract shared by CNP, attentive CNP, latent NP and MPNP / MPANP.

A neural process is an amortized posterior predictive: given a context set ``C = {(x_i, y_i)}``
it outputs ``p(y* | x*, C)`` in one forward pass. In probnn every neural process is

* a :class:`probnn.models.Model` (``probnn.fit(np_model, x_context, y_context, method="condition")``
  returns a :class:`~probnn.models.neural_process.posterior.NeuralProcessPosterior`), and
* an :class:`probnn.inference.pretrain.AmortizedModule` (``loss(batch, *, generator)``), trained by
  the shared driver :func:`probnn.inference.pretrain.pretrain` on fresh tasks from any prior.

Stochastic neural processes (latent NP, MPNP) draw ``S`` *conditioning draws* given the context
(latent variables ``z_s``, or pseudo-context sets ``P_s``) and predict with the equal-weight mixture
``p(y* | x*, C) ~ (1/S) sum_s N(y*; mu_s(x*), sigma_s(x*)^2)``. The draws depend on the context only, so
a posterior draws them once at conditioning time and reuses them for every query: predictions at
different inputs are marginals of one joint mixture, and repeated calls agree exactly.

Subclasses implement :meth:`NeuralProcess.draw` (``{}`` for deterministic models),
:meth:`NeuralProcess.decode` and :meth:`NeuralProcess.loss`. Tensor shapes: ``B`` tasks, ``n``
context points, ``m`` targets, ``d`` input features, ``out = 1`` output, ``S`` conditioning draws.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from probnn.errors import InputError
from probnn.models.base import Model
from probnn.predictive import GaussianPredictive, MixturePredictive, Predictive
from probnn.random import GeneratorLike, as_generator

if TYPE_CHECKING:
    from probnn.datasets.tasks import TaskBatch

#: The method name of conditioning a pre-trained neural process on a context set.
CONDITION_METHOD = "condition"


def gaussian_log_prob(y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log N(y; mean, std^2)`` (differentiable, any broadcastable shapes)."""
    return torch.distributions.Normal(mean, std).log_prob(y)


def log_mean_exp(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``log (1/K) sum_k exp(values_k)`` along ``dim``, stably."""
    return torch.logsumexp(values, dim) - torch.log(torch.tensor(float(values.shape[dim]), dtype=values.dtype))


class NeuralProcess(Model, nn.Module):
    """Abstract base of probnn's neural processes.

    Args (common to every subclass):
        num_features: input dimension ``d``.
        width: hidden width of every network (128 in the bnp code).
        num_samples: conditioning draws ``S`` used at prediction time by stochastic models
            (50 by default: the paper's test-time number of pseudo-context sets / latent samples).
    """

    backends: ClassVar[dict[str, str]] = {CONDITION_METHOD: "probnn.models.neural_process.posterior:fit_condition"}
    default_method = CONDITION_METHOD
    #: ``True`` for models whose predictive is a mixture over conditioning draws.
    stochastic: ClassVar[bool] = False

    def __init__(self, *, num_features: int = 1, width: int = 128, num_samples: int = 50) -> None:
        nn.Module.__init__(self)
        for name, value in (("num_features", num_features), ("width", width), ("num_samples", num_samples)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name} must be a positive int; got {value!r}")
        self.num_features = num_features
        self.width = width
        self.num_samples = num_samples
        self.metadata: dict[str, Any] = {}

    # ------------------------------------------------------------------ to implement
    def draw(self, x_context: torch.Tensor, y_context: torch.Tensor, num_samples: int, *,
             generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Conditioning draws given the context: tensors with leading axes ``[S, B, ...]``.

        Deterministic models return ``{}`` (one component).
        """
        return {}

    @abstractmethod
    def decode(self, x_context: torch.Tensor, y_context: torch.Tensor, draws: dict[str, torch.Tensor],
               x_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive parameters ``(mean, std)``, each ``[S, B, m, out]`` (``S = 1`` without draws)."""

    @abstractmethod
    def loss(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training objective on a task batch (contract C): a scalar, mean over tasks."""

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON) that rebuild this model."""
        return {"num_features": self.num_features, "width": self.width, "num_samples": self.num_samples}

    # ------------------------------------------------------------------ shared machinery
    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _cast(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        return [tensor.to(self.dtype) for tensor in tensors]

    def predictive(self, x_context: torch.Tensor, y_context: torch.Tensor, x_target: torch.Tensor, *,
                   num_samples: int | None = None, generator: GeneratorLike = None,
                   draws: dict[str, torch.Tensor] | None = None) -> Predictive:
        """``p(y* | x*, C)`` for a batch of tasks: batch shape ``[B, m]`` (float64).

        Gaussian for deterministic models; an equal-weight :class:`MixturePredictive` over ``S``
        conditioning draws (``num_samples``, default ``self.num_samples``) for stochastic ones.
        Pass ``draws`` to reuse conditioning draws (what a posterior does).
        """
        x_context, y_context, x_target = self._cast(x_context, y_context, x_target)
        with torch.no_grad():
            if draws is None:
                draws = self.draw(x_context, y_context, num_samples or self.num_samples,
                                  generator=as_generator(generator))
            mean, std = self.decode(x_context, y_context, draws, x_target)
        mean, variance = mean[..., 0].double(), std[..., 0].double() ** 2
        if not self.stochastic:
            return GaussianPredictive(mean[0], variance[0])
        return MixturePredictive(GaussianPredictive(mean, variance))

    def log_likelihood(self, batch: TaskBatch, *, num_samples: int | None = None,
                       generator: GeneratorLike = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-point predictive log-likelihoods ``(context [B, n], target [B, m])`` given the context.

        The evaluation of the bnp code: the context points and the target points are both scored
        under ``p(. | x, C)`` (for mixtures, ``log (1/S) sum_s N(y; mu_s, sigma_s^2)`` per point).
        """
        predictive = self.predictive(batch.x_context, batch.y_context, batch.x_all, num_samples=num_samples,
                                     generator=generator)
        values = predictive.log_prob(batch.y_all[..., 0].double())
        count = batch.x_context.shape[1]
        return values[:, :count], values[:, count:]

    # ------------------------------------------------------------------ prior contract
    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        """Mean functions of the context-free predictive: ``[S, n, out]`` (float64).

        For stochastic models these are the components' means under ``S`` conditioning draws with
        an empty context (latent samples from the prior, or generated pseudo-contexts). A
        deterministic model has no function uncertainty: its ``S`` draws are all equal.
        """
        x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise InputError(f"x must have shape [num_points, {self.num_features}]; got {tuple(x.shape)}")
        (x,) = self._cast(x)
        empty_x, empty_y = x.new_zeros(1, 0, self.num_features), x.new_zeros(1, 0, 1)
        with torch.no_grad():
            draws = self.draw(empty_x, empty_y, num_samples, generator=as_generator(generator))
            mean, _ = self.decode(empty_x, empty_y, draws, x.unsqueeze(0))
        mean = mean[:, 0].double()
        return mean if mean.shape[0] == num_samples else mean.expand(num_samples, -1, -1).clone()

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config = {**self.config(), "metadata": self.metadata}
        return config, {key: value.detach().clone() for key, value in self.state_dict().items()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> NeuralProcess:
        config = dict(config)
        metadata = config.pop("metadata", {})
        model = cls(**config)
        model.load_state_dict(tensors)
        model.metadata = dict(metadata)
        model.eval()
        return model

    def num_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({settings})"
