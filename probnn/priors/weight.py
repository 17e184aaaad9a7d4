"""Priors over the weights of a fully connected network (contract A of the cross-team interfaces).

Every prior draws, for each layer ``l`` with shape ``(fan_in, fan_out)``, a weight matrix
``W_l [S, fan_in, fan_out]`` and a bias ``b_l [S, fan_out]``. ``W_l`` is the *actual* weight: the
neural-tangents ("NT") scaling ``1/sqrt(fan_in)`` is already applied, so the pre-activation is
``h @ W_l + b_l``. Draws are reparameterised (``W = scale * eps``) so that a functional-prior
fitter (Tran et al., 2022) can differentiate them w.r.t. the prior's own ``nn.Parameter``\\ s.

The same prior is also exposed as numpyro sample sites (:meth:`WeightPrior.numpyro_sample`) for the
compiled NUTS / HMC / SVI / SGHMC backends. Site names per layer ``l``: ``w{l}``, ``b{l}`` (the
actual weights, possibly as ``numpyro.deterministic`` of a non-centred parameterisation), plus
prior-specific hyperparameter sites (``precision{l}``, ``bias_precision{l}``).

Families:

* :class:`GaussianWeightPrior`: ``W_l ~ N(0, sigma_w,l^2 / fan_in)``, ``b_l ~ N(0, sigma_b,l^2)``;
  a wide BNN's prior converges to the NNGP with kernel ``probnn.gp.NNGPKernel(sigma_w, sigma_b)``.
* :class:`HierarchicalWeightPrior`: per-layer Gamma(shape, rate) priors on each layer's weight precision
  ``lambda_l`` and bias precision ``nu_l``, ``W_l | lambda_l ~ N(0, 1 / (lambda_l fan_in))``,
  ``b_l | nu_l ~ N(0, 1 / nu_l)`` (marginally multivariate Student-t; Tran et al., 2022).
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


def _common_num_layers(values: dict[str, list[float] | float], num_layers: int | None, learnable: bool) -> int | None:
    """The number of layers that per-layer hyperparameter ``values`` agree on (``num_layers`` if none is a
    sequence); a learnable prior needs one."""
    lengths = {len(value) for value in values.values() if isinstance(value, list)}
    if len(lengths) > 1:
        raise InputError(f"{' and '.join(values)} have different numbers of layers: {sorted(lengths)}")
    if lengths:
        num_layers = lengths.pop()
    if learnable and num_layers is None:
        raise InputError(f"learnable=True needs num_layers (or per-layer {' / '.join(values)} sequences)")
    return num_layers


def _normal_log_prob(value: torch.Tensor, std: torch.Tensor, dims: int) -> torch.Tensor:
    """Sum of ``log N(value; 0, std^2)`` over the last ``dims`` axes."""
    log_density = -0.5 * (value / std) ** 2 - torch.log(std) - 0.5 * _LOG_2PI
    return log_density.flatten(-dims).sum(-1)


def _gamma_scale_mixture_log_prob(value: torch.Tensor, shape: torch.Tensor, rate: torch.Tensor,
                                  dims: int = 2) -> torch.Tensor:
    """``log int Gamma(lam; a, b) prod_i N(v_i; 0, 1/(lam c)) d lam``, summed over the last ``dims`` axes.

    ``value`` is a weight matrix ``[..., fan_in, fan_out]`` (``dims=2``, ``c = fan_in``: the NT scaling)
    or a bias vector ``[..., fan_out]`` (``dims=1``, ``c = 1``). With ``k`` entries and
    ``s = c ||v||^2 / 2`` the integral is (a multivariate Student-t density)
    ``a log b - lgamma(a) + lgamma(a + k/2) - (a + k/2) log(b + s) + (k/2) log(c / 2 pi)``.
    """
    scaling = value.shape[-2] if dims == 2 else 1
    half_k = 0.5 * math.prod(value.shape[-dims:])
    sum_squares = 0.5 * scaling * (value**2).flatten(-dims).sum(-1)
    return (shape * torch.log(rate) - torch.lgamma(shape) + torch.lgamma(shape + half_k)
            - (shape + half_k) * torch.log(rate + sum_squares) + half_k * (math.log(scaling) - _LOG_2PI))


#: Numerical guard on the std a Gamma precision implies: ``log std <= log(1e6)``. Far below float32's overflow
#: (a draw with precision ~ 0 would otherwise give infinite weights and NaN functions), far above any std
#: that changes a network's function (a tanh unit fed by weights of std 1e6 is saturated either way).
_MAX_LOG_STD = math.log(1e6)


def _rsample_log_gamma(shape: torch.Tensor, rate: torch.Tensor, num_samples: int,
                       generator: torch.Generator) -> torch.Tensor:
    """Reparameterised ``log lambda`` for ``lambda ~ Gamma(shape, rate)``, ``[num_samples]`` in float64.

    Uses the shape-boosting identity ``G = G' U^(1/shape)`` with ``G' ~ Gamma(shape + 1, 1)`` and
    ``U ~ Uniform(0, 1]`` (Marsaglia & Tsang, 2000), in log space: ``log lambda = log G' + log(U) / shape -
    log rate``. A plain Gamma draw with a small shape underflows to 0 in floating point, where its
    implicit-reparameterisation gradient is NaN; here ``G'`` is never near 0 (its shape is >= 1) and the
    ``U`` term is exact in log space, so gradients w.r.t. shape and rate stay finite for any shape.
    """
    shape64, rate64 = shape.double(), rate.double()
    uniform = 1.0 - torch.rand(num_samples, generator=generator, dtype=torch.float64)  # in (0, 1]
    seed = derive_seed(generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        boosted = torch.distributions.Gamma(shape64 + 1.0, torch.ones_like(rate64)).rsample((num_samples,))
    return torch.log(boosted) + torch.log(uniform) / shape64 - torch.log(rate64)


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
        num_layers = _common_num_layers({"weight_std": weight, "bias_std": bias}, num_layers, learnable)
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


#: A block of parameters (one layer's weights, or its biases): a fixed std (``float``; for weights before the
#: ``1/sqrt(fan_in)`` scaling) or the ``(shape, rate)`` of a Gamma prior on its precision.
Block = float | tuple[torch.Tensor, torch.Tensor]


def _block_scale(block: Block, scaling: int, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """Std of each draw of a block: ``[]`` (fixed) or ``[num_samples]`` (one Gamma precision per draw)."""
    if isinstance(block, float):
        return torch.tensor(block / math.sqrt(scaling))
    log_precision = _rsample_log_gamma(block[0], block[1], num_samples, generator)
    log_std = (-0.5 * (log_precision + math.log(scaling))).clamp(max=_MAX_LOG_STD)
    return log_std.exp().to(torch.float32)


def _block_log_prob(value: torch.Tensor, block: Block, dims: int) -> torch.Tensor:
    if isinstance(block, float):
        scaling = value.shape[-2] if dims == 2 else 1
        return _normal_log_prob(value, torch.tensor(block / math.sqrt(scaling)), dims)
    return _gamma_scale_mixture_log_prob(value, block[0], block[1], dims)


def _numpyro_block(name: str, precision_name: str, block: Block, shape: list[int], scaling: int) -> Any:
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    if isinstance(block, float):
        return numpyro.sample(name, dist.Normal(0.0, block / math.sqrt(scaling)).expand(shape).to_event(len(shape)))
    precision = numpyro.sample(precision_name, dist.Gamma(float(block[0]), float(block[1])))
    base = numpyro.sample(f"{name}_base", dist.Normal(0.0, 1.0).expand(shape).to_event(len(shape)))
    return numpyro.deterministic(name, base / jnp.sqrt(precision * scaling))


def _pyro_block(name: str, precision_name: str, block: Block, shape: list[int], scaling: int) -> torch.Tensor:
    import pyro
    import pyro.distributions as dist

    if isinstance(block, float):
        return pyro.sample(name, dist.Normal(torch.zeros(shape), block / math.sqrt(scaling)).to_event(len(shape)))
    precision = pyro.sample(precision_name, dist.Gamma(block[0].detach(), block[1].detach()))
    base = pyro.sample(f"{name}_base", dist.Normal(torch.zeros(shape), 1.0).to_event(len(shape)))
    return pyro.deterministic(name, base * torch.rsqrt(precision * scaling))


def _expand(scale: torch.Tensor, dims: int) -> torch.Tensor:
    """``[S] -> [S, 1, ..., 1]`` (``dims`` trailing ones) so a per-draw std broadcasts over a block."""
    return scale.reshape(scale.shape + (1,) * dims) if scale.dim() else scale


class _GammaPrecisionPrior(WeightPrior):
    """Shared machinery of the Gamma scale-mixture priors.

    Each layer's weights and each layer's biases form a *block* (see :data:`Block`): Gaussian with a
    fixed std, or a Gamma scale mixture: one precision ``lambda ~ Gamma(shape, rate)`` per function
    draw, ``W | lambda ~ N(0, 1 / (lambda fan_in))`` (NT scaling) or ``b | lambda ~ N(0, 1 / lambda)``.
    Marginally a mixed block is multivariate Student-t; :meth:`log_prob` integrates ``lambda`` out in
    closed form. Draws are reparameterised (implicit-gradient Gamma draws), so the shape and rate can
    be fitted. In numpyro / pyro a mixed block is non-centred (``w{l}_base ~ N(0, 1)``,
    ``w{l} = w{l}_base / sqrt(lambda fan_in)`` deterministic; likewise ``b{l}_base``, ``b{l}``), which
    removes the funnel between a block's precision and its values that would otherwise make NUTS diverge.
    Precision sites: ``precision{l}`` (weights), ``bias_precision{l}`` (biases).
    """

    def _blocks(self, num_layers: int) -> list[tuple[Block, Block]]:
        """``[(weight block, bias block) per layer]``."""
        raise NotImplementedError

    def sample(self, layer_shapes: LayerShapes, num_samples: int, *,
               generator: GeneratorLike = None) -> Layers:
        shapes = _check_shapes(layer_shapes)
        generator = as_generator(generator)
        layers = []
        for (fan_in, fan_out), (weight_block, bias_block) in zip(shapes, self._blocks(len(shapes)), strict=True):
            eps_w = torch.randn(num_samples, fan_in, fan_out, generator=generator)
            eps_b = torch.randn(num_samples, fan_out, generator=generator)
            weight_scale = _expand(_block_scale(weight_block, fan_in, num_samples, generator), 2)
            bias_scale = _expand(_block_scale(bias_block, 1, num_samples, generator), 1)
            layers.append((eps_w * weight_scale, eps_b * bias_scale))
        return layers

    def log_prob(self, layers: Layers) -> torch.Tensor:
        total = 0.0
        for (weight, bias), (weight_block, bias_block) in zip(layers, self._blocks(len(layers)), strict=True):
            total = total + _block_log_prob(weight, weight_block, 2) + _block_log_prob(bias, bias_block, 1)
        return total

    def numpyro_sample(self, layer_shapes: LayerShapes) -> list[tuple[Any, Any]]:
        shapes = _check_shapes(layer_shapes)
        return [(_numpyro_block(f"w{index}", f"precision{index}", weight_block, [fan_in, fan_out], fan_in),
                 _numpyro_block(f"b{index}", f"bias_precision{index}", bias_block, [fan_out], 1))
                for index, ((fan_in, fan_out), (weight_block, bias_block))
                in enumerate(zip(shapes, self._blocks(len(shapes)), strict=True))]

    def pyro_sample(self, layer_shapes: LayerShapes) -> Layers:
        shapes = _check_shapes(layer_shapes)
        return [(_pyro_block(f"w{index}", f"precision{index}", weight_block, [fan_in, fan_out], fan_in),
                 _pyro_block(f"b{index}", f"bias_precision{index}", bias_block, [fan_out], 1))
                for index, ((fan_in, fan_out), (weight_block, bias_block))
                in enumerate(zip(shapes, self._blocks(len(shapes)), strict=True))]


_HYPERPARAMETERS = ("precision_shape", "precision_rate", "bias_precision_shape", "bias_precision_rate")
_LOG_NAMES = dict(zip(_HYPERPARAMETERS, ("log_weight_shape", "log_weight_rate", "log_bias_shape", "log_bias_rate"),
                      strict=True))


class HierarchicalWeightPrior(_GammaPrecisionPrior):
    """Gamma priors on each layer's weight precision and bias precision (Tran et al., 2022, hierarchical).

    For each layer ``l`` and each function draw, independently,

        lambda_l ~ Gamma(precision_shape_l, precision_rate_l),      W_l | lambda_l ~ N(0, 1 / (lambda_l fan_in)),
        nu_l ~ Gamma(bias_precision_shape_l, bias_precision_rate_l),  b_l | nu_l ~ N(0, 1 / nu_l),

    so ``W_l`` and ``b_l`` are marginally multivariate Student-t with ``2 shape`` degrees of freedom and
    ``E[W_ij^2] = rate / ((shape - 1) fan_in)`` for ``shape > 1``. This is the family of the paper's
    official code (``HierarchicalLinearReparameterization``: learnable shape and rate for the weight and
    the bias precision of every layer; its notebook starts them at 3). Unlike that code, which draws one
    precision per layer for a whole batch of functions, every function here gets its own precisions, so
    a batch of draws follows the marginal prior.

    As with :class:`GaussianWeightPrior`, each hyperparameter is a scalar (shared by all layers) or a
    sequence with one value per layer (its length fixes ``num_layers``). ``learnable=True`` stores
    ``log shape`` and ``log rate`` of every layer's two precisions as ``nn.Parameter``\\ s (needs
    ``num_layers``); :func:`probnn.priors.fit_functional_prior` turns any hierarchical prior into such a
    per-layer learnable copy at its current values, as it does for the Gaussian prior.

    Args:
        precision_shape, precision_rate: Gamma prior of the weight precisions (scalar or per layer).
        bias_precision_shape, bias_precision_rate: Gamma prior of the bias precisions (default 1, 1).
        bias_std: instead of a bias precision, fixed Gaussian biases ``b_l ~ N(0, bias_std^2)`` (the
            earlier, weight-only form of this prior); excludes ``bias_precision_*``.
        num_layers: number of layers (required with ``learnable=True`` and scalar hyperparameters).
        learnable: make the log shapes and log rates trainable.
    """

    def __init__(self, precision_shape: float | Sequence[float] = 1.0, precision_rate: float | Sequence[float] = 1.0,
                 bias_precision_shape: float | Sequence[float] | None = None,
                 bias_precision_rate: float | Sequence[float] | None = None, *, bias_std: float | None = None,
                 num_layers: int | None = None, learnable: bool = False) -> None:
        super().__init__()
        if bias_std is not None:
            if bias_precision_shape is not None or bias_precision_rate is not None:
                raise InputError("give either bias_std (fixed Gaussian biases) or bias_precision_shape / "
                                 "bias_precision_rate (Gamma bias precision), not both")
            if not isinstance(bias_std, int | float) or bias_std <= 0:
                raise InputError(f"bias_std must be a positive number; got {bias_std!r}")
            bias_std = float(bias_std)
        requested = {"precision_shape": precision_shape, "precision_rate": precision_rate}
        if bias_std is None:
            requested["bias_precision_shape"] = 1.0 if bias_precision_shape is None else bias_precision_shape
            requested["bias_precision_rate"] = 1.0 if bias_precision_rate is None else bias_precision_rate
        values = {name: _per_layer(value, num_layers, name) for name, value in requested.items()}
        num_layers = _common_num_layers(values, num_layers, learnable)
        self.num_layers = num_layers
        self.learnable = bool(learnable)
        self.bias_std = bias_std
        size = num_layers if num_layers is not None else 1
        for name, value in values.items():
            log_value = torch.log(torch.as_tensor(value, dtype=torch.float32).expand(size).clone())
            if self.learnable:
                setattr(self, _LOG_NAMES[name], torch.nn.Parameter(log_value))
            else:
                self.register_buffer(_LOG_NAMES[name], log_value)

    def _names(self) -> tuple[str, ...]:
        return _HYPERPARAMETERS if self.bias_std is None else _HYPERPARAMETERS[:2]

    def hyperparameters(self) -> dict[str, list[float]]:
        """Current values per layer (one entry when shared by all layers), e.g. ``{"precision_shape": [...]}``."""
        values: dict[str, Any] = {name: getattr(self, _LOG_NAMES[name]).detach().exp().tolist()
                                  for name in self._names()}
        if self.bias_std is not None:
            values["bias_std"] = self.bias_std
        return values

    def learnable_copy(self, num_layers: int) -> HierarchicalWeightPrior:
        """A per-layer learnable copy at the current values (what :func:`fit_functional_prior` fits)."""
        if self.num_layers is not None and self.num_layers != num_layers:
            raise InputError(f"this prior is for {self.num_layers} layers; got {num_layers}")
        values = {name: getattr(self, _LOG_NAMES[name]).detach().exp().expand(num_layers).tolist()
                  for name in self._names()}
        return HierarchicalWeightPrior(**values, bias_std=self.bias_std, learnable=True)

    def _blocks(self, num_layers: int) -> list[tuple[Block, Block]]:
        if self.num_layers is not None and num_layers != self.num_layers:
            raise InputError(f"this prior is for {self.num_layers} layers; got {num_layers} layer shapes")
        blocks = []
        for layer in range(num_layers):
            index = layer if self.num_layers is not None else 0
            weight = (self.log_weight_shape[index].exp(), self.log_weight_rate[index].exp())
            bias = (self.bias_std if self.bias_std is not None
                    else (self.log_bias_shape[index].exp(), self.log_bias_rate[index].exp()))
            blocks.append((weight, bias))
        return blocks

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config = {"num_layers": self.num_layers, "learnable": self.learnable, "bias_std": self.bias_std}
        return config, {_LOG_NAMES[name]: getattr(self, _LOG_NAMES[name]).detach().clone() for name in self._names()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> HierarchicalWeightPrior:
        if "log_shape" in tensors:
            # Earlier format: one (shape, rate) shared by all layers and a fixed bias std. Loaded as a fixed
            # prior with the same values (draws and densities are unchanged; fitting makes it learnable).
            return cls(float(tensors["log_shape"].exp()), float(tensors["log_rate"].exp()),
                       bias_std=config["bias_std"])
        bias = {} if config["bias_std"] is None else {"bias_std": config["bias_std"]}
        prior = cls(num_layers=config["num_layers"], learnable=config["learnable"], **bias)
        with torch.no_grad():
            for name in prior._names():
                getattr(prior, _LOG_NAMES[name]).copy_(tensors[_LOG_NAMES[name]])
        return prior

    def extra_repr(self) -> str:
        values = ", ".join(f"{name}={[round(v, 4) for v in value] if isinstance(value, list) else value}"
                           for name, value in self.hyperparameters().items())
        return f"{values}, learnable={self.learnable}"


class ScaleMixtureLastLayerPrior(_GammaPrecisionPrior):
    """NT-Gaussian hidden layers and an inverse-gamma variance on the last layer's weights.

    ``sigma_L^2 ~ InvGamma(variance_shape, variance_scale)`` (so ``1 / sigma_L^2`` is
    ``Gamma(variance_shape, rate=variance_scale)``), ``W_L ~ N(0, sigma_L^2 / fan_in)``; the other
    weights are ``N(0, weight_std^2 / fan_in)`` and every bias is ``N(0, bias_std^2)``. As the width
    grows, the BNN's prior becomes the scale-mixture NNGP of Lee et al. (2022): a Student-t process
    with ``2 * variance_shape`` degrees of freedom. ``learnable=True`` makes the log shape and log scale
    ``nn.Parameter``\\ s.
    """

    def __init__(self, weight_std: float = 1.0, bias_std: float = 1.0, variance_shape: float = 2.0,
                 variance_scale: float = 2.0, learnable: bool = False) -> None:
        super().__init__()
        for name, value in (("weight_std", weight_std), ("bias_std", bias_std), ("variance_shape", variance_shape),
                            ("variance_scale", variance_scale)):
            if not isinstance(value, int | float) or value <= 0:
                raise InputError(f"{name} must be a positive number; got {value!r}")
        self.learnable = bool(learnable)
        self.weight_std = float(weight_std)
        self.bias_std = float(bias_std)
        log_shape = torch.tensor(math.log(variance_shape))
        log_rate = torch.tensor(math.log(variance_scale))
        if self.learnable:
            self.log_shape = torch.nn.Parameter(log_shape)
            self.log_rate = torch.nn.Parameter(log_rate)
        else:
            self.register_buffer("log_shape", log_shape)
            self.register_buffer("log_rate", log_rate)

    def _blocks(self, num_layers: int) -> list[tuple[Block, Block]]:
        last = (self.log_shape.exp(), self.log_rate.exp())
        return [(last if layer == num_layers - 1 else self.weight_std, self.bias_std) for layer in range(num_layers)]

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config = {"weight_std": self.weight_std, "bias_std": self.bias_std, "learnable": self.learnable}
        return config, {"log_shape": self.log_shape.detach().clone(), "log_rate": self.log_rate.detach().clone()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> ScaleMixtureLastLayerPrior:
        prior = cls(**config)
        with torch.no_grad():
            prior.log_shape.copy_(tensors["log_shape"])
            prior.log_rate.copy_(tensors["log_rate"])
        return prior
