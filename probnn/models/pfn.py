"""The prior-data fitted network (PFN): a transformer that maps a dataset to a posterior predictive.

Müller, Hollmann, Pineda Arango, Grabocka, Hutter, "Transformers Can Do Bayesian Inference"
(ICLR 2022). Trained on datasets drawn from a prior (:func:`probnn.inference.pretrain.pretrain`),
it minimises ``E[-log q(y* | x*, D)]``, whose optimum is the prior's posterior predictive
``p(y* | x*, D)``; at use time one forward pass answers for any dataset ``D``.

Architecture (shapes for one batch of ``B`` tasks, ``n`` training and ``m`` query points, width ``W``):

* tokens: a training point is ``Linear(x) + Linear(y)``, a query point ``Linear(x)`` alone
  ``[B, n, W]`` / ``[B, m, W]``; **no positional encoding**, so the output is invariant to the
  order of the training set. Inputs are zero-padded to ``max_features`` and the encoder also sees
  which features are present, so one network serves ``d = 1..max_features``. A learned "empty"
  token is prepended to the training tokens so that the predictive for ``n = 0`` is the prior
  predictive (and attention never runs over an empty set).
* ``depth`` pre-norm residual blocks (attention + MLP). Training tokens attend to training tokens;
  query tokens attend to training tokens only (never to each other), so each query's predictive is
  computed independently, and the training tokens' keys/values of every layer can be computed once
  (:meth:`PFN.condition`) and reused for any number of queries (:meth:`PFN.predict_logits`). The
  output projection of every residual branch starts at zero, so every block starts as the identity.
* head: ``LayerNorm -> Linear -> GELU -> Linear`` to ``K`` logits of a full-support bar
  distribution (:class:`probnn.predictive.BarPredictive`) whose borders are quantiles of the prior's
  (normalised) targets.

Target normalisation (``target_normalisation="standardise"``): each task's targets are standardised
with the training set's mean and standard deviation (``n >= 2``; for ``n < 2``, shift by the mean
of what there is and scale 1), the network predicts in standardised units, and the bar is mapped
back (:meth:`BarPredictive.affine`). The same code runs in training and at use, so they agree by
construction. ``"none"`` leaves targets as they are (a prior with fixed output scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional

from probnn import io
from probnn.errors import InputError
from probnn.predictive.bar import BarPredictive, quantile_borders

if TYPE_CHECKING:   # imported for annotations only: probnn.datasets imports probnn.models
    from probnn.datasets.tasks import TaskBatch

#: Floor on a training set's target standard deviation when standardising (keeps constant targets finite).
MIN_TARGET_SCALE = 1e-8


@dataclass
class PFNContext:
    """A conditioned PFN: cached keys/values of the training set in every layer.

    Attributes:
        keys_values: per layer ``(keys, values)``, each ``[B, heads, n + 1, W / heads]``.
        shift, scale: target normalisation of each task ``[B]``.
        num_features: input dimension of the tasks.
    """

    keys_values: list[tuple[torch.Tensor, torch.Tensor]]
    shift: torch.Tensor
    scale: torch.Tensor
    num_features: int


class _Block(nn.Module):
    """Pre-norm residual block: attention to the training set, then a position-wise MLP."""

    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.query_key_value = nn.Linear(width, 3 * width)
        self.attention_output = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp_input = nn.Linear(width, hidden)
        self.mlp_output = nn.Linear(hidden, width)
        for layer in (self.attention_output, self.mlp_output):   # residual branches start at zero
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _split(self, tensor: torch.Tensor) -> torch.Tensor:
        batch, length, width = tensor.shape
        return tensor.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def _merge(self, tensor: torch.Tensor) -> torch.Tensor:
        batch, heads, length, size = tensor.shape
        return tensor.transpose(1, 2).reshape(batch, length, heads * size)

    def _mlp(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens + self.mlp_output(functional.gelu(self.mlp_input(self.mlp_norm(tokens))))

    def train_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Self-attention within the training set; returns new tokens and this layer's keys/values."""
        query, key, value = self.query_key_value(self.attention_norm(tokens)).chunk(3, dim=-1)
        key, value = self._split(key), self._split(value)
        attended = functional.scaled_dot_product_attention(self._split(query), key, value)
        tokens = tokens + self.attention_output(self._merge(attended))
        return self._mlp(tokens), (key, value)

    def query_tokens(self, tokens: torch.Tensor, key_value: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Queries attend to the (cached) training keys/values only."""
        width = tokens.shape[-1]
        query = functional.linear(self.attention_norm(tokens), self.query_key_value.weight[:width],
                                  self.query_key_value.bias[:width])
        attended = functional.scaled_dot_product_attention(self._split(query), *key_value)
        tokens = tokens + self.attention_output(self._merge(attended))
        return self._mlp(tokens)


@io.register
class PFN(nn.Module):
    """Prior-data fitted network with a full-support bar-distribution head.

    Args:
        borders: bucket borders ``[K + 1]`` in normalised target units (see :meth:`for_prior`).
        max_features: largest input dimension served (inputs are zero-padded up to it).
        width: token width ``W``; ``heads`` must divide it.
        depth: number of residual blocks.
        heads: attention heads.
        hidden: MLP width (default ``2 W``, as in the PFN code).
        target_normalisation: ``"standardise"`` or ``"none"`` (see the module docstring).
        metadata: JSON facts saved with the weights (the prior it was trained on, how it was trained).
    """

    def __init__(self, borders: torch.Tensor, *, max_features: int = 1, width: int = 128, depth: int = 4,
                 heads: int = 4, hidden: int | None = None, target_normalisation: str = "standardise",
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__()
        if width % heads:
            raise InputError(f"width ({width}) must be divisible by heads ({heads})")
        if target_normalisation not in ("standardise", "none"):
            raise InputError(f"target_normalisation must be 'standardise' or 'none'; got {target_normalisation!r}")
        borders = torch.as_tensor(borders, dtype=torch.float64)
        if borders.ndim != 1 or len(borders) < 3 or not bool((borders.diff() > 0).all()):
            raise InputError("borders must be a strictly increasing 1-D tensor with at least 3 entries")
        self.max_features = int(max_features)
        self.width, self.depth, self.heads = int(width), int(depth), int(heads)
        self.hidden = int(hidden or 2 * width)
        self.target_normalisation = target_normalisation
        self.metadata = dict(metadata or {})
        self.register_buffer("borders", borders)
        self.input_encoder = nn.Linear(2 * self.max_features, width)    # padded x and the feature mask
        self.target_encoder = nn.Linear(1, width)
        self.empty_token = nn.Parameter(torch.zeros(width))
        self.blocks = nn.ModuleList(_Block(width, heads, self.hidden) for _ in range(depth))
        self.output_norm = nn.LayerNorm(width)
        self.head = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, len(borders) - 1))

    @property
    def num_buckets(self) -> int:
        return len(self.borders) - 1

    # ------------------------------------------------------------------ construction from a prior
    @classmethod
    def for_prior(cls, prior: Any, config: Any, *, num_buckets: int = 1000, num_border_batches: int = 200,
                  target_normalisation: str = "standardise", seed: int = 0, **architecture: Any) -> PFN:
        """A fresh PFN whose bucket borders are quantiles of the prior's normalised targets.

        Draws ``num_border_batches`` task batches with the same distribution as pre-training
        (:func:`probnn.inference.pretrain.draw_task_batch` with ``config``), normalises each task's
        targets as the network will, and takes ``num_buckets + 1`` quantiles: every bucket then
        holds equal prior mass.
        """
        from probnn.inference.pretrain import draw_task_batch

        generator = torch.Generator().manual_seed(seed)
        values = []
        cache: dict[int, Any] = {}
        for _ in range(num_border_batches):
            batch = draw_task_batch(prior, config, generator, cache)
            shift, scale = _normalisation(batch.y_context[..., 0], target_normalisation)
            values.append(((batch.y_target[..., 0] - shift[:, None]) / scale[:, None]).reshape(-1))
        borders = quantile_borders(torch.cat(values), num_buckets)
        max_features = config.num_features[1] if isinstance(config.num_features, tuple) else config.num_features
        architecture.setdefault("max_features", max_features)
        return cls(borders, target_normalisation=target_normalisation, **architecture)

    # ------------------------------------------------------------------ forward passes
    def _encode_inputs(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, features = x.shape
        if features > self.max_features:
            raise InputError(f"this PFN serves at most {self.max_features} input features; got {features}")
        padded = x.new_zeros(batch, length, 2 * self.max_features)
        padded[..., :features] = x
        padded[..., self.max_features:self.max_features + features] = 1.0
        return self.input_encoder(padded)

    def condition(self, x_context: torch.Tensor, y_context: torch.Tensor) -> PFNContext:
        """Encode training sets once: ``x_context [B, n, d]``, ``y_context [B, n]`` or ``[B, n, 1]``."""
        dtype = self.empty_token.dtype
        x_context = x_context.to(dtype)
        y_context = (y_context[..., 0] if y_context.ndim == 3 else y_context).to(dtype)
        shift, scale = _normalisation(y_context, self.target_normalisation)
        normalised = (y_context - shift[:, None]) / scale[:, None]
        tokens = self._encode_inputs(x_context) + self.target_encoder(normalised.unsqueeze(-1))
        empty = self.empty_token.expand(x_context.shape[0], 1, -1)
        tokens = torch.cat([empty, tokens], dim=1)
        cache = []
        for block in self.blocks:
            tokens, key_value = block.train_tokens(tokens)
            cache.append(key_value)
        return PFNContext(cache, shift, scale, x_context.shape[-1])

    def predict_logits(self, context: PFNContext, x_target: torch.Tensor, *, chunk_size: int = 4096) -> torch.Tensor:
        """Bucket logits ``[B, m, K]`` (normalised units) for queries ``x_target [B, m, d]``.

        Queries never attend to each other, so they are processed in chunks of ``chunk_size``
        against the cached training keys/values with identical results.
        """
        if x_target.shape[-1] != context.num_features:
            raise InputError(f"x_target has {x_target.shape[-1]} features; the context has {context.num_features}")
        x_target = x_target.to(self.empty_token.dtype)
        outputs = []
        for start in range(0, max(x_target.shape[1], 1), chunk_size):
            tokens = self._encode_inputs(x_target[:, start:start + chunk_size])
            for block, key_value in zip(self.blocks, context.keys_values):
                tokens = block.query_tokens(tokens, key_value)
            outputs.append(self.head(self.output_norm(tokens)))
        return torch.cat(outputs, dim=1)

    def predictive(self, context: PFNContext, x_target: torch.Tensor) -> BarPredictive:
        """Posterior predictive at ``x_target [B, m, d]`` in the targets' own units: batch ``[B, m]``."""
        logits = self.predict_logits(context, x_target)
        # keep the graph only for inputs that ask for gradients (acquisition optimisation in x)
        logits = logits if x_target.requires_grad else logits.detach()
        bar = BarPredictive(logits.to(torch.float64), self.borders)
        return bar.affine(context.shift.detach().to(torch.float64)[:, None],
                          context.scale.detach().to(torch.float64)[:, None])

    def log_prob(self, batch: TaskBatch) -> torch.Tensor:
        """Differentiable ``log q(y_target | x_target, context)`` ``[B, m]`` in original units."""
        context = self.condition(batch.x_context, batch.y_context)
        logits = self.predict_logits(context, batch.x_target)
        bar = BarPredictive(logits, self.borders)
        y = batch.y_target[..., 0].to(torch.float64)
        shift, scale = context.shift.to(torch.float64)[:, None], context.scale.to(torch.float64)[:, None]
        return bar.log_prob((y - shift) / scale) - torch.log(scale)

    def loss(self, batch: TaskBatch, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Contract C: mean negative log predictive density over tasks and target points."""
        return -self.log_prob(batch).mean().to(self.empty_token.dtype)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config = {"max_features": self.max_features, "width": self.width, "depth": self.depth, "heads": self.heads,
                  "hidden": self.hidden, "target_normalisation": self.target_normalisation,
                  "metadata": self.metadata}
        return config, {key: value.detach().clone() for key, value in self.state_dict().items()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> PFN:
        model = cls(tensors["borders"], **config)
        model.load_state_dict(tensors)
        model.eval()
        return model

    def num_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())


def _normalisation(y_context: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task ``(shift, scale)`` ``[B]`` from training targets ``[B, n]`` (see the module docstring)."""
    batch, count = y_context.shape
    ones = y_context.new_ones(batch)
    if kind == "none" or count == 0:
        return torch.zeros_like(ones), ones
    shift = y_context.mean(1)
    if count < 2:
        return shift, ones
    scale = y_context.std(1, correction=0).clamp_min(MIN_TARGET_SCALE)
    return shift, scale
