"""Martingale posterior neural processes: MPNP (pooling base) and MPANP (attentive base).

Lee, Yun, Nam, Fong, Lee, "Martingale Posterior Neural Processes" (ICLR 2023, arXiv 2304.09431).
Instead of a finite-dimensional latent variable, the uncertainty comes from a martingale posterior:
a learned exchangeable generator ``g`` (:class:`PseudoContextGenerator`) imputes "future data"
``P_k = g(C, noise_k)`` and the deterministic base network is conditioned on ``C u P_k``:

    p(y* | x*, C) = (1/K) sum_k N(y*; mu(x*, C u P_k), sigma(x*, C u P_k)^2).

Training loss, per task with ``D = C u T`` and ``K`` pseudo-context sets (``K = 4`` in training,
``K = 50`` at test time in the paper), the three terms with equal weights, each per point:

    L_CNP    = - (1/|D|) sum_{i in D} log p(y_i | x_i, C)
    L_marg   = - (1/|D|) log (1/K) sum_k exp( sum_{i in D} log p(y_i | x_i, C u P_k) )
    L_pseudo = - (1/|D|) log (1/K) sum_k exp( sum_{i in D} log p(y_i | x_i, P_k) )
    L = L_CNP + L_marg + L_pseudo

``L_marg`` is the marginal likelihood of the data under the martingale posterior (it trains the
generator through the reparameterised noise); ``L_pseudo`` forces the generated sets alone to carry
the information of the task, so the generator cannot collapse to uninformative points that the
base network learns to ignore. ``pseudo_loss=False`` drops it (the ablation of the paper).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from probnn import io
from probnn.errors import InputError
from probnn.models.neural_process.base import NeuralProcess, gaussian_log_prob, log_mean_exp
from probnn.models.neural_process.generator import PseudoContextGenerator
from probnn.models.neural_process.networks import NETWORKS

if TYPE_CHECKING:
    from probnn.datasets.tasks import TaskBatch


class _MartingalePosteriorNP(NeuralProcess):
    """A deterministic base network plus a pseudo-context generator (see the module docstring).

    Args:
        num_train_sets: ``K`` in the training loss (4 in the paper).
        num_samples: ``K`` at prediction time (50 in the paper).
        num_pseudo: pseudo points per set (default: the context size).
        pseudo_loss: include ``L_pseudo`` (``False`` is the ablation).
        heads, num_inducing: attention heads and ISAB inducing points.
    """

    stochastic = True
    network_kind = "pooling"

    def __init__(self, *, num_features: int = 1, width: int = 128, num_samples: int = 50,
                 num_train_sets: int = 4, num_pseudo: int | None = None, pseudo_loss: bool = True,
                 heads: int = 8, num_inducing: int = 16) -> None:
        super().__init__(num_features=num_features, width=width, num_samples=num_samples)
        if not isinstance(num_train_sets, int) or num_train_sets < 1:
            raise InputError(f"num_train_sets must be a positive int; got {num_train_sets!r}")
        if num_pseudo is not None and (not isinstance(num_pseudo, int) or num_pseudo < 1):
            raise InputError(f"num_pseudo must be a positive int or None; got {num_pseudo!r}")
        self.num_train_sets, self.num_pseudo, self.pseudo_loss = num_train_sets, num_pseudo, bool(pseudo_loss)
        self.heads, self.num_inducing = heads, num_inducing
        options = {"heads": heads} if self.network_kind == "attentive" else {}
        self.network = NETWORKS[self.network_kind](num_features, 1, width, **options)
        self.pseudo_generator = PseudoContextGenerator(num_features, 1, width, heads=heads, num_inducing=num_inducing)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_train_sets": self.num_train_sets, "num_pseudo": self.num_pseudo,
                "pseudo_loss": self.pseudo_loss, "heads": self.heads, "num_inducing": self.num_inducing}

    def draw(self, x_context: torch.Tensor, y_context: torch.Tensor, num_samples: int, *,
             generator: torch.Generator) -> dict[str, torch.Tensor]:
        x_pseudo, y_pseudo = self.pseudo_generator(x_context, y_context, num_samples, num_pseudo=self.num_pseudo,
                                            generator=generator)
        return {"x_pseudo": x_pseudo, "y_pseudo": y_pseudo}

    def decode(self, x_context: torch.Tensor, y_context: torch.Tensor, draws: dict[str, torch.Tensor],
               x_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = self.network.predict_sets(x_context, y_context, draws["x_pseudo"], draws["y_pseudo"], x_target)
        return mean[0], std[0]

    def loss_terms(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The three loss terms (scalars, means over tasks), see the module docstring.

        The ``K`` pseudo-context sets, and the ``C u P_k`` and ``P_k`` predictions of both mixture
        terms, are computed in one batched call (:meth:`PoolingNetwork.predict_sets`), not in loops.
        """
        x_context, y_context, x_all, y_all = self._cast(batch.x_context, batch.y_context, batch.x_all, batch.y_all)
        points = x_all.shape[1]
        mean, std = self.network(x_context, y_context, x_all)
        terms = {"cnp": -gaussian_log_prob(y_all, mean, std).mean()}
        draws = self.draw(x_context, y_context, self.num_train_sets, generator=generator)
        mean, std = self.network.predict_sets(x_context, y_context, draws["x_pseudo"], draws["y_pseudo"], x_all,
                                              with_context=True, without_context=self.pseudo_loss)
        joint = gaussian_log_prob(y_all, mean, std).sum((-2, -1))               # [T, K, B]
        mixture = -(log_mean_exp(joint, 1) / points).mean(-1)                    # [T]
        terms["marginal"] = mixture[0]
        if self.pseudo_loss:
            terms["pseudo"] = mixture[1]
        return terms

    def loss(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> torch.Tensor:
        return sum(self.loss_terms(batch, generator=generator).values())


@io.register
class MPNP(_MartingalePosteriorNP):
    """Martingale posterior NP on a CNP (mean-pooling) base network."""

    network_kind = "pooling"


@io.register
class MPANP(_MartingalePosteriorNP):
    """Martingale posterior NP on an attentive-CNP base network."""

    network_kind = "attentive"
