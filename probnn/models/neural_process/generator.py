"""Exchangeable pseudo-context generator of martingale posterior neural processes.

Lee, Yun, Nam, Fong, Lee, "Martingale Posterior Neural Processes" (ICLR 2023). Given a context set
``C = {(x_i, y_i)}_{i=1..n}`` and Gaussian noise, the generator outputs ``S`` pseudo-context sets
``P_s = {(x~_sj, y~_sj)}_{j=1..M}``, each an exchangeable draw of "future data" from a learned predictive:

1. context tokens ``h = ISAB(phi([x_i, y_i]))`` ``[B, n, W]`` (permutation equivariant);
2. one noise token per pseudo point, ``e_sj ~ N(0, I_W)``, embedded and shifted by the pooled
   context summary ``mean_i h_i`` ``[S B, M, W]``;
3. pseudo tokens attend to the context tokens (multi-head cross-attention: invariant to the
   context's order), then to each other through an ISAB (equivariant in the pseudo points);
4. a linear head maps each token to a pseudo point ``(x~, y~)`` in data space.

Hence the *set* ``P_s`` is invariant to permutations of ``C`` (its points are exchangeable, being
equivariant functions of i.i.d. noise), which is what the martingale posterior construction
needs. Generating in data space lets any base network (pooling or attentive) consume ``C u P_s``
unchanged. ``num_pseudo`` (``M``) defaults to the context size ``n`` (at least 1).
"""

from __future__ import annotations

import torch
from torch import nn

from probnn.models.neural_process.layers import MLP, InducedSetAttention, MultiHeadAttention
from probnn.models.neural_process.networks import mean_pool


class PseudoContextGenerator(nn.Module):
    """Permutation-invariant generator of pseudo-context sets from a context set plus noise.

    Args:
        num_features: input dimension ``d``; ``num_outputs``: output dimension.
        width: token width ``W`` (also the noise dimension).
        heads: attention heads; ``num_inducing``: ISAB inducing points.
    """

    def __init__(self, num_features: int, num_outputs: int, width: int, *, heads: int = 8,
                 num_inducing: int = 16) -> None:
        super().__init__()
        self.num_features, self.num_outputs, self.width = num_features, num_outputs, width
        self.embed_context = MLP(num_features + num_outputs, width, width, 2)
        self.context_set = InducedSetAttention(width, width, num_inducing=num_inducing, heads=heads)
        self.embed_noise = MLP(width, width, width, 2)
        self.cross_attention = MultiHeadAttention(width, width, width, width, heads=heads)
        self.pseudo_set = InducedSetAttention(width, width, num_inducing=num_inducing, heads=heads)
        self.head = nn.Linear(width, num_features + num_outputs)

    def forward(self, x_context: torch.Tensor, y_context: torch.Tensor, num_sets: int, *,
                num_pseudo: int | None = None, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``num_sets`` pseudo-context sets per task.

        Args:
            x_context: ``[B, n, d]``; y_context: ``[B, n, out]``.
            num_sets: ``S``; num_pseudo: ``M`` (default ``max(n, 1)``).

        Returns:
            ``(x_pseudo [S, B, M, d], y_pseudo [S, B, M, out])``; differentiable in the weights
            (reparameterised noise), so the martingale losses train the generator.
        """
        batch, count, _ = x_context.shape
        size = num_pseudo if num_pseudo is not None else max(count, 1)
        tokens = self.embed_context(torch.cat([x_context, y_context], dim=-1))
        if count > 0:
            tokens = self.context_set(tokens)
        summary = mean_pool(tokens)                                           # [B, W]
        noise = torch.randn((num_sets, batch, size, self.width), generator=generator, dtype=tokens.dtype)
        queries = self.embed_noise(noise) + summary[None, :, None, :]         # [S, B, M, W]
        # Each query attends to the context on its own (the MAB is row-wise in its queries), so the S
        # sets' queries share one attention call per task: [B, S M, W] against the n context tokens,
        # and the context keys / values are projected once instead of S times.
        queries = queries.transpose(0, 1).reshape(batch, num_sets * size, self.width)
        attended = self.cross_attention(queries, tokens, tokens)
        attended = attended.reshape(batch, num_sets, size, self.width).transpose(0, 1)
        pseudo = self.pseudo_set(attended.reshape(num_sets * batch, size, self.width))
        points = self.head(pseudo).reshape(num_sets, batch, size, -1)
        return points[..., :self.num_features], points[..., self.num_features:]
