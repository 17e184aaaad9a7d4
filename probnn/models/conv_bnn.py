"""A small convolutional BNN for image inputs (fitted with ``method="ssvi"``).

Architecture (see :mod:`probnn.inference.sparse_network`): per entry of ``channels`` a same-padded
``kernel_size`` convolution, the activation and 2x2 average pooling; then ``hidden`` dense layers and
the output layer. Inputs are flat rows ``[n, C * H * W]`` reshaped to ``input_shape = (C, H, W)``.

Prior: independent ``W_l ~ N(0, weight_std^2 / fan_in_l)`` (``fan_in = C_in k^2`` for a
convolution) and ``b_l ~ N(0, bias_std^2)``, the neural-tangents convention of
:class:`probnn.models.BNN`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from probnn import io
from probnn.errors import InputError
from probnn.models.base import Model
from probnn.random import GeneratorLike, as_generator


@io.register
class ConvBNN(Model):
    """Convolutional Bayesian neural network.

    Args:
        input_shape: ``(channels, height, width)`` of one image.
        channels: output channels of each convolution stage.
        kernel_size: odd convolution kernel size.
        hidden: widths of the dense hidden layers after the convolutions.
        out_features: outputs (number of classes for ``likelihood="categorical"``).
        activation: ``"relu"``, ``"tanh"``, ``"gelu"``, ...
        likelihood: ``"categorical"`` or ``"gaussian"``.
        noise: Gaussian observation noise std (or ``"learned"``).
        weight_std, bias_std: prior scales (see module docstring).
    """

    backends: ClassVar[dict[str, str]] = {"ssvi": "probnn.inference.ssvi:fit_ssvi"}
    default_method: ClassVar[str | None] = "ssvi"

    def __init__(self, input_shape: Sequence[int], channels: Sequence[int] = (8, 16), kernel_size: int = 3,
                 hidden: Sequence[int] = (64,), out_features: int = 10, activation: str = "relu",
                 likelihood: str = "categorical", noise: float | str = 0.1, weight_std: float = 1.0,
                 bias_std: float = 1.0) -> None:
        if len(input_shape) != 3:
            raise InputError(f"input_shape must be (channels, height, width); got {tuple(input_shape)}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise InputError(f"kernel_size must be a positive odd int; got {kernel_size}")
        if likelihood not in ("categorical", "gaussian"):
            raise InputError(f"likelihood must be 'categorical' or 'gaussian'; got {likelihood!r}")
        self.input_shape = tuple(int(v) for v in input_shape)
        self.channels = tuple(int(c) for c in channels)
        self.kernel_size = int(kernel_size)
        self.hidden = tuple(int(h) for h in hidden)
        self.out_features = int(out_features)
        self.activation = str(activation)
        self.likelihood = likelihood
        self.noise = noise
        self.weight_std, self.bias_std = float(weight_std), float(bias_std)
        self.prior = None
        from probnn.inference.sparse_network import spec_from_model

        self.spec = spec_from_model(self)

    @property
    def target_kind(self) -> str:  # type: ignore[override]
        return "categorical" if self.likelihood == "categorical" else "real"

    @property
    def num_classes(self) -> int | None:
        return self.out_features if self.likelihood == "categorical" else None

    @property
    def in_features(self) -> int:
        return math.prod(self.input_shape)

    @property
    def num_outputs(self) -> int:
        return self.out_features

    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        """``[num_samples, n, out_features]`` network outputs under prior weight draws."""
        from probnn.inference.sparse_network import SparseVariationalNetwork

        generator = as_generator(generator)
        network = SparseVariationalNetwork(self.spec, density=1.0, generator=torch.Generator().manual_seed(0),
                                           dtype=x.dtype)
        draws = []
        for layer in network.layers:
            fan_in = math.prod(layer.weight_mu.shape[1:])
            weights = torch.randn((num_samples, *layer.weight_mu.shape), generator=generator, dtype=x.dtype)
            bias = torch.randn((num_samples, layer.bias_mu.shape[0]), generator=generator, dtype=x.dtype)
            draws.append((weights * self.weight_std / math.sqrt(fan_in), bias * self.bias_std))
        return network.forward_with_weights(x, draws)

    def sample_observations(self, f: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        generator = as_generator(generator)
        if self.likelihood == "categorical":
            probs = torch.softmax(f, -1)
            flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
            return flat.reshape(f.shape[:-1])
        if isinstance(self.noise, str):
            raise InputError("noise='learned' has no value to sample observations with before fitting")
        return f + self.noise * torch.randn(f.shape, generator=generator, dtype=f.dtype)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return {"input_shape": list(self.input_shape), "channels": list(self.channels),
                "kernel_size": self.kernel_size, "hidden": list(self.hidden), "out_features": self.out_features,
                "activation": self.activation, "likelihood": self.likelihood, "noise": self.noise,
                "weight_std": self.weight_std, "bias_std": self.bias_std}, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> ConvBNN:
        return cls(**config)
