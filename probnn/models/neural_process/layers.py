"""Building blocks of neural processes: MLPs, multi-head attention and set-attention blocks.

Set-attention blocks follow Lee et al., "Set Transformer" (ICML 2019):

* ``MAB(X, Y) = H + FF(H)`` with ``H = X + MultiHead(X, Y, Y)`` (post-norm, as in the Set Transformer);
* ``ISAB_m(X) = MAB(X, MAB(I, X))`` with ``m`` learned inducing points ``I``: permutation
  *equivariant* in the rows of ``X`` at cost ``O(n m)`` instead of ``O(n^2)``.

Shapes: sets are ``[batch, set_size, width]``; attention is over the ``set_size`` axis, so every
block here commutes with permutations of the set (the property the neural processes rely on).
Masks: an optional boolean ``key_mask [batch, key_size]`` (``True`` = present) lets sets of
different sizes share a batch; a query with no present key attends to nothing and gets zeros.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional


class MLP(nn.Sequential):
    """``depth`` linear layers with ReLU between them: ``in -> hidden x (depth - 1) -> out``."""

    def __init__(self, in_features: int, hidden: int, out_features: int, depth: int) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1; got {depth}")
        sizes = [in_features] + [hidden] * (depth - 1) + [out_features]
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(fan_in, fan_out))
            if index < depth - 1:
                layers.append(nn.ReLU())
        super().__init__(*layers)


def mlp_on_concat(mlp: MLP, code: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``mlp([code, inputs_j])`` for every row ``j`` of ``inputs``, without repeating ``code`` per row.

    The first layer is affine, so ``W [c; x] + b = W_c c + (W_x x + b)``: its code part is computed
    once per set and broadcast over the rows. Same maths as ``mlp(torch.cat([code expanded, inputs], -1))``
    at a fraction of the cost when the code is wide (a decoder ``psi([r, x*])`` with ``r`` of width
    ``W`` and ``x*`` of width ``d``: the first layer costs ``O(W^2)`` per set instead of per target).

    Args:
        code: ``[..., c]`` (one code per set; leading axes broadcast against ``inputs``' batch axes).
        inputs: ``[..., m, d]``.

    Returns:
        ``[..., m, out]`` with the broadcast leading shape.
    """
    first = mlp[0]
    width = code.shape[-1]
    hidden = (functional.linear(code, first.weight[:, :width]).unsqueeze(-2)
              + functional.linear(inputs, first.weight[:, width:], first.bias))
    for layer in list(mlp)[1:]:
        hidden = layer(hidden)
    return hidden


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with ``heads`` heads, then a residual MLP (a Set-Transformer MAB).

    Args:
        query_features, key_features, value_features: input widths.
        width: output width (divisible by ``heads``).
        heads: number of heads.
        layer_norm: apply LayerNorm after both residual connections (the Set Transformer's ``ln=True``).
    """

    def __init__(self, query_features: int, key_features: int, value_features: int, width: int, *,
                 heads: int = 8, layer_norm: bool = True) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width ({width}) must be divisible by heads ({heads})")
        self.heads = heads
        self.query = nn.Linear(query_features, width, bias=False)
        self.key = nn.Linear(key_features, width, bias=False)
        self.value = nn.Linear(value_features, width, bias=False)
        self.output = nn.Linear(width, width)
        self.norm_attention = nn.LayerNorm(width) if layer_norm else nn.Identity()
        self.norm_output = nn.LayerNorm(width) if layer_norm else nn.Identity()

    def _split(self, tensor: torch.Tensor) -> torch.Tensor:
        batch, length, width = tensor.shape
        return tensor.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``query [B, m, q]``, ``key [B, n, k]``, ``value [B, n, v]`` -> ``[B, m, width]``.

        A query batch of 1 (e.g. learned inducing points) is projected once and shared by all ``B`` sets.
        """
        projected_query = self.query(query)
        if projected_query.shape[0] == 1 and key.shape[0] != 1:
            projected_query = projected_query.expand(key.shape[0], -1, -1)
        batch, length, width = projected_query.shape
        if key.shape[1] == 0:
            attended = projected_query.new_zeros(batch, length, width)
        else:
            mask = None
            if key_mask is not None:
                mask = key_mask[:, None, None, :].expand(batch, self.heads, length, key.shape[1])
            scale = 1.0 / math.sqrt(width)   # scale by the full width, as in the Set Transformer / bnp code
            heads = functional.scaled_dot_product_attention(
                self._split(projected_query), self._split(self.key(key)), self._split(self.value(value)),
                attn_mask=mask, scale=scale)
            attended = heads.transpose(1, 2).reshape(batch, length, width)
            if key_mask is not None:   # rows with no present key come back as NaN from softmax: zero them
                attended = torch.nan_to_num(attended, nan=0.0)
        hidden = self.norm_attention(projected_query + attended)
        return self.norm_output(hidden + functional.relu(self.output(hidden)))


class SelfAttention(nn.Module):
    """``MAB(X, X)``: every element attends to every element of its own set."""

    def __init__(self, in_features: int, width: int, *, heads: int = 8) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(in_features, in_features, in_features, width, heads=heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x)


class InducedSetAttention(nn.Module):
    """``ISAB_m(X) = MAB(X, MAB(I, X))`` with ``num_inducing`` learned inducing points ``I``.

    Permutation equivariant in the rows of ``X``; ``O(n m)`` cost.
    """

    def __init__(self, in_features: int, width: int, *, num_inducing: int = 16, heads: int = 8) -> None:
        super().__init__()
        self.inducing = nn.Parameter(torch.empty(1, num_inducing, width))
        nn.init.xavier_uniform_(self.inducing)
        self.summarise = MultiHeadAttention(width, in_features, in_features, width, heads=heads)
        self.broadcast = MultiHeadAttention(in_features, width, width, width, heads=heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, n, in]`` -> ``[B, n, width]``."""
        summary = self.summarise(self.inducing, x, x)   # inducing queries projected once, shared by every set
        return self.broadcast(x, summary, summary)
