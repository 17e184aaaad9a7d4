"""Infinite-width network kernels: the NNGP / NTK layer recursion shared by both kernels.

Convention (identical to neural-tangents ``stax.serial(Dense(W, b), act, ..., act, Dense(W, b))``
with ``depth`` hidden layers, Novak et al. 2020): weights ``W ~ N(0, W_std^2 / fan_in)``, biases
``b ~ N(0, b_std^2)``. With ``sigma_w^2 = W_std^2`` and ``sigma_b^2 = b_std^2``:

    K^0(x, x')     = sigma_w^2 x.x' / d + sigma_b^2                       (input Dense layer)
    K^l(x, x')     = sigma_w^2 E[phi(u) phi(v)] + sigma_b^2,               l = 1..depth
    Kdot^l(x, x')  = E[phi'(u) phi'(v)]
    Theta^0        = K^0,    Theta^l = K^l + sigma_w^2 Kdot^l Theta^(l-1)  (NTK, "ntk" parameterisation)

where ``(u, v) ~ N(0, [[K^(l-1)(x, x), K^(l-1)(x, x')], [., K^(l-1)(x', x')]])``. The NNGP is
``K^depth`` and the NTK ``Theta^depth`` (Lee et al. 2018; Jacot et al. 2018; Arora et al. 2019).

The Gaussian expectations have closed forms for ReLU (arc-cosine kernel, Cho & Saul 2009) and erf
(Williams 1997); every other elementwise activation uses tensor-product Gauss-Hermite quadrature
over the bivariate Gaussian, written as ``u = sqrt(k11) z1``, ``v = sqrt(k22) (c z1 + sqrt(1-c^2) z2)``
with ``c = k12 / sqrt(k11 k22)`` and ``z1, z2`` independent standard normals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gpytorch
import numpy as np
import torch
from gpytorch.constraints import Positive

from probnn.errors import InputError, InputTypeError
from probnn.gp.fused_relu import relu_diagonals, relu_kernels_no_grad

#: Default Gauss-Hermite order per dimension for quadrature activations. Saturating activations at
#: pre-activation variances of a few units (tanh, erf with W_std ~ 1.5) need ~100 nodes for ~1e-5
#: relative error at depth 3 (measured against erf's closed form: 64 nodes 1e-4, 96 nodes 3e-6).
DEFAULT_QUADRATURE_POINTS = 96
#: Largest number of (pair x node x node) evaluations held in memory at once by the quadrature
#: (2^24 float64 values = 128 MiB); larger kernel matrices are processed in chunks of pairs.
_QUADRATURE_CHUNK = 2**24


def _clamp_correlation(correlation: torch.Tensor) -> torch.Tensor:
    """Clamp ``c`` into ``[-1 + eps, 1 - eps]`` so ``arccos``/``sqrt(1 - c^2)`` keep finite gradients.

    ``eps`` is 10 machine epsilons of the dtype: the value change it causes in the arc-cosine
    kernel is O(eps^1.5), far below the dtype's resolution.
    """
    eps = 10 * torch.finfo(correlation.dtype).eps
    return correlation.clamp(-1 + eps, 1 - eps)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation and how to take Gaussian expectations of it.

    Attributes:
        name: registry name (``"relu"``, ``"erf"``, ...) or ``"custom"`` for a user callable.
        function: ``phi``, elementwise on tensors.
        derivative: ``phi'`` (``None``: autograd of ``phi``), used by the NTK.
        closed_form: ``(k11, k22, k12) -> (E[phi phi], E[phi' phi'])`` or ``None`` for quadrature.
        diagonal_form: ``variance -> (E[phi(u)^2], E[phi'(u)^2])``, the closed form at ``c = 1``
            (``None``: the pair closed form at the clamped ``c = 1 - eps``, or 1-D quadrature). It keeps
            the diagonal exact where the pair form is ill-conditioned (ReLU's ``arccos`` at ``c = 1``).
    """

    name: str
    function: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor] | None = None
    closed_form: Callable[..., tuple[torch.Tensor, torch.Tensor | None]] | None = None
    diagonal_form: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None


def _relu_closed_form(k11: torch.Tensor, k22: torch.Tensor, k12: torch.Tensor, with_derivative: bool
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Arc-cosine kernel of order 1 (Cho & Saul 2009), ``theta = arccos(c)``:

    ``E[relu(u) relu(v)] = sqrt(k11 k22) (sin theta + (pi - theta) cos theta) / (2 pi)`` and
    ``E[step(u) step(v)] = (pi - theta) / (2 pi)``.
    """
    # sqrt(k11) sqrt(k22) from the square roots of the (usually [n, 1] and [1, n]) diagonals, not of the
    # matrix. A layer whose variance underflows to 0 (weight_std, bias_std -> 0) has k12 = 0 too: flooring
    # each variance at sqrt(tiny)^2 keeps the norm a nonzero float, so the correlation is 0 and the value
    # ~0 instead of 0/0 = NaN.
    floor = torch.finfo(k12.dtype).tiny ** 0.5
    norm = k11.clamp_min(floor**2).sqrt() * k22.clamp_min(floor**2).sqrt()
    correlation = _clamp_correlation(k12 / norm)
    theta = torch.arccos(correlation)
    value = norm * (torch.sin(theta) + (math.pi - theta) * correlation) * (1 / (2 * math.pi))
    derivative = (math.pi - theta) / (2 * math.pi) if with_derivative else None
    return value, derivative


def _erf_closed_form(k11: torch.Tensor, k22: torch.Tensor, k12: torch.Tensor, with_derivative: bool
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Williams (1997): ``E[erf(u) erf(v)] = (2/pi) arcsin(2 k12 / sqrt((1 + 2 k11)(1 + 2 k22)))``;
    with ``erf'(u) = 2 exp(-u^2) / sqrt(pi)``,
    ``E[erf'(u) erf'(v)] = (4/pi) det(I + 2 Sigma)^(-1/2) = (4/pi) / sqrt((1+2k11)(1+2k22) - 4 k12^2)``.
    """
    product = (1 + 2 * k11) * (1 + 2 * k22)
    value = (2 / math.pi) * torch.arcsin(_clamp_correlation(2 * k12 / torch.sqrt(product)))
    derivative = (4 / math.pi) / torch.sqrt(product - 4 * k12**2) if with_derivative else None
    return value, derivative


def _relu_diagonal_form(variance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``E[relu(u)^2] = k / 2`` and ``E[step(u)^2] = 1 / 2`` for ``u ~ N(0, k)``."""
    return 0.5 * variance, torch.full_like(variance, 0.5)


def _erf_diagonal_form(variance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Williams' forms at ``k11 = k22 = k12 = k``: ``(2/pi) arcsin(2k / (1 + 2k))``, ``(4/pi) / sqrt(1 + 4k)``."""
    return ((2 / math.pi) * torch.arcsin(2 * variance / (1 + 2 * variance)),
            (4 / math.pi) / torch.sqrt(1 + 4 * variance))


def _gelu_derivative(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(z / math.sqrt(2))) + z * torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", torch.relu, lambda z: (z > 0).to(z.dtype), _relu_closed_form, _relu_diagonal_form),
    "erf": Activation("erf", torch.erf, lambda z: 2 / math.sqrt(math.pi) * torch.exp(-(z**2)), _erf_closed_form,
                      _erf_diagonal_form),
    "tanh": Activation("tanh", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2),
    "gelu": Activation("gelu", torch.nn.functional.gelu, _gelu_derivative),
    "sigmoid": Activation("sigmoid", torch.sigmoid, lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))),
    "sin": Activation("sin", torch.sin, torch.cos),
    "identity": Activation("identity", lambda z: z, torch.ones_like,
                           lambda k11, k22, k12, d: (k12, torch.ones_like(k12) if d else None)),
}


def resolve_activation(activation: str | Callable[[torch.Tensor], torch.Tensor] | Activation,
                       derivative: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Activation:
    """Turn a name, callable or :class:`Activation` into an :class:`Activation`."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise InputError(f"activation must be one of {sorted(ACTIVATIONS)} or a callable; got {activation!r}")
        return ACTIVATIONS[activation]
    if callable(activation):
        return Activation("custom", activation, derivative)
    raise InputTypeError(f"activation must be a string or a callable; got {type(activation).__name__}")


def _autograd_derivative(function: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """``phi'(z)`` elementwise by autograd (``phi`` elementwise, so grad of the sum is the derivative)."""
    with torch.enable_grad():
        inputs = z if z.requires_grad else z.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(function(inputs).sum(), inputs, create_graph=z.requires_grad)
    return gradient


def _apply_derivative(activation: Activation, z: torch.Tensor) -> torch.Tensor:
    if activation.derivative is not None:
        return activation.derivative(z)
    return _autograd_derivative(activation.function, z)


def hermite_rule(num_points: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilists' Gauss-Hermite nodes and weights for ``E[g(z)], z ~ N(0, 1)`` (weights sum to 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_points)
    weights = weights / math.sqrt(2 * math.pi)
    return torch.as_tensor(nodes, dtype=dtype), torch.as_tensor(weights, dtype=dtype)


def quadrature_expectations(activation: Activation, k11: torch.Tensor, k22: torch.Tensor, k12: torch.Tensor,
                            with_derivative: bool, num_points: int = DEFAULT_QUADRATURE_POINTS
                            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``E[phi(u) phi(v)]`` (and ``E[phi'(u) phi'(v)]``) by ``num_points^2``-node Gauss-Hermite quadrature.

    Shapes: ``k11, k22, k12`` broadcast to ``[*shape]``; returns tensors of that shape. Pairs are
    processed in chunks so at most ``2^24`` integrand values are held at once.
    """
    k11, k22, k12 = torch.broadcast_tensors(k11, k22, k12)
    shape = k12.shape
    nodes, weights = hermite_rule(num_points, k12.dtype)
    std1, std2 = k11.sqrt().reshape(-1), k22.sqrt().reshape(-1)
    # Zero variances (an underflowed layer) would give 0/0: the clamp makes the correlation 0 there.
    correlation = _clamp_correlation(k12.reshape(-1) / (std1 * std2).clamp_min(torch.finfo(k12.dtype).tiny))
    residual = torch.sqrt(1 - correlation**2)
    chunk = max(1, _QUADRATURE_CHUNK // num_points**2)
    values, derivatives = [], []
    outer = weights[:, None] * weights[None, :]  # [Q, Q] product weights
    for start in range(0, correlation.shape[0], chunk):
        part = slice(start, start + chunk)
        z1 = nodes[None, :, None]
        z2 = nodes[None, None, :]
        u = std1[part, None, None] * z1
        v = std2[part, None, None] * (correlation[part, None, None] * z1 + residual[part, None, None] * z2)
        u_full = u.expand_as(v)
        values.append((activation.function(u_full) * activation.function(v) * outer).sum((-1, -2)))
        if with_derivative:
            derivatives.append((_apply_derivative(activation, u_full) * _apply_derivative(activation, v)
                                * outer).sum((-1, -2)))
    value = torch.cat(values).reshape(shape)
    derivative = torch.cat(derivatives).reshape(shape) if with_derivative else None
    return value, derivative


def self_expectation(activation: Activation, variance: torch.Tensor, *,
                     quadrature_points: int = DEFAULT_QUADRATURE_POINTS, force_quadrature: bool = False
                     ) -> torch.Tensor:
    """``E[phi(u)^2]`` for ``u ~ N(0, variance)``: the closed form at ``c = 1`` or 1-D Gauss-Hermite."""
    if activation.diagonal_form is not None and not force_quadrature:
        return activation.diagonal_form(variance)[0]
    if activation.closed_form is not None and not force_quadrature:
        return activation.closed_form(variance, variance, variance, False)[0]
    nodes, weights = hermite_rule(quadrature_points, variance.dtype)
    values = activation.function(variance.sqrt().unsqueeze(-1) * nodes) ** 2
    return (values * weights).sum(-1)


def gaussian_expectations(activation: Activation, k11: torch.Tensor, k22: torch.Tensor, k12: torch.Tensor,
                          with_derivative: bool, *, quadrature_points: int = DEFAULT_QUADRATURE_POINTS,
                          force_quadrature: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Closed form when the activation has one (unless ``force_quadrature``), else quadrature."""
    if activation.closed_form is not None and not force_quadrature:
        return activation.closed_form(k11, k22, k12, with_derivative)
    return quadrature_expectations(activation, k11, k22, k12, with_derivative, quadrature_points)


def _needs_gradient(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(tensor.requires_grad for tensor in tensors)


def _uses_fused_relu(activation: Activation, force_quadrature: bool) -> bool:
    return activation.closed_form is _relu_closed_form and not force_quadrature


def _diagonal_recursion(k11: torch.Tensor, *, depth: int, activation: Activation, weight_variance: torch.Tensor,
                        bias_variance: torch.Tensor, with_ntk: bool, quadrature_points: int,
                        force_quadrature: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``k(x_i, x_i)`` through the layers: at ``c = 1`` the pair expectation is the 1-D ``E[phi(u)^2]``."""
    ntk = k11 if with_ntk else None
    for _ in range(depth):
        value = self_expectation(activation, k11, quadrature_points=quadrature_points,
                                 force_quadrature=force_quadrature)
        if with_ntk and activation.diagonal_form is not None and not force_quadrature:
            derivative = activation.diagonal_form(k11)[1]
        elif with_ntk:
            derivative = gaussian_expectations(activation, k11, k11, k11, True, quadrature_points=quadrature_points,
                                               force_quadrature=force_quadrature)[1]
        k11 = weight_variance * value + bias_variance
        if with_ntk:
            ntk = k11 + weight_variance * derivative * ntk
    return k11, ntk


def infinite_width_kernels(x1: torch.Tensor, x2: torch.Tensor, *, depth: int, activation: Activation,
                           weight_variance: torch.Tensor, bias_variance: torch.Tensor, diag: bool = False,
                           with_ntk: bool = False, quadrature_points: int = DEFAULT_QUADRATURE_POINTS,
                           force_quadrature: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """NNGP ``K^depth`` and (optionally) NTK ``Theta^depth`` between ``x1`` and ``x2``.

    Args:
        x1: ``[*batch, n1, d]``; x2: ``[*batch, n2, d]``.
        weight_variance, bias_variance: ``sigma_w^2``, ``sigma_b^2``, shape ``[*batch]`` (or scalar).
        diag: return only ``k(x1_i, x1_i)`` ``[*batch, n1]`` (``x2`` must equal ``x1``).

    Returns:
        ``(nngp, ntk)``, each ``[*batch, n1, n2]`` (``[*batch, n1]`` with ``diag``); ``ntk`` is
        ``None`` unless ``with_ntk``.

    The diagonals ``K^l(x, x)`` follow the 1-D recursion (``n1 + n2`` values per layer). ReLU kernel
    matrices that need no gradient take the fused, blocked, in-place path of
    :mod:`probnn.gp.fused_relu` (same values up to rounding); everything else the differentiable one.
    """
    num_features = x1.shape[-1]
    weight_variance = weight_variance[..., None, None]
    bias_variance = bias_variance[..., None, None]
    input_scale = weight_variance / num_features
    # Input Dense layer (weights scaled by 1/d, the fan-in): K^0 = sigma_w^2 x.x'/d + sigma_b^2.
    k11 = input_scale * (x1**2).sum(-1, keepdim=True) + bias_variance  # [*, n1, 1]
    options = {"quadrature_points": quadrature_points, "force_quadrature": force_quadrature}
    if diag:
        nngp, ntk = _diagonal_recursion(k11, depth=depth, activation=activation, weight_variance=weight_variance,
                                        bias_variance=bias_variance, with_ntk=with_ntk, **options)
        return nngp.squeeze(-1), ntk.squeeze(-1) if ntk is not None else None
    k22 = input_scale * (x2**2).sum(-1, keepdim=True).transpose(-1, -2) + bias_variance  # [*, 1, n2]
    if _uses_fused_relu(activation, force_quadrature) and not _needs_gradient(x1, x2, weight_variance,
                                                                               bias_variance):
        first_layer = torch.matmul(x1, x2.transpose(-1, -2))
        shape = torch.broadcast_shapes(first_layer.shape, input_scale.shape, bias_variance.shape)
        if first_layer.shape != shape:  # a batch of kernels on shared inputs
            first_layer = first_layer.expand(shape).clone()
        first_layer.mul_(input_scale).add_(bias_variance)
        rows = relu_diagonals(k11, weight_variance, bias_variance, depth)
        columns = relu_diagonals(k22, weight_variance, bias_variance, depth)
        nngp, ntk = relu_kernels_no_grad(first_layer, rows, columns, weight_variance, bias_variance, with_ntk)
        if x1 is x2 and nngp.shape[-1] == nngp.shape[-2]:
            diagonal_nngp, diagonal_ntk = _diagonal_recursion(k11, depth=depth, activation=activation,
                                                              weight_variance=weight_variance,
                                                              bias_variance=bias_variance, with_ntk=with_ntk,
                                                              **options)
            nngp.diagonal(dim1=-2, dim2=-1).copy_(diagonal_nngp.squeeze(-1))
            if ntk is not None:
                ntk.diagonal(dim1=-2, dim2=-1).copy_(diagonal_ntk.squeeze(-1))
        return nngp, ntk
    k12 = input_scale * (x1 @ x2.transpose(-1, -2)) + bias_variance
    k11_input = k11
    ntk = k12 if with_ntk else None
    for _ in range(depth):
        value, derivative = gaussian_expectations(activation, k11, k22, k12, with_ntk, **options)
        self11 = self_expectation(activation, k11, **options)
        self22 = self_expectation(activation, k22, **options)
        k12 = weight_variance * value + bias_variance
        if with_ntk:
            ntk = k12 + weight_variance * derivative * ntk
        k11 = weight_variance * self11 + bias_variance
        k22 = weight_variance * self22 + bias_variance
    if with_ntk and x1 is x2 and depth > 0 and activation.diagonal_form is not None and not force_quadrature:
        # k(x, x): the NTK's diagonal from the exact 1-D recursion. The pair form's (pi - arccos c) is
        # ill-conditioned at c = 1 (c clamped to 1 - 10 eps moves arccos c by sqrt(20 eps): 2e-8 relative
        # in float64, 6e-4 in float32), so the matrix recursion's diagonal is replaced (differentiably).
        diagonal_ntk = _diagonal_recursion(k11_input, depth=depth, activation=activation,
                                           weight_variance=weight_variance, bias_variance=bias_variance,
                                           with_ntk=True, **options)[1]
        eye = torch.eye(ntk.shape[-1], dtype=torch.bool, device=ntk.device)
        ntk = torch.where(eye, diagonal_ntk, ntk)
    return k12, ntk


class InfiniteWidthKernel(gpytorch.kernels.Kernel):
    """Base of :class:`~probnn.gp.nngp.NNGPKernel` and :class:`~probnn.gp.ntk.NTKKernel`.

    Hyperparameters ``weight_std`` and ``bias_std`` are learnable and kept positive by gpytorch's
    ``Positive`` (softplus) constraint; each has shape ``batch_shape`` (one network per batch entry).
    Subclasses choose which of the two recursions' outputs they return.
    """

    is_stationary = False
    #: ``"nngp"`` or ``"ntk"``: which kernel of the recursion this class returns.
    kind = "nngp"

    def __init__(self, depth: int = 2, activation: str | Callable[[torch.Tensor], torch.Tensor] = "relu",
                 weight_std: float = 1.0, bias_std: float = 0.1, *, batch_shape: torch.Size | tuple = (),
                 derivative: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 quadrature_points: int = DEFAULT_QUADRATURE_POINTS, **kwargs: Any) -> None:
        if not (isinstance(depth, int) and depth >= 0):
            raise InputError(f"depth (number of hidden layers) must be an int >= 0; got {depth!r}")
        for value, name in ((weight_std, "weight_std"), (bias_std, "bias_std")):
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise InputError(f"{name} must be a positive finite float; got {value!r} "
                                 "(a bias-free network is the limit bias_std -> 0; use e.g. 1e-6)")
        if not (isinstance(quadrature_points, int) and quadrature_points >= 2):
            raise InputError(f"quadrature_points must be an int >= 2; got {quadrature_points!r}")
        super().__init__(batch_shape=torch.Size(batch_shape), **kwargs)
        self.depth = depth
        self.activation_spec = activation
        self.activation = resolve_activation(activation, derivative)
        self.quadrature_points = quadrature_points
        self.force_quadrature = False
        for name in ("weight_std", "bias_std"):
            raw = torch.nn.Parameter(torch.zeros(self.batch_shape, dtype=torch.float64))
            self.register_parameter(f"raw_{name}", raw)
            self.register_constraint(f"raw_{name}", Positive())
        self.initialize(weight_std=torch.full(self.batch_shape, float(weight_std), dtype=torch.float64),
                        bias_std=torch.full(self.batch_shape, float(bias_std), dtype=torch.float64))

    @property
    def weight_std(self) -> torch.Tensor:
        return self.raw_weight_std_constraint.transform(self.raw_weight_std)

    @weight_std.setter
    def weight_std(self, value: torch.Tensor | float) -> None:
        self.initialize(weight_std=value)

    @property
    def bias_std(self) -> torch.Tensor:
        return self.raw_bias_std_constraint.transform(self.raw_bias_std)

    @bias_std.setter
    def bias_std(self, value: torch.Tensor | float) -> None:
        self.initialize(bias_std=value)

    def initialize(self, **kwargs: Any) -> InfiniteWidthKernel:
        for name in ("weight_std", "bias_std"):
            if name in kwargs:
                value = kwargs.pop(name)
                raw = getattr(self, f"raw_{name}")
                value = torch.as_tensor(value, dtype=raw.dtype).expand(raw.shape)
                constraint = getattr(self, f"raw_{name}_constraint")
                raw.data.copy_(constraint.inverse_transform(value))
        return super().initialize(**kwargs) if kwargs else self

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, last_dim_is_batch: bool = False,
                **params: Any) -> torch.Tensor:
        if last_dim_is_batch:
            raise InputError("last_dim_is_batch is not supported by infinite-width kernels")
        nngp, ntk = infinite_width_kernels(
            x1, x2, depth=self.depth, activation=self.activation, weight_variance=self.weight_std**2,
            bias_variance=self.bias_std**2, diag=diag, with_ntk=self.kind == "ntk",
            quadrature_points=self.quadrature_points, force_quadrature=self.force_quadrature)
        return ntk if self.kind == "ntk" else nngp

    # ------------------------------------------------------------------ persistence (kernel_config)
    def get_config(self) -> dict[str, Any]:
        if not isinstance(self.activation_spec, str):
            raise TypeError("a kernel with a custom (callable) activation cannot be saved; register it by name "
                            "in probnn.gp.infinite_width.ACTIVATIONS to make it saveable")
        return {"depth": self.depth, "activation": self.activation_spec, "batch_shape": list(self.batch_shape),
                "quadrature_points": self.quadrature_points}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InfiniteWidthKernel:
        return cls(depth=config["depth"], activation=config["activation"],
                   batch_shape=torch.Size(config["batch_shape"]), quadrature_points=config["quadrature_points"])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(depth={self.depth}, activation={self.activation.name!r}, "
                f"batch_shape={tuple(self.batch_shape)})")
