"""Deterministic conditional networks ``(context, x_target) -> (mean, std)``: the CNP and attentive-CNP cores.

Both follow the architectures of the juho-lee/bnp code for the standard 1D protocol (widths and
depths there: hidden 128, encoder 4 + 2 layers, decoder 3 layers, 8 attention heads):

* :class:`PoolingNetwork` (Garnelo et al., "Conditional Neural Processes", ICML 2018):
  ``r = rho(mean_i phi([x_i, y_i]))``, ``(mu, s) = psi([r, x*])``.
* :class:`AttentiveNetwork` (Kim et al., "Attentive Neural Processes", ICLR 2019, deterministic path):
  values ``v_i = SelfAttention(phi([x_i, y_i]))``, queries/keys ``q(x*)``, ``q(x_i)`` from one MLP,
  ``r(x*) = MultiHead(q(x*), q(x_C), v)``, ``(mu, s) = psi([r(x*), x*])``.

The output standard deviation is ``min_std + (1 - min_std) softplus(s)``; ``min_std = 0.1`` is the
bnp code's floor, which keeps early training stable (it caps the attainable per-point log density
at ``-log(0.1 sqrt(2 pi)) ~ 1.38``, far above what the 1D tasks allow at noise 0.02 once function
uncertainty is counted). Every network maps sets to sets of the same size along axis 1 and pools or
attends over the context axis only, so outputs are invariant to the order of the context set.
An empty context (``n = 0``) is allowed: the pooled representation is then zero.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from probnn.models.neural_process.layers import MLP, MultiHeadAttention, SelfAttention, mlp_on_concat


def mean_pool(values: torch.Tensor) -> torch.Tensor:
    """Mean over the set axis ``[B, n, W] -> [B, W]``; zeros for an empty set."""
    if values.shape[1] == 0:
        return values.new_zeros(values.shape[0], values.shape[2])
    return values.mean(1)


def gaussian_head(raw: torch.Tensor, min_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``raw [..., 2 out]`` into a mean and a std ``min_std + (1 - min_std) softplus(.)``."""
    mean, raw_std = raw.chunk(2, dim=-1)
    return mean, min_std + (1.0 - min_std) * functional.softplus(raw_std)


class PoolingEncoder(nn.Module):
    """``rho(mean_i phi([x_i, y_i]))``: a permutation-invariant set representation ``[B, width]``."""

    def __init__(self, in_features: int, width: int, *, pre_depth: int = 4, post_depth: int = 2) -> None:
        super().__init__()
        self.pre = MLP(in_features, width, width, pre_depth)
        self.post = MLP(width, width, width, post_depth)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.post(mean_pool(self.pre(torch.cat([x, y], dim=-1))))


class PoolingNetwork(nn.Module):
    """CNP core: mean-pooled context representation, MLP decoder."""

    def __init__(self, num_features: int, num_outputs: int, width: int, *, decoder_depth: int = 3,
                 min_std: float = 0.1) -> None:
        super().__init__()
        self.min_std = min_std
        self.encoder = PoolingEncoder(num_features + num_outputs, width)
        self.decoder = MLP(width + num_features, width, 2 * num_outputs, decoder_depth)

    def embed(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Point tokens ``phi([x_i, y_i])``: ``[..., n, d] x [..., n, out] -> [..., n, W]``."""
        return self.encoder.pre(torch.cat([x, y], dim=-1))

    def decode(self, pooled: torch.Tensor, x_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``psi([rho(pooled), x*])`` for pooled tokens ``[..., B, W]`` and ``x_target [B, m, d]``.

        Leading axes of ``pooled`` broadcast (e.g. ``K`` pseudo-context sets share the targets);
        returns ``(mean, std)``, each ``[..., B, m, out]``.
        """
        return gaussian_head(mlp_on_concat(self.decoder, self.encoder.post(pooled), x_target), self.min_std)

    def forward(self, x_context: torch.Tensor, y_context: torch.Tensor, x_target: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x_context [B, n, d]``, ``y_context [B, n, out]``, ``x_target [B, m, d]`` -> two ``[B, m, out]``."""
        return self.decode(mean_pool(self.embed(x_context, y_context)), x_target)

    def predict_sets(self, x_context: torch.Tensor, y_context: torch.Tensor, x_pseudo: torch.Tensor,
                     y_pseudo: torch.Tensor, x_target: torch.Tensor, *, with_context: bool = True,
                     without_context: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions given ``C u P_k`` and/or ``P_k`` for ``K`` pseudo-context sets, sharing the work.

        Mean pooling is a sum over points, so the pooled token of ``C u P_k`` is
        ``(sum_{i in C} phi_i + sum_{j in P_k} phi_j) / (n + M)``: ``phi`` of the context is computed once
        (not ``K`` times) and ``phi`` of each pseudo set serves both ``C u P_k`` and ``P_k`` alone. All
        ``T K`` sets are decoded in one batched call.

        Args:
            x_context ``[B, n, d]``, y_context ``[B, n, out]``; x_pseudo ``[K, B, M, d]``,
            y_pseudo ``[K, B, M, out]``; x_target ``[B, m, d]``.
            with_context / without_context: which unions to predict from (``T`` = how many are on).

        Returns:
            ``(mean, std)``, each ``[T, K, B, m, out]`` (``C u P_k`` first, then ``P_k``).
        """
        pseudo_tokens = self.embed(x_pseudo, y_pseudo)                         # [K, B, M, W]
        pseudo_sum = pseudo_tokens.sum(2)
        pooled = []
        # an empty set pools to zeros, as in mean_pool (hence the max(., 1) denominators)
        if with_context:
            context_sum = self.embed(x_context, y_context).sum(1)              # [B, W]
            pooled.append((context_sum + pseudo_sum) / max(x_context.shape[1] + x_pseudo.shape[2], 1))
        if without_context:
            pooled.append(pseudo_sum / max(x_pseudo.shape[2], 1))
        return self.decode(torch.stack(pooled), x_target)


class AttentiveNetwork(nn.Module):
    """Attentive-CNP core: self-attention over the context, multi-head cross-attention from targets."""

    def __init__(self, num_features: int, num_outputs: int, width: int, *, heads: int = 8,
                 decoder_depth: int = 3, min_std: float = 0.1) -> None:
        super().__init__()
        self.min_std = min_std
        self.query_key = MLP(num_features, width, width, 2)
        self.value = MLP(num_features + num_outputs, width, width, 2)
        self.self_attention = SelfAttention(width, width, heads=heads)
        self.cross_attention = MultiHeadAttention(width, width, width, width, heads=heads)
        self.decoder = MLP(width + num_features, width, 2 * num_outputs, decoder_depth)

    def forward(self, x_context: torch.Tensor, y_context: torch.Tensor, x_target: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        values = self.value(torch.cat([x_context, y_context], dim=-1))
        if values.shape[1] > 0:
            values = self.self_attention(values)
        attended = self.cross_attention(self.query_key(x_target), self.query_key(x_context), values)
        return gaussian_head(self.decoder(torch.cat([attended, x_target], dim=-1)), self.min_std)

    def predict_sets(self, x_context: torch.Tensor, y_context: torch.Tensor, x_pseudo: torch.Tensor,
                     y_pseudo: torch.Tensor, x_target: torch.Tensor, *, with_context: bool = True,
                     without_context: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`PoolingNetwork.predict_sets`; self-attention mixes the whole set, so every union
        ``C u P_k`` (and ``P_k``) is run through the network, all ``T K`` sets in one batched call."""
        sets, batch = x_pseudo.shape[:2]
        unions_x, unions_y = [], []
        if with_context:
            unions_x.append(torch.cat([x_context.expand(sets, -1, -1, -1), x_pseudo], dim=2))
            unions_y.append(torch.cat([y_context.expand(sets, -1, -1, -1), y_pseudo], dim=2))
        if without_context:   # P_k is smaller than C u P_k: its own batched call
            unions_x.append(x_pseudo)
            unions_y.append(y_pseudo)
        means, stds = [], []
        targets = x_target.expand(sets, -1, -1, -1).reshape(sets * batch, *x_target.shape[1:])
        for x_set, y_set in zip(unions_x, unions_y):
            mean, std = self(x_set.reshape(sets * batch, *x_set.shape[2:]),
                             y_set.reshape(sets * batch, *y_set.shape[2:]), targets)
            means.append(mean.reshape(sets, batch, *mean.shape[1:]))
            stds.append(std.reshape(sets, batch, *std.shape[1:]))
        return torch.stack(means), torch.stack(stds)


NETWORKS = {"pooling": PoolingNetwork, "attentive": AttentiveNetwork}
