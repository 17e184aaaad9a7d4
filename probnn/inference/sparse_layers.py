"""Sparse mean-field Gaussian layers with local reparameterisation (Li et al., ICLR 2024).

Every weight ``w_j`` of a layer has a variational factor ``q(w_j) = N(mu_j, sigma_j^2)`` with
``sigma_j = softplus(rho_j)``, and a binary mask ``m_j`` shared by ``mu`` and ``rho``: an inactive
weight (``m_j = 0``) is exactly zero under ``q`` and stores ``mu_j = rho_j = 0``. Biases are dense
and always active (they are ``out`` numbers per layer, negligible next to the weights).

Local reparameterisation (Kingma, Salimans & Welling, 2015): for a linear layer with Gaussian
weights, the pre-activation of one input row is itself Gaussian,

    b = x W^T + c,   E[b] = x (m * mu)^T + mu_c,   Var[b] = x^2 (m * sigma^2)^T + sigma_c^2,

so the layer samples ``b = E[b] + sqrt(Var[b]) * eps`` with one ``eps ~ N(0, 1)`` per output unit
and row instead of one weight draw per row. A convolution is linear in its weights, so the same
holds with ``conv(x, m * mu)`` and ``conv(x^2, m * sigma^2)``.

Shapes: linear inputs ``[..., in_features]``; convolution inputs ``[batch, channels, height, width]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as functional
from torch import nn

#: Initial ``rho``: softplus(-5) = 0.0067, a small initial posterior standard deviation so the
#: network starts close to its mean (the common Bayes-by-backprop initialisation).
INITIAL_RHO = -5.0


class SparseVariationalLayer(nn.Module):
    """Common state of a sparse mean-field layer: ``weight_mu``, ``weight_rho``, ``mask``, biases.

    Subclasses implement :meth:`moments` (mean and variance of the pre-activations) and the FLOP
    count of one forward pass per example (:meth:`forward_flops`).
    """

    weight_mu: nn.Parameter
    weight_rho: nn.Parameter
    mask: torch.Tensor

    def _init_parameters(self, shape: tuple[int, ...], out_features: int, fan_in: int, density: float,
                         generator: torch.Generator, dtype: torch.dtype) -> None:
        # Kaiming-uniform style mean initialisation, bound 1/sqrt(fan_in) (PyTorch's default for
        # nn.Linear / nn.Conv2d), so pre-activations start at unit scale. (Scaling by the *active*
        # fan-in, 1/sqrt(density * fan_in), was tried on digits and made no difference.)
        bound = 1.0 / math.sqrt(fan_in)
        mu = (torch.rand(shape, generator=generator, dtype=dtype) * 2 - 1) * bound
        mask = random_mask(shape, density, generator=generator, dtype=dtype)
        self.weight_mu = nn.Parameter(mu * mask)
        self.weight_rho = nn.Parameter(torch.full(shape, INITIAL_RHO, dtype=dtype) * mask)
        self.register_buffer("mask", mask)
        bias = (torch.rand(out_features, generator=generator, dtype=dtype) * 2 - 1) * bound
        self.bias_mu = nn.Parameter(bias)
        self.bias_rho = nn.Parameter(torch.full((out_features,), INITIAL_RHO, dtype=dtype))
        #: the effective weight mean ``m * mu`` of the last forward pass (for gradient-based growth)
        self.last_weight_mean: torch.Tensor | None = None

    # ------------------------------------------------------------------ variational factors
    @property
    def weight_std(self) -> torch.Tensor:
        """``m * softplus(rho)``: exactly zero for inactive weights."""
        return functional.softplus(self.weight_rho) * self.mask

    @property
    def bias_std(self) -> torch.Tensor:
        return functional.softplus(self.bias_rho)

    @property
    def num_active(self) -> int:
        return int(self.mask.sum())

    @property
    def num_weights(self) -> int:
        return self.mask.numel()

    def kl_divergence(self, weight_prior_std: float, bias_prior_std: float, *,
                      weight_scale: float = 1.0) -> torch.Tensor:
        """Closed-form ``KL(q || p)`` over the active weights and the biases, against N(0, s^2).

        ``KL(N(mu, sigma^2) || N(0, s^2)) = log(s / sigma) + (sigma^2 + mu^2) / (2 s^2) - 1/2``;
        the sum over the active weights is multiplied by ``weight_scale`` (1: the paper's KL; see
        :meth:`SparseVariationalNetwork.kl_divergence` for the density-normalised one).
        """
        active = self.mask.bool()
        mu = self.weight_mu[active]
        sigma = functional.softplus(self.weight_rho[active])
        weights = _gaussian_kl(mu, sigma, weight_prior_std).sum()
        return weight_scale * weights + _gaussian_kl(self.bias_mu, self.bias_std, bias_prior_std).sum()

    def sample_weights(self, num_samples: int, *, generator: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint draws ``(W [S, *weight_shape], b [S, out])`` from ``q``; inactive entries are 0."""
        shape = (num_samples, *self.weight_mu.shape)
        noise = torch.randn(shape, generator=generator, dtype=self.weight_mu.dtype)
        weights = self.weight_mu * self.mask + self.weight_std * noise
        bias_noise = torch.randn((num_samples, *self.bias_mu.shape), generator=generator, dtype=self.bias_mu.dtype)
        return weights, self.bias_mu + self.bias_std * bias_noise

    # ------------------------------------------------------------------ forward
    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
        """One local-reparameterised draw of the pre-activations (fresh noise per row and unit)."""
        mean, variance = self.moments(x)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        # 1e-16: keeps sqrt differentiable where the variance underflows to 0 (e.g. all-zero inputs)
        return mean + (variance + 1e-16).sqrt() * noise

    def forward_flops(self, num_active: int | None = None) -> int:
        raise NotImplementedError


class SparseVariationalLinear(SparseVariationalLayer):
    """Sparse mean-field Gaussian linear layer ``[..., in_features] -> [..., out_features]``.

    Args:
        in_features, out_features: layer sizes; weights have shape ``[out_features, in_features]``.
        density: fraction of weights active at initialisation (a uniformly random mask with exactly
            ``round(density * numel)`` active entries, at least one).
        generator: seeds the initial means and mask.
    """

    def __init__(self, in_features: int, out_features: int, *, density: float, generator: torch.Generator,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self._init_parameters((out_features, in_features), out_features, in_features, density, generator, dtype)

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weight_mean = self.weight_mu * self.mask
        self.last_weight_mean = weight_mean
        mean = functional.linear(x, weight_mean, self.bias_mu)
        variance = functional.linear(x * x, self.weight_std**2, self.bias_std**2)
        return mean, variance

    def forward_with_weights(self, x: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x [S, n, in]`` with weight draws ``[S, out, in]``, ``[S, out]`` -> ``[S, n, out]``."""
        return torch.baddbmm(bias.unsqueeze(1), x, weights.transpose(1, 2))

    def forward_flops(self, num_active: int | None = None) -> int:
        """FLOPs of one local-reparameterised forward pass for one example.

        Two products with the active weights (mean and variance paths), a multiply-add each:
        ``2 * 2 * active``; per output unit: bias adds (2), ``sqrt`` and ``mean + sd * eps`` (3).
        """
        active = self.num_active if num_active is None else num_active
        return 4 * active + 5 * self.out_features

    def prediction_flops(self, num_active: int | None = None) -> int:
        """FLOPs for one example under one joint weight draw: ``2 * active + out`` (matmul + bias)."""
        active = self.num_active if num_active is None else num_active
        return 2 * active + self.out_features

    def weight_gradient_flops(self) -> int:
        """FLOPs of the dense weight gradient ``delta^T x`` per example (needed only for growth)."""
        return 2 * self.num_weights


class SparseVariationalConv2d(SparseVariationalLayer):
    """Sparse mean-field Gaussian 2-D convolution ``[B, C_in, H, W] -> [B, C_out, H', W']``.

    Weights ``[C_out, C_in, k, k]``; ``padding`` as in :func:`torch.nn.functional.conv2d`; stride 1.
    ``output_size`` (``H' * W'``) is fixed when the layer first sees an input and is used by the
    FLOP counts (each active kernel entry costs one multiply-add per output position).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, padding: int = 0,
                 density: float, generator: torch.Generator, dtype: torch.dtype = torch.float32,
                 input_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.padding = int(kernel_size), int(padding)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self._init_parameters(shape, out_channels, in_channels * kernel_size**2, density, generator, dtype)
        self.input_size = input_size

    @property
    def output_size(self) -> tuple[int, int]:
        if self.input_size is None:
            raise RuntimeError("the convolution's input size is unknown; pass input_size")
        height, width = self.input_size
        return (height + 2 * self.padding - self.kernel_size + 1, width + 2 * self.padding - self.kernel_size + 1)

    @property
    def out_features(self) -> int:
        height, width = self.output_size
        return self.out_channels * height * width

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weight_mean = self.weight_mu * self.mask
        self.last_weight_mean = weight_mean
        mean = functional.conv2d(x, weight_mean, self.bias_mu, padding=self.padding)
        variance = functional.conv2d(x * x, self.weight_std**2, self.bias_std**2, padding=self.padding)
        return mean, variance

    def forward_with_weights(self, x: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x [S, B, C, H, W]`` with draws ``[S, C_out, C_in, k, k]``, ``[S, C_out]`` (grouped conv)."""
        draws, batch = x.shape[:2]
        stacked = x.transpose(0, 1).reshape(batch, draws * self.in_channels, *x.shape[-2:])
        out = functional.conv2d(stacked, weights.reshape(-1, *weights.shape[2:]), bias.reshape(-1),
                                padding=self.padding, groups=draws)
        return out.reshape(batch, draws, self.out_channels, *out.shape[-2:]).transpose(0, 1)

    def forward_flops(self, num_active: int | None = None) -> int:
        """Per example: ``2 * 2 * active`` per output position (mean and variance convolutions),
        plus 5 per output element (bias adds, sqrt, sample)."""
        active = self.num_active if num_active is None else num_active
        height, width = self.output_size
        return 4 * active * height * width + 5 * self.out_features

    def prediction_flops(self, num_active: int | None = None) -> int:
        active = self.num_active if num_active is None else num_active
        height, width = self.output_size
        return 2 * active * height * width + self.out_features

    def weight_gradient_flops(self) -> int:
        height, width = self.output_size
        return 2 * self.num_weights * height * width


def random_mask(shape: tuple[int, ...], density: float, *, generator: torch.Generator,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A float mask of ``shape`` with exactly ``max(1, round(density * numel))`` ones, uniformly placed."""
    numel = math.prod(shape)
    count = max(1, round(density * numel))
    order = torch.randperm(numel, generator=generator)
    mask = torch.zeros(numel, dtype=dtype)
    mask[order[:count]] = 1.0
    return mask.reshape(shape)


def _gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor, prior_std: float) -> torch.Tensor:
    return math.log(prior_std) - sigma.log() + (sigma**2 + mu**2) / (2 * prior_std**2) - 0.5
