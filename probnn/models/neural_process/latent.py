"""The latent neural process (NP): a global latent variable carries the function uncertainty.

Garnelo et al., "Neural Processes" (ICML 2018 workshop), with the deterministic path of the bnp
code: ``r = rho(mean_i phi([x_i, y_i]))`` and a latent ``z ~ q(z | S) = N(mu(S), diag s(S)^2)`` from a
second pooling encoder of the set ``S``, with ``s = min_std + (1 - min_std) sigmoid(.)`` (``min_std = 0.1``
as in the bnp code). The decoder gives ``N(y*; mu(r, z, x*), sigma(r, z, x*)^2)``.

Training maximises the one-sample ELBO of the bnp code, per point:

    L_NP = - (1 / |C u T|) sum_{i in C u T} log N(y_i; mu(r_C, z, x_i), sigma^2)
           + KL(q(z | C u T) || q(z | C)) / |C u T|,     z ~ q(z | C u T).

Prediction: ``S`` draws ``z_s ~ q(z | C)`` and the equal-weight mixture over them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from probnn import io
from probnn.models.neural_process.base import NeuralProcess, gaussian_log_prob
from probnn.models.neural_process.layers import MLP, mlp_on_concat
from probnn.models.neural_process.networks import PoolingEncoder, gaussian_head

if TYPE_CHECKING:
    from probnn.datasets.tasks import TaskBatch

#: Floor of the latent standard deviation (the bnp code's ``0.1 + 0.9 sigmoid``).
MIN_LATENT_STD = 0.1


@io.register
class LatentNP(NeuralProcess):
    """Latent neural process with deterministic and latent paths (latent width = ``width``)."""

    stochastic = True

    def __init__(self, *, num_features: int = 1, width: int = 128, num_samples: int = 50) -> None:
        super().__init__(num_features=num_features, width=width, num_samples=num_samples)
        self.deterministic_encoder = PoolingEncoder(num_features + 1, width)
        self.latent_encoder = PoolingEncoder(num_features + 1, width)
        self.latent_head = nn.Linear(width, 2 * width)
        self.decoder = MLP(2 * width + num_features, width, 2, 3)

    def latent_distribution(self, x: torch.Tensor, y: torch.Tensor) -> torch.distributions.Normal:
        """``q(z | {(x_i, y_i)})`` with batch shape ``[B, width]``."""
        loc, raw = self.latent_head(self.latent_encoder(x, y)).chunk(2, dim=-1)
        return torch.distributions.Normal(loc, MIN_LATENT_STD + (1 - MIN_LATENT_STD) * torch.sigmoid(raw))

    def draw(self, x_context: torch.Tensor, y_context: torch.Tensor, num_samples: int, *,
             generator: torch.Generator) -> dict[str, torch.Tensor]:
        prior = self.latent_distribution(x_context, y_context)
        noise = torch.randn((num_samples, *prior.loc.shape), generator=generator, dtype=prior.loc.dtype)
        return {"latent": prior.loc + prior.scale * noise}

    def _decode_latent(self, x_context: torch.Tensor, y_context: torch.Tensor, latent: torch.Tensor,
                       x_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        samples, _, _ = latent.shape
        representation = self.deterministic_encoder(x_context, y_context).expand(samples, -1, -1)
        code = torch.cat([representation, latent], dim=-1)                     # [S, B, 2W]
        # psi([r, z_s, x*]) with the first layer's [r, z_s] part computed once per draw, not per target.
        return gaussian_head(mlp_on_concat(self.decoder, code, x_target), 0.1)

    def decode(self, x_context: torch.Tensor, y_context: torch.Tensor, draws: dict[str, torch.Tensor],
               x_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._decode_latent(x_context, y_context, draws["latent"], x_target)

    def loss(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> torch.Tensor:
        x_context, y_context, x_all, y_all = self._cast(batch.x_context, batch.y_context, batch.x_all, batch.y_all)
        posterior = self.latent_distribution(x_all, y_all)
        prior = self.latent_distribution(x_context, y_context)
        noise = torch.randn(posterior.loc.shape, generator=generator, dtype=posterior.loc.dtype)
        latent = (posterior.loc + posterior.scale * noise).unsqueeze(0)
        mean, std = self._decode_latent(x_context, y_context, latent, x_all)
        reconstruction = gaussian_log_prob(y_all, mean[0], std[0]).mean()
        divergence = torch.distributions.kl_divergence(posterior, prior).sum(-1).mean()
        return -reconstruction + divergence / x_all.shape[1]


__all__ = ["LatentNP"]
