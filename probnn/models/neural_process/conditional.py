"""Conditional neural processes: CNP (mean pooling) and attentive CNP (multi-head cross-attention).

Garnelo et al., "Conditional Neural Processes" (ICML 2018); Kim et al., "Attentive Neural
Processes" (ICLR 2019; the deterministic-path variant, "CANP" in the bnp code).

Both predict independent Gaussians ``p(y* | x*, C) = N(mu(x*, C), sigma(x*, C)^2)`` and are trained,
as in the bnp code, on

    L_CNP = - (1 / |C u T|) sum_{i in C u T} log N(y_i; mu(x_i, C), sigma(x_i, C)^2),

the context points included (so the model also learns to reproduce its context).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from probnn import io
from probnn.models.neural_process.base import NeuralProcess, gaussian_log_prob
from probnn.models.neural_process.networks import NETWORKS

if TYPE_CHECKING:
    from probnn.datasets.tasks import TaskBatch


class _ConditionalNeuralProcess(NeuralProcess):
    """A deterministic network ``(C, x*) -> (mu, sigma)`` trained on ``L_CNP``."""

    network_kind = "pooling"

    def __init__(self, *, num_features: int = 1, width: int = 128, num_samples: int = 50, heads: int = 8) -> None:
        super().__init__(num_features=num_features, width=width, num_samples=num_samples)
        self.heads = heads
        options = {"heads": heads} if self.network_kind == "attentive" else {}
        self.network = NETWORKS[self.network_kind](num_features, 1, width, **options)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "heads": self.heads}

    def decode(self, x_context: torch.Tensor, y_context: torch.Tensor, draws: dict[str, torch.Tensor],
               x_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = self.network(x_context, y_context, x_target)
        return mean.unsqueeze(0), std.unsqueeze(0)

    def loss(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> torch.Tensor:
        x_context, y_context, x_all, y_all = self._cast(batch.x_context, batch.y_context, batch.x_all, batch.y_all)
        mean, std = self.network(x_context, y_context, x_all)
        return -gaussian_log_prob(y_all, mean, std).mean()


@io.register
class CNP(_ConditionalNeuralProcess):
    """Conditional neural process: ``r = rho(mean_i phi([x_i, y_i]))``, ``(mu, sigma) = psi([r, x*])``.

    Example:
        >>> import torch, probnn
        >>> model = CNP(width=16)
        >>> x = torch.linspace(-2, 2, 5, dtype=torch.float64).unsqueeze(-1)
        >>> posterior = probnn.fit(model, x, torch.sin(x[:, 0]), method="condition")
        >>> posterior.predict(x).mean.shape
        torch.Size([5])
    """

    network_kind = "pooling"


@io.register
class AttentiveCNP(_ConditionalNeuralProcess):
    """Attentive CNP: self-attention over the context, ``heads``-head cross-attention from each target."""

    network_kind = "attentive"
