"""A sparse mean-field Gaussian network built from a BNN's architecture (MLP or small CNN).

The spec is a JSON-able dict, so the network can be rebuilt from a checkpoint:

* ``{"kind": "mlp", "in_features", "hidden", "out_features", "activation"}`` - the layers of
  :class:`probnn.models.BNN` (contract A);
* ``{"kind": "conv", "input_shape": [C, H, W], "channels", "kernel_size", "hidden",
  "out_features", "activation"}`` - :class:`probnn.models.ConvBNN`: per entry of ``channels`` a
  same-padded convolution, the activation and 2x2 average pooling; then the flattened features go
  through the ``hidden`` linear layers and the output layer.

Inputs of a conv network are flat ``[n, C * H * W]`` rows (as every probnn model takes), reshaped
inside.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as functional
from torch import nn

from probnn.errors import InputError
from probnn.inference.sparse_layers import SparseVariationalConv2d, SparseVariationalLayer, SparseVariationalLinear
from probnn.inference.sparse_masks import layer_densities

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": functional.gelu,
    "sigmoid": torch.sigmoid,
    "erf": torch.erf,
    "silu": functional.silu,
}
#: FLOPs charged per activation evaluation (a rough, stated convention: transcendental = 4).
ACTIVATION_FLOPS = 4
#: How the weight KL is counted (:meth:`SparseVariationalNetwork.kl_divergence`): ``"active"`` sums it over
#: the active weights (the paper), ``"dense"`` scales each layer's sum by its inverse density.
KL_NORMALISATIONS = ("active", "dense")


def activation_function(name: str):
    if name not in ACTIVATIONS:
        raise InputError(f"activation must be one of {sorted(ACTIVATIONS)} for method='ssvi'; got {name!r}")
    return ACTIVATIONS[name]


def spec_from_model(model: Any) -> dict[str, Any]:
    """Read the architecture from a BNN-like model (contract A attributes) or a ConvBNN."""
    hidden = [int(h) for h in getattr(model, "hidden", ())]
    activation = str(getattr(model, "activation", "tanh"))
    activation_function(activation)
    if hasattr(model, "channels"):
        return {"kind": "conv", "input_shape": [int(v) for v in model.input_shape],
                "channels": [int(c) for c in model.channels], "kernel_size": int(model.kernel_size),
                "hidden": hidden, "out_features": int(model.out_features), "activation": activation}
    for name in ("in_features", "out_features"):
        if not hasattr(model, name):
            raise InputError(f"method='ssvi' needs a BNN with attribute {name!r}; "
                             f"{type(model).__name__} has none")
    return {"kind": "mlp", "in_features": int(model.in_features), "hidden": hidden,
            "out_features": int(model.out_features), "activation": activation}


class SparseVariationalNetwork(nn.Module):
    """Stack of sparse variational layers; see the module docstring for the architectures.

    Args:
        spec: architecture dict (see :func:`spec_from_model`).
        density: overall fraction of active weights (uniform random masks within each layer).
        generator: seeds means and masks.
        dtype: parameter dtype.
        allocation: how ``density`` is split over layers (:func:`~probnn.inference.sparse_masks.layer_densities`):
            ``"uniform"`` (every layer at ``density``) or ``"erk"`` (Erdos-Renyi-kernel).
    """

    def __init__(self, spec: dict[str, Any], *, density: float, generator: torch.Generator,
                 dtype: torch.dtype = torch.float32, allocation: str = "uniform") -> None:
        super().__init__()
        self.spec = dict(spec)
        self.activation = activation_function(spec["activation"])
        plan: list[tuple[str, dict[str, Any]]] = []  # (layer kind, constructor arguments) in order
        if spec["kind"] == "conv":
            channels, height, width = spec["input_shape"]
            self.input_shape = (channels, height, width)
            padding = spec["kernel_size"] // 2
            for out_channels in spec["channels"]:
                plan.append(("conv", {"in_channels": channels, "out_channels": out_channels,
                                      "kernel_size": spec["kernel_size"], "padding": padding,
                                      "input_size": (height, width)}))
                channels, height, width = out_channels, height // 2, width // 2
                if height < 1 or width < 1:
                    raise InputError(f"input_shape {spec['input_shape']} is too small for "
                                     f"{len(spec['channels'])} conv + 2x2 pooling stages")
            self.num_conv = len(spec["channels"])
            width_in = channels * height * width
        elif spec["kind"] == "mlp":
            self.input_shape = None
            self.num_conv = 0
            width_in = spec["in_features"]
        else:
            raise InputError(f"unknown network kind {spec['kind']!r}")
        for width_out in [*spec["hidden"], spec["out_features"]]:
            plan.append(("linear", {"in_features": width_in, "out_features": width_out}))
            width_in = width_out
        shapes = [(item["out_channels"], item["in_channels"], item["kernel_size"], item["kernel_size"])
                  if kind == "conv" else (item["out_features"], item["in_features"]) for kind, item in plan]
        self.allocation = allocation
        densities = layer_densities(shapes, density, allocation)
        layers: list[SparseVariationalLayer] = []
        for (kind, item), layer_density in zip(plan, densities, strict=True):
            cls = SparseVariationalConv2d if kind == "conv" else SparseVariationalLinear
            layers.append(cls(**item, density=layer_density, generator=generator, dtype=dtype))
        self.layers = nn.ModuleList(layers)

    @property
    def in_features(self) -> int:
        return math.prod(self.input_shape) if self.input_shape else self.spec["in_features"]

    # ------------------------------------------------------------------ forward passes
    def forward(self, x: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
        """Local-reparameterised stochastic forward pass: ``x [n, d] -> f [n, out]``."""
        h = x.reshape(x.shape[0], *self.input_shape) if self.input_shape else x
        for index, layer in enumerate(self.layers):
            if index == self.num_conv and self.num_conv:
                h = h.flatten(1)
            h = layer(h, generator=generator)
            if index < self.num_conv:
                h = functional.avg_pool2d(self.activation(h), 2)
            elif index < len(self.layers) - 1:
                h = self.activation(h)
        return h

    def sample_weights(self, num_samples: int, *, generator: torch.Generator
                       ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Joint draws from ``q`` per layer: ``[(W [S, *shape], b [S, out]), ...]``."""
        return [layer.sample_weights(num_samples, generator=generator) for layer in self.layers]

    def forward_with_weights(self, x: torch.Tensor, draws: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Functions under joint weight draws: ``x [n, d] -> f [S, n, out]``."""
        num_samples = draws[0][0].shape[0]
        h = x.unsqueeze(0).expand(num_samples, *x.shape)
        if self.input_shape:
            h = h.reshape(num_samples, x.shape[0], *self.input_shape)
        for index, (layer, (weights, bias)) in enumerate(zip(self.layers, draws, strict=True)):
            if index == self.num_conv and self.num_conv:
                h = h.flatten(2)
            h = layer.forward_with_weights(h, weights, bias)
            if index < self.num_conv:
                pooled = functional.avg_pool2d(self.activation(h).flatten(0, 1), 2)
                h = pooled.reshape(num_samples, -1, *pooled.shape[1:])
            elif index < len(self.layers) - 1:
                h = self.activation(h)
        return h

    def kl_divergence(self, prior_stds: list[tuple[float, float]], *, normalisation: str = "active"
                      ) -> torch.Tensor:
        """Sum over layers of the closed-form KL over active weights (+ dense biases).

        ``normalisation="active"`` (the paper): ``sum_l sum_{j active in l} KL_j + KL(biases)``, a sum with
        ``k_l`` weight terms in layer ``l``, so at density ``d`` it has ~``d`` times the terms of the dense
        KL and a fixed ``kl_weight`` regularises a sparser network less.
        ``normalisation="dense"``: ``sum_l (n_l / k_l) sum_{j active in l} KL_j + KL(biases)`` (``n_l``
        weights, ``k_l`` active): the layer's mean KL per active weight charged for each of its ``n_l``
        weights, i.e. the KL of a dense mean-field posterior whose every weight were as far from the prior
        as the average active one. It equals ``"active"`` at density 1, and for a mean-field Gaussian
        coordinate the factor ``c = n_l / k_l`` acts as the temperature ``c * kl_weight`` on that layer's
        weights (optimal ``sigma_j^2 = 1 / (A_jj / (c beta) + 1 / s_j^2)`` for a data precision ``A``),
        so a ``kl_weight`` means the same strength per weight at every density.
        """
        if normalisation not in KL_NORMALISATIONS:
            raise InputError(f"kl_normalisation must be one of {list(KL_NORMALISATIONS)}; got {normalisation!r}")
        return sum(layer.kl_divergence(w, b, weight_scale=(layer.num_weights / layer.num_active
                                                          if normalisation == "dense" else 1.0))
                   for layer, (w, b) in zip(self.layers, prior_stds, strict=True))

    # ------------------------------------------------------------------ accounting
    @property
    def num_active(self) -> int:
        return sum(layer.num_active for layer in self.layers)

    @property
    def num_weights(self) -> int:
        return sum(layer.num_weights for layer in self.layers)

    def _elementwise_flops(self) -> int:
        """Activations (and 2x2 pooling: 4 adds per pooled output) per example."""
        flops = 0
        for index, layer in enumerate(self.layers[:-1]):
            flops += ACTIVATION_FLOPS * layer.out_features
            if index < self.num_conv:
                flops += layer.out_features  # each input element is added once into its pool
        return flops

    def forward_flops(self, *, dense: bool = False) -> int:
        """Training forward FLOPs per example (local reparameterisation), from the active weights
        (``dense=True``: as if every weight were active, the dense-VI equivalent)."""
        return sum(layer.forward_flops(layer.num_weights if dense else None) for layer in self.layers) \
            + self._elementwise_flops()

    def prediction_flops(self, *, dense: bool = False) -> int:
        """Forward FLOPs per example and per joint weight draw at prediction time."""
        return sum(layer.prediction_flops(layer.num_weights if dense else None) for layer in self.layers) \
            + self._elementwise_flops()

    def weight_gradient_flops(self) -> int:
        """Dense weight-gradient FLOPs per example (the growth criterion needs ``dL/dmu`` everywhere)."""
        return sum(layer.weight_gradient_flops() for layer in self.layers)
