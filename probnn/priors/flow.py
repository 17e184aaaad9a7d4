"""A normalizing-flow weight prior: each layer's parameters are a learned invertible map of N(0, I).

Tran et al. (2022) fit, besides Gaussian and hierarchical priors, a normalizing-flow prior over the
weights so that the prior can represent correlations and non-Gaussian marginals. Here each layer ``l``
with ``D_l = fan_in * fan_out + fan_out`` parameters gets its own flow ``T_l: R^D_l -> R^D_l``:

    z ~ N(0, I_D),    u = T_l(z),    W_l = u[:fan_in * fan_out].reshape(fan_in, fan_out) / sqrt(fan_in),
    b_l = u[fan_in * fan_out:]

(the neural-tangents ``1/sqrt(fan_in)`` scaling is applied after the flow, as in the Gaussian prior).
``T_l`` composes an elementwise affine map ``u = exp(s) * z + t`` (per-parameter learnable ``s, t``)
with ``num_couplings`` affine coupling layers (RealNVP; Dinh et al., 2017): with a binary mask ``m``
alternating between even and odd positions,

    y = m * x + (1 - m) * (x * exp(scale(m * x)) + shift(m * x)),
    scale(.) = bound * tanh(net_s(.)),   log|det dy/dx| = sum (1 - m) * scale(m * x),

where ``net_s, net_t`` are one-hidden-layer tanh MLPs; ``bound = 2`` keeps each coupling's log-scale in
``[-2, 2]``. Every piece is exactly invertible, so :meth:`FlowWeightPrior.log_prob` evaluates the
change-of-variables density ``log N(T^-1(u); 0, I) + log|det dT^-1/du|`` at any weights (needed by
posterior samplers), and :meth:`FlowWeightPrior.sample` is reparameterised (gradients reach every flow
parameter). The output layers of the coupling networks start at zero and ``s = t = 0``, so a fresh
flow prior *is* the NT ``N(0, 1)`` prior: fitting starts where the Gaussian prior starts.

Backends: SVI / SGHMC through the pyro model (``pyro_sample`` declares the weights with the flow's
log density as a factor) and NUTS / HMC through ``numpyro_sample``, which re-implements the inverse
flow in JAX with the fitted parameters frozen (an improper flat site plus ``numpyro.factor``).
Prior-predictive sampling inside numpyro (``numpyro.infer.Predictive`` without a posterior) is not
available for those improper sites; draw prior functions with ``BNN.sample_prior_functions``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from probnn.errors import InputError
from probnn.priors.weight import Layers, LayerShapes, WeightPrior, _check_shapes
from probnn.random import GeneratorLike, as_generator

_LOG_2PI = math.log(2 * math.pi)
#: Bound on each coupling's log-scale (``exp(2) ~ 7.4x`` stretch per coupling): keeps the flow stable.
SCALE_BOUND = 2.0


class AffineCoupling(torch.nn.Module):
    """One RealNVP affine coupling over ``num_features`` values (see the module docstring)."""

    def __init__(self, num_features: int, hidden_features: int, parity: int) -> None:
        super().__init__()
        mask = (torch.arange(num_features) % 2 == parity).to(torch.float32)
        self.register_buffer("mask", mask)
        self.hidden = torch.nn.Linear(num_features, hidden_features)
        self.output = torch.nn.Linear(hidden_features, 2 * num_features)
        torch.nn.init.zeros_(self.output.weight)  # start as the identity map
        torch.nn.init.zeros_(self.output.bias)

    def _scale_shift(self, masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_scale, shift = self.output(torch.tanh(self.hidden(masked))).chunk(2, dim=-1)
        free = 1 - self.mask
        return SCALE_BOUND * torch.tanh(raw_scale) * free, shift * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [..., D] -> (y, log|det dy/dx| [...])``."""
        scale, shift = self._scale_shift(x * self.mask)
        return x * torch.exp(scale) + shift, scale.sum(-1)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``y -> (x, log|det dx/dy|)``: the masked half passes through unchanged, so it conditions both ways."""
        scale, shift = self._scale_shift(y * self.mask)
        return (y - shift) * torch.exp(-scale), -scale.sum(-1)


class LayerFlow(torch.nn.Module):
    """Elementwise affine map followed by ``num_couplings`` alternating affine couplings."""

    def __init__(self, num_features: int, num_couplings: int, hidden_features: int) -> None:
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.zeros(num_features))
        self.shift = torch.nn.Parameter(torch.zeros(num_features))
        self.couplings = torch.nn.ModuleList(
            AffineCoupling(num_features, hidden_features, parity=index % 2) for index in range(num_couplings))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = z * torch.exp(self.log_scale) + self.shift
        for coupling in self.couplings:
            u, _ = coupling(u)
        return u

    def log_prob(self, u: torch.Tensor) -> torch.Tensor:
        """``log p(u) = log N(T^-1(u); 0, I) + log|det dT^-1/du|`` for ``u [..., D]``."""
        log_det = torch.zeros(u.shape[:-1], dtype=u.dtype)
        for coupling in reversed(self.couplings):
            u, step = coupling.inverse(u)
            log_det = log_det + step
        z = (u - self.shift) * torch.exp(-self.log_scale)
        log_det = log_det - self.log_scale.sum()
        return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * _LOG_2PI + log_det


class FlowWeightPrior(WeightPrior):
    """Per-layer normalizing-flow prior over ``(W_l, b_l)`` (see the module docstring).

    Args:
        layer_shapes: ``[(fan_in, fan_out)]`` of the BNN it is for (``bnn.layer_shapes``); the flows'
            sizes depend on them, so they are fixed at construction.
        num_couplings: affine couplings per layer (0 gives a learnable per-parameter Gaussian).
        hidden_features: width of each coupling network.

    Example:
        >>> prior = FlowWeightPrior([(1, 8), (8, 1)])
        >>> [w.shape for w, _ in prior.sample([(1, 8), (8, 1)], 4, generator=0)]
        [torch.Size([4, 1, 8]), torch.Size([4, 8, 1])]
    """

    def __init__(self, layer_shapes: LayerShapes, num_couplings: int = 2, hidden_features: int = 16) -> None:
        super().__init__()
        self.layer_shapes = _check_shapes(layer_shapes)
        if not isinstance(num_couplings, int) or num_couplings < 0:
            raise InputError(f"num_couplings must be a non-negative int; got {num_couplings!r}")
        if not isinstance(hidden_features, int) or hidden_features < 1:
            raise InputError(f"hidden_features must be a positive int; got {hidden_features!r}")
        self.num_couplings = num_couplings
        self.hidden_features = hidden_features
        self.flows = torch.nn.ModuleList(LayerFlow(fan_in * fan_out + fan_out, num_couplings, hidden_features)
                                         for fan_in, fan_out in self.layer_shapes)

    def _check(self, layer_shapes: LayerShapes) -> list[tuple[int, int]]:
        shapes = _check_shapes(layer_shapes)
        if shapes != self.layer_shapes:
            raise InputError(f"this flow prior was built for layer shapes {self.layer_shapes}; got {shapes}")
        return shapes

    @staticmethod
    def _split(u: torch.Tensor, fan_in: int, fan_out: int) -> tuple[torch.Tensor, torch.Tensor]:
        weight = u[..., : fan_in * fan_out].reshape(*u.shape[:-1], fan_in, fan_out) / math.sqrt(fan_in)
        return weight, u[..., fan_in * fan_out:]

    def sample(self, layer_shapes: LayerShapes, num_samples: int, *, generator: GeneratorLike = None) -> Layers:
        shapes = self._check(layer_shapes)
        generator = as_generator(generator)
        layers = []
        for flow, (fan_in, fan_out) in zip(self.flows, shapes, strict=True):
            z = torch.randn(num_samples, fan_in * fan_out + fan_out, generator=generator)
            layers.append(self._split(flow(z), fan_in, fan_out))
        return layers

    def central_layers(self, layer_shapes: LayerShapes) -> Layers:
        """The weights at ``T(0)``, the image of the base distribution's mode (``[fan_in, fan_out]``,
        ``[fan_out]`` per layer, detached): where samplers and guides start. Without couplings it is the
        per-parameter mean."""
        shapes = self._check(layer_shapes)
        with torch.no_grad():
            return [self._split(flow(torch.zeros(fan_in * fan_out + fan_out)), fan_in, fan_out)
                    for flow, (fan_in, fan_out) in zip(self.flows, shapes, strict=True)]

    def log_prob(self, layers: Layers) -> torch.Tensor:
        if len(layers) != len(self.flows):
            raise InputError(f"this flow prior has {len(self.flows)} layers; got {len(layers)}")
        total = 0.0
        for flow, (weight, bias) in zip(self.flows, layers, strict=True):
            fan_in = weight.shape[-2]
            u = torch.cat([(weight * math.sqrt(fan_in)).flatten(-2), bias], dim=-1).to(torch.float32)
            # Jacobian of the 1/sqrt(fan_in) scaling of the weights: log|det| = -(fan_in fan_out / 2) log fan_in.
            total = total + flow.log_prob(u) + 0.5 * weight.shape[-2] * weight.shape[-1] * math.log(fan_in)
        return total

    # ------------------------------------------------------------------ backends
    def _jax_log_prob(self) -> Any:
        """A JAX function ``(layer index, u [D]) -> log p(u)`` with the current flow parameters frozen."""
        import jax.numpy as jnp

        frozen = []
        for flow in self.flows:
            couplings = [{"mask": jnp.asarray(c.mask.numpy()), "w1": jnp.asarray(c.hidden.weight.detach().numpy()),
                          "b1": jnp.asarray(c.hidden.bias.detach().numpy()),
                          "w2": jnp.asarray(c.output.weight.detach().numpy()),
                          "b2": jnp.asarray(c.output.bias.detach().numpy())} for c in flow.couplings]
            frozen.append((jnp.asarray(flow.log_scale.detach().numpy()), jnp.asarray(flow.shift.detach().numpy()),
                           couplings))

        def log_prob(index: int, u: Any) -> Any:
            log_scale, shift, couplings = frozen[index]
            log_det = 0.0
            for c in reversed(couplings):
                raw = jnp.tanh((u * c["mask"]) @ c["w1"].T + c["b1"]) @ c["w2"].T + c["b2"]
                raw_scale, raw_shift = jnp.split(raw, 2, axis=-1)
                scale = SCALE_BOUND * jnp.tanh(raw_scale) * (1 - c["mask"])
                u = (u - raw_shift * (1 - c["mask"])) * jnp.exp(-scale)
                log_det = log_det - scale.sum(-1)
            z = (u - shift) * jnp.exp(-log_scale)
            log_det = log_det - log_scale.sum()
            return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * _LOG_2PI + log_det

        return log_prob

    def numpyro_sample(self, layer_shapes: LayerShapes) -> list[tuple[Any, Any]]:
        """Weights as flat (improper) numpyro sites ``w{l}``, ``b{l}`` plus a factor with the flow density."""
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist

        from probnn.inference.handlers import INIT_HINT

        shapes = self._check(layer_shapes)
        log_prob = self._jax_log_prob()
        layers = []
        for index, ((fan_in, fan_out), (centre_weight, centre_bias)) in enumerate(
                zip(shapes, self.central_layers(shapes), strict=True)):
            # The flat sites carry a start value (init_to_median_or_hint): their prior cannot be sampled.
            weight = numpyro.sample(f"w{index}", dist.ImproperUniform(dist.constraints.real, (), (fan_in, fan_out)),
                                    infer={INIT_HINT: jnp.asarray(centre_weight.numpy())})
            bias = numpyro.sample(f"b{index}", dist.ImproperUniform(dist.constraints.real, (), (fan_out,)),
                                  infer={INIT_HINT: jnp.asarray(centre_bias.numpy())})
            u = jnp.concatenate([(weight * math.sqrt(fan_in)).reshape(-1), bias])
            numpyro.factor(f"flow_log_prob{index}", log_prob(index, u)
                           + 0.5 * fan_in * fan_out * math.log(fan_in))
            layers.append((weight, bias))
        return layers

    def pyro_sample(self, layer_shapes: LayerShapes) -> Layers:
        """Weights as flat (improper) pyro sites plus a factor with the flow's log density (frozen)."""
        import pyro
        import pyro.distributions as dist

        shapes = self._check(layer_shapes)
        layers = []
        for index, (fan_in, fan_out) in enumerate(shapes):
            weight = pyro.sample(f"w{index}", dist.ImproperUniform(dist.constraints.real, (), (fan_in, fan_out)))
            bias = pyro.sample(f"b{index}", dist.ImproperUniform(dist.constraints.real, (), (fan_out,)))
            u = torch.cat([(weight * math.sqrt(fan_in)).reshape(-1), bias]).to(torch.float32)
            pyro.factor(f"flow_log_prob{index}", self.flows[index].log_prob(u)
                        + 0.5 * fan_in * fan_out * math.log(fan_in))
            layers.append((weight, bias))
        return layers

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config = {"layer_shapes": [list(shape) for shape in self.layer_shapes], "num_couplings": self.num_couplings,
                  "hidden_features": self.hidden_features}
        return config, {key: value.detach().clone() for key, value in self.state_dict().items()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> FlowWeightPrior:
        prior = cls([tuple(shape) for shape in config["layer_shapes"]], num_couplings=config["num_couplings"],
                    hidden_features=config["hidden_features"])
        prior.load_state_dict(tensors)
        return prior

    def extra_repr(self) -> str:
        return f"layer_shapes={self.layer_shapes}, num_couplings={self.num_couplings}"

