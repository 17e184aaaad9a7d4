"""Priors over the weights of a fully connected network (contract A of the cross-team interfaces).

Every prior draws, for each layer ``l`` with shape ``(fan_in, fan_out)``, a weight matrix
``W_l [S, fan_in, fan_out]`` and a bias ``b_l [S, fan_out]``. ``W_l`` is the *actual* weight: the
neural-tangents ("NT") scaling ``1/sqrt(fan_in)`` is already applied, so the pre-activation is
``h @ W_l + b_l``. Draws are reparameterised (``W = scale * eps``) so that a functional-prior
fitter (Tran et al., 2022) can differentiate them w.r.t. the prior's own ``nn.Parameter``\\ s.

The same prior is also exposed as numpyro sample sites (:meth:`WeightPrior.numpyro_sample`) for the
compiled NUTS / HMC / SVI / SGHMC backends. Site names per layer ``l``: ``w{l}``, ``b{l}`` (the
actual weights, possibly as ``numpyro.deterministic`` of a non-centred parameterisation), plus
prior-specific hyperparameter sites (``precision{l}``).

Families:

* :class:`GaussianWeightPrior`: ``W_l ~ N(0, sigma_w,l^2 / fan_in)``, ``b_l ~ N(0, sigma_b,l^2)``;
  a wide BNN's prior converges to the NNGP with kernel ``probnn.gp.NNGPKernel(sigma_w, sigma_b)``.
* :class:`HierarchicalWeightPrior`: a Gamma(shape, rate) prior on each layer's weight precision
  ``lambda_l``, ``W_l | lambda_l ~ N(0, 1 / (lambda_l fan_in))`` (marginally multivariate Student-t).
* :class:`ScaleMixtureLastLayerPrior`: NT-Gaussian hidden layers and an inverse-gamma variance on
  the last layer, ``sigma_L^2 ~ InvGamma(shape, scale)``, ``W_L ~ N(0, sigma_L^2 / fan_in)``; the
  finite-width counterpart of the scale-mixture NNGP (Lee et al., 2022).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from probnn.errors import InputError
from probnn.random import GeneratorLike, as_generator, derive_seed

LayerShapes = Sequence[tuple[int, int]]
Layers = list[tuple[torch.Tensor, torch.Tensor]]

_LOG_2PI = math.log(2 * math.pi)


def _check_shapes(layer_shapes: LayerShapes) -> list[tuple[int, int]]:
    shapes = [(int(a), int(b)) for a, b in layer_shapes]
    if not shapes or any(a < 1 or b < 1 for a, b in shapes):
        raise InputError(f"layer_shapes must be a non-empty list of positive (fan_in, fan_out); got {shapes}")
    return shapes


def _per_layer(value: float | Sequence[float], num_layers: int | None, name: str) -> list[float] | float:
    if isinstance(value, int | float):
        if value <= 0:
            raise InputError(f"{name} must be positive; got {value}")
        return float(value)
    values = [float(v) for v in value]
    if any(v <= 0 for v in values):
        raise InputError(f"{name} must be positive; got {values}")
    if num_layers is not None and len(values) != num_layers:
        raise InputError(f"{name} has {len(values)} entries but num_layers={num_layers}")
    return values


def _normal_log_prob(value: torch.Tensor, std: torch.Tensor, dims: int) -> torch.Tensor:
    """Sum of ``log N(value; 0, std^2)`` over the last ``dims`` axes."""
    log_density = -0.5 * (value / std) ** 2 - torch.log(std) - 0.5 * _LOG_2PI
    return log_density.flatten(-dims).sum(-1)


def _gamma_scale_mixture_log_prob(weight: torch.Tensor, shape: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """``log int Gamma(lam; a, b) prod_ij N(W_ij; 0, 1/(lam fan_in)) d lam`` for ``W [S, fan_in, fan_out]``.

    With ``k`` entries and ``s = fan_in ||W||^2 / 2`` the integral is
    ``a log b - lgamma(a) + lgamma(a + k/2) - (a + k/2) log(b + s) + (k/2) log(fan_in / 2 pi)``.
    """
    fan_in = weight.shape[-2]
    count = weight.shape[-2] * weight.shape[-1]
    half_k = 0.5 * count
    sum_squares = 0.5 * fan_in * (weight**2).flatten(-2).sum(-1)
    return (shape * torch.log(rate) - torch.lgamma(shape) + torch.lgamma(shape + half_k)
            - (shape + half_k) * torch.log(rate + sum_squares) + half_k * (math.log(fan_in) - _LOG_2PI))


def _rsample_gamma(shape: torch.Tensor, rate: torch.Tensor, num_samples: int,
                   generator: torch.Generator) -> torch.Tensor:
    """Reparameterised Gamma(shape, rate) draws ``[num_samples]`` (implicit gradients w.r.t. both)."""
    seed = derive_seed(generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.distributions.Gamma(shape, rate).rsample((num_samples,))


class WeightPrior(torch.nn.Module):
    """Abstract prior over the weights and biases of a fully connected network."""

    def sample(self, layer_shapes: LayerShapes, num_samples: int, *,
               generator: GeneratorLike = None) -> Layers:
        """Draw ``[(W [S, fan_in, fan_out], b [S, fan_out]) per layer]`` (reparameterised)."""
        raise NotImplementedError

    def log_prob(self, layers: Layers) -> torch.Tensor:
        """Log prior density ``[S]`` of weight draws (hyperparameters integrated out)."""
        raise NotImplementedError

    def numpyro_sample(self, layer_shapes: LayerShapes) -> list[tuple[Any, Any]]:
        """Declare the prior as numpyro sample sites; returns ``[(W, b) per layer]`` as JAX arrays."""
        raise NotImplementedError

    def pyro_sample(self, layer_shapes: LayerShapes) -> Layers:
        """Declare the prior as pyro sample sites (the generic torch path); same site names as numpyro."""
        raise NotImplementedError

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        raise NotImplementedError

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> WeightPrior:
        raise NotImplementedError


class GaussianWeightPrior(WeightPrior):
    """Per-layer Gaussian prior in the neural-tangents convention.

    ``W_l ~ N(0, weight_std_l^2 / fan_in)`` and ``b_l ~ N(0, bias_std_l^2)``. With a scalar std every
    layer shares it; a sequence gives one value per layer (its length fixes ``num_layers``).

    Args:
        weight_std: ``sigma_w`` (scalar or per layer).
        bias_std: ``sigma_b`` (scalar or per layer).
        num_layers: required when ``learnable=True`` with scalar stds (one parameter per layer).
        learnable: store per-layer ``log sigma`` as ``nn.Parameter``\\ s (functional-prior fitting).
    """

    def __init__(self, weight_std: float | Sequence[float] = 1.0, bias_std: float | Sequence[float] = 1.0,
                 num_layers: int | None = None, learnable: bool = False) -> None:
        super().__init__()
        weight = _per_layer(weight_std, num_layers, "weight_std")
        bias = _per_layer(bias_std, num_layers, "bias_std")
        lengths = {len(v) for v in (weight, bias) if isinstance(v, list)}
        if len(lengths) > 1:
            raise InputError(f"weight_std and bias_std have different numbers of layers: {sorted(lengths)}")
        if lengths:
            num_layers = lengths.pop()
        if learnable and num_layers is None:
            raise InputError("learnable=True needs num_layers (or per-layer weight_std / bias_std sequences)")
        self.num_layers = num_layers
        self.learnable = bool(learnable)
        size = num_layers if num_layers is not None else 1
        log_weight = torch.log(torch.as_tensor(weight, dtype=torch.float32).expand(size).clone())
        log_bias = torch.log(torch.as_tensor(bias, dtype=torch.float32).expand(size).clone())
        if self.learnable:
            self.log_weight_std = torch.nn.Parameter(log_weight)
            self.log_bias_std = torch.nn.Parameter(log_bias)
        else:
            self.register_buffer("log_weight_std", log_weight)
            self.register_buffer("log_bias_std", log_bias)

    def _check_layers(self, count: int) -> None:
        if self.num_layers is not None and count != self.num_layers:
            raise InputError(f"this prior is for {self.num_layers} layers; got {count} layer shapes")

    def stds(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sigma_w, sigma_b)`` of layer ``layer`` (before the ``1/sqrt(fan_in)`` scaling)."""
        index = layer if self.num_layers is not None else 0
        return self.log_weight_std[index].exp(), self.log_bias_std[index].exp()

    def sample(self, layer_shapes: LayerShapes, num_samples: int, *,
               generator: GeneratorLike = None) -> Layers:
        shapes = _check_shapes(layer_shapes)
        self._check_layers(len(shapes))
        generator = as_generator(generator)
        layers = []
        for index, (fan_in, fan_out) in enumerate(shapes):
            weight_std, bias_std = self.stds(index)
            eps_w = torch.randn(num_samples, fan_in, fan_out, generator=generator)
            eps_b = torch.randn(num_samples, fan_out, generator=generator)
            layers.append((eps_w * weight_std / math.sqrt(fan_in), eps_b * bias_std))
        return layers

    def log_prob(self, layers: Layers) -> torch.Tensor:
        self._check_layers(len(layers))
        total = 0.0
        for index, (weight, bias) in enumerate(layers):
            weight_std, bias_std = self.stds(index)
            fan_in = weight.shape[-2]
            total = total + _normal_log_prob(weight, weight_std / math.sqrt(fan_in), 2)
            total = total + _normal_log_prob(bias, bias_std, 1)
        return total

    def numpyro_sample(self, layer_shapes: LayerShapes) -> list[tuple[Any, Any]]:
        import numpyro
        import numpyro.distributions as dist

        shapes = _check_shapes(layer_shapes)
        self._check_layers(len(shapes))
        layers = []
        for index, (fan_in, fan_out) in enumerate(shapes):
            weight_std, bias_std = (float(s) for s in self.stds(index))
            weight = numpyro.sample(f"w{index}", dist.Normal(0.0, weight_std / math.sqrt(fan_in))
                                    .expand([fan_in, fan_out]).to_event(2))
            bias = numpyro.sample(f"b{index}", dist.Normal(0.0, bias_std).expand([fan_out]).to_event(1))
            layers.append((weight, bias))
        return layers

    def pyro_sample(self, layer_shapes: LayerShapes) -> Layers:
        import pyro
        import pyro.distributions as dist

        shapes = _check_shapes(layer_shapes)
        self._check_layers(len(shapes))
        layers = []
        for index, (fan_in, fan_out) in enumerate(shapes):
            weight_std, bias_std = (s.detach() for s in self.stds(index))
            weight = pyro.sample(f"w{index}", dist.Normal(torch.zeros(fan_in, fan_out), weight_std / math.sqrt(fan_in))
                                 .to_event(2))
            bias = pyro.sample(f"b{index}", dist.Normal(torch.zeros(fan_out), bias_std).to_event(1))
            layers.append((weight, bias))
        return layers

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config = {"num_layers": self.num_layers, "learnable": self.learnable}
        return config, {"log_weight_std": self.log_weight_std.detach().clone(),
                        "log_bias_std": self.log_bias_std.detach().clone()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> GaussianWeightPrior:
        prior = cls(num_layers=config["num_layers"], learnable=config["learnable"])
        with torch.no_grad():
            prior.log_weight_std.copy_(tensors["log_weight_std"])
            prior.log_bias_std.copy_(tensors["log_bias_std"])
        return prior

    def extra_repr(self) -> str:
        return (f"weight_std={self.log_weight_std.exp().tolist()}, bias_std={self.log_bias_std.exp().tolist()}, "
                f"learnable={self.learnable}")


class _GammaPrecisionPrior(WeightPrior):
    """Shared machinery: some layers have a Gamma(shape, rate) precision ``lambda_l`` on their weights.

    For those layers ``W_l | lambda_l ~ N(0, 1 / (lambda_l fan_in))``; the other layers are NT-Gaussian
    with ``weight_std``. Biases are always ``N(0, bias_std^2)``. In numpyro the weights are non-centred
    (``w{l}_base ~ N(0, 1)``, ``w{l} = w{l}_base / sqrt(lambda_l fan_in)`` deterministic), which removes
    the funnel between a layer's precision and its weights that would otherwise make NUTS diverge.
    """

    def __init__(self, *, shape: float, rate: float, weight_std: float, bias_std: float,
                 learnable: bool) -> None:
        super().__init__()
        for name, value in (("shape", shape), ("rate", rate), ("weight_std", weight_std), ("bias_std", bias_std)):
            if not isinstance(value, int | float) or value <= 0:
                raise InputError(f"{name} must be a positive number; got {value!r}")
        self.learnable = bool(learnable)
        self.weight_std = float(weight_std)
        self.bias_std = float(bias_std)
        log_shape = torch.tensor(math.log(shape))
        log_rate = torch.tensor(math.log(rate))
        if self.learnable:
            self.log_shape = torch.nn.Parameter(log_shape)
            self.log_rate = torch.nn.Parameter(log_rate)
        else:
            self.register_buffer("log_shape", log_shape)
            self.register_buffer("log_rate", log_rate)

    def _hierarchical_layers(self, num_layers: int) -> list[int]:
        raise NotImplementedError

    def sample(self, layer_shapes: LayerShapes, num_samples: int, *,
               generator: GeneratorLike = None) -> Layers:
        shapes = _check_shapes(layer_shapes)
        generator = as_generator(generator)
        mixed = set(self._hierarchical_layers(len(shapes)))
        layers = []
        for index, (fan_in, fan_out) in enumerate(shapes):
            eps_w = torch.randn(num_samples, fan_in, fan_out, generator=generator)
            eps_b = torch.randn(num_samples, fan_out, generator=generator)
            if index in mixed:
                precision = _rsample_gamma(self.log_shape.exp(), self.log_rate.exp(), num_samples, generator)
                scale = torch.rsqrt(precision * fan_in).reshape(-1, 1, 1)
            else:
                scale = torch.tensor(self.weight_std / math.sqrt(fan_in))
            layers.append((eps_w * scale, eps_b * self.bias_std))
        return layers

    def log_prob(self, layers: Layers) -> torch.Tensor:
        mixed = set(self._hierarchical_layers(len(layers)))
        shape, rate = self.log_shape.exp(), self.log_rate.exp()
        total = 0.0
        for index, (weight, bias) in enumerate(layers):
            if index in mixed:
                total = total + _gamma_scale_mixture_log_prob(weight, shape, rate)
            else:
                total = total + _normal_log_prob(weight, torch.tensor(self.weight_std / math.sqrt(weight.shape[-2])), 2)
            total = total + _normal_log_prob(bias, torch.tensor(self.bias_std), 1)
        return total

    def numpyro_sample(self, layer_shapes: LayerShapes) -> list[tuple[Any, Any]]:
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist

        shapes = _check_shapes(layer_shapes)
        mixed = set(self._hierarchical_layers(len(shapes)))
        shape, rate = float(self.log_shape.exp()), float(self.log_rate.exp())
        layers = []
        for index, (fan_in, fan_out) in enumerate(shapes):
            if index in mixed:
                precision = numpyro.sample(f"precision{index}", dist.Gamma(shape, rate))
                base = numpyro.sample(f"w{index}_base", dist.Normal(0.0, 1.0).expand([fan_in, fan_out]).to_event(2))
                weight = numpyro.deterministic(f"w{index}", base / jnp.sqrt(precision * fan_in))
            else:
                weight = numpyro.sample(f"w{index}", dist.Normal(0.0, self.weight_std / math.sqrt(fan_in))
                                        .expand([fan_in, fan_out]).to_event(2))
            bias = numpyro.sample(f"b{index}", dist.Normal(0.0, self.bias_std).expand([fan_out]).to_event(1))
            layers.append((weight, bias))
        return layers

    def pyro_sample(self, layer_shapes: LayerShapes) -> Layers:
        import pyro
        import pyro.distributions as dist

        shapes = _check_shapes(layer_shapes)
        mixed = set(self._hierarchical_layers(len(shapes)))
        shape, rate = self.log_shape.exp().detach(), self.log_rate.exp().detach()
        layers = []
        for index, (fan_in, fan_out) in enumerate(shapes):
            if index in mixed:
                precision = pyro.sample(f"precision{index}", dist.Gamma(shape, rate))
                base = pyro.sample(f"w{index}_base", dist.Normal(torch.zeros(fan_in, fan_out), 1.0).to_event(2))
                weight = pyro.deterministic(f"w{index}", base * torch.rsqrt(precision * fan_in))
            else:
                weight = pyro.sample(f"w{index}", dist.Normal(torch.zeros(fan_in, fan_out),
                                                              self.weight_std / math.sqrt(fan_in)).to_event(2))
            bias = pyro.sample(f"b{index}", dist.Normal(torch.zeros(fan_out), self.bias_std).to_event(1))
            layers.append((weight, bias))
        return layers

    def _base_config(self) -> dict[str, Any]:
        return {"weight_std": self.weight_std, "bias_std": self.bias_std, "learnable": self.learnable}

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return self._base_config(), {"log_shape": self.log_shape.detach().clone(),
                                     "log_rate": self.log_rate.detach().clone()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> WeightPrior:
        prior = cls(**config)
        with torch.no_grad():
            prior.log_shape.copy_(tensors["log_shape"])
            prior.log_rate.copy_(tensors["log_rate"])
        return prior


class HierarchicalWeightPrior(_GammaPrecisionPrior):
    """Gamma prior on each layer's weight precision (Tran et al., 2022, hierarchical family).

    ``lambda_l ~ Gamma(precision_shape, precision_rate)`` independently per layer,
    ``W_l | lambda_l ~ N(0, 1 / (lambda_l fan_in))``, ``b_l ~ N(0, bias_std^2)``. With the defaults
    ``shape = rate = 1`` the prior weight variance ``E[1/lambda]`` is infinite-tailed: a heavy-tailed
    prior. ``learnable=True`` makes ``log shape`` and ``log rate`` ``nn.Parameter``\\ s (gradients flow
    through the draws by implicit reparameterisation of the Gamma).
    """

    def __init__(self, precision_shape: float = 1.0, precision_rate: float = 1.0, bias_std: float = 1.0,
                 learnable: bool = False) -> None:
        super().__init__(shape=precision_shape, rate=precision_rate, weight_std=1.0, bias_std=bias_std,
                         learnable=learnable)

    def _hierarchical_layers(self, num_layers: int) -> list[int]:
        return list(range(num_layers))

    def _base_config(self) -> dict[str, Any]:
        return {"bias_std": self.bias_std, "learnable": self.learnable}


class ScaleMixtureLastLayerPrior(_GammaPrecisionPrior):
    """NT-Gaussian hidden layers and an inverse-gamma variance on the last layer's weights.

    ``sigma_L^2 ~ InvGamma(variance_shape, variance_scale)`` (so ``1 / sigma_L^2`` is
    ``Gamma(variance_shape, rate=variance_scale)``), ``W_L ~ N(0, sigma_L^2 / fan_in)``. As the width
    grows, the BNN's prior becomes the scale-mixture NNGP of Lee et al. (2022): a Student-t process
    with ``2 * variance_shape`` degrees of freedom.
    """

    def __init__(self, weight_std: float = 1.0, bias_std: float = 1.0, variance_shape: float = 2.0,
                 variance_scale: float = 2.0, learnable: bool = False) -> None:
        super().__init__(shape=variance_shape, rate=variance_scale, weight_std=weight_std, bias_std=bias_std,
                         learnable=learnable)

    def _hierarchical_layers(self, num_layers: int) -> list[int]:
        return [num_layers - 1]

