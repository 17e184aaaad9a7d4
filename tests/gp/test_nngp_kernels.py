"""NNGP / NTK kernels: closed forms vs independent 1-D adaptive integration (depths 1-5), quadrature
vs closed forms, Monte Carlo over wide finite networks, batch shapes, diag, gradients, save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from probnn.gp.kernel_config import kernel_from_config, kernel_to_config
from probnn.gp.nngp import NNGPKernel
from probnn.gp.ntk import NTKKernel

WEIGHT_STD, BIAS_STD = 1.4, 0.3


def _inputs() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, generator=generator, dtype=torch.float64)


def _conditional_expectations(activation: str, k11: float, k22: float, k12: float) -> tuple[float, float]:
    """Reference ``E[phi(u) phi(v)]`` and ``E[phi'(u) phi'(v)]`` by 1-D adaptive integration over ``u``,
    using ``v | u ~ N(m, s^2)`` and closed-form inner expectations (independent of the kernels' code)."""
    slope = k12 / k11
    s2 = max(k22 - k12**2 / k11, 0.0)
    s = math.sqrt(s2)
    density = stats.norm(0, math.sqrt(k11)).pdf

    if activation == "relu":
        def inner(u: float) -> float:  # E[relu(v) | u] (mean of a rectified normal)
            m = slope * u
            if s == 0:
                return max(m, 0.0)
            return m * stats.norm.cdf(m / s) + s * stats.norm.pdf(m / s)

        def inner_derivative(u: float) -> float:
            m = slope * u
            return float(m > 0) if s == 0 else stats.norm.cdf(m / s)

        value = integrate.quad(lambda u: u * inner(u) * density(u), 0, np.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
        derivative = integrate.quad(lambda u: inner_derivative(u) * density(u), 0, np.inf, epsabs=0,
                                    epsrel=1e-13, limit=200)[0]
        return value, derivative

    def inner_erf(u: float) -> float:  # E[erf(v) | u] = erf(m / sqrt(1 + 2 s^2))
        return special.erf(slope * u / math.sqrt(1 + 2 * s2))

    def inner_erf_derivative(u: float) -> float:  # E[2/sqrt(pi) exp(-v^2) | u]
        m = slope * u
        return 2 / math.sqrt(math.pi) * math.exp(-(m**2) / (1 + 2 * s2)) / math.sqrt(1 + 2 * s2)

    value = integrate.quad(lambda u: special.erf(u) * inner_erf(u) * density(u), -np.inf, np.inf, epsabs=0,
                           epsrel=1e-13, limit=200)[0]
    derivative = integrate.quad(lambda u: 2 / math.sqrt(math.pi) * math.exp(-(u**2)) * inner_erf_derivative(u)
                                * density(u), -np.inf, np.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
    return value, derivative


def _reference_kernels(x1: np.ndarray, x2: np.ndarray, depth: int, activation: str) -> tuple[float, float]:
    """Independent scalar implementation of the NNGP/NTK recursion for one pair of inputs."""
    w2, b2, d = WEIGHT_STD**2, BIAS_STD**2, len(x1)
    k11, k22, k12 = (w2 * x1 @ x1 / d + b2, w2 * x2 @ x2 / d + b2, w2 * x1 @ x2 / d + b2)
    ntk = k12
    for _ in range(depth):
        value, derivative = _conditional_expectations(activation, k11, k22, k12)
        self11 = _conditional_expectations(activation, k11, k11, k11 * (1 - 1e-15))[0]
        self22 = _conditional_expectations(activation, k22, k22, k22 * (1 - 1e-15))[0]
        k12 = w2 * value + b2
        ntk = k12 + w2 * derivative * ntk
        k11, k22 = w2 * self11 + b2, w2 * self22 + b2
    return k12, ntk


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_closed_forms_match_independent_integration(activation: str, depth: int) -> None:
    x = _inputs()
    nngp = NNGPKernel(depth, activation, WEIGHT_STD, BIAS_STD).double()(x).to_dense().detach()
    ntk = NTKKernel(depth, activation, WEIGHT_STD, BIAS_STD).double()(x).to_dense().detach()
    for i, j in [(0, 1), (2, 3), (1, 3)]:
        reference_nngp, reference_ntk = _reference_kernels(x[i].numpy(), x[j].numpy(), depth, activation)
        assert abs(float(nngp[i, j]) / reference_nngp - 1) <= 1e-5
        assert abs(float(ntk[i, j]) / reference_ntk - 1) <= 1e-5


@pytest.mark.parametrize("kernel_class", [NNGPKernel, NTKKernel])
def test_quadrature_matches_erf_closed_form(kernel_class: type) -> None:
    x = _inputs()
    kernel = kernel_class(3, "erf", WEIGHT_STD, BIAS_STD).double()
    closed = kernel(x).to_dense().detach()
    kernel.force_quadrature = True
    quadrature = kernel(x).to_dense().detach()
    # Default 96 nodes per axis: measured NNGP error 3e-6 at these variances (64 nodes: 1e-4); the NTK's
    # E[erf'(u)^2] integrates the narrower exp(-2 u^2) and reaches 6e-5 on the diagonal.
    tolerance = 2e-5 if kernel_class is NNGPKernel else 1e-4
    torch.testing.assert_close(quadrature, closed, rtol=tolerance, atol=0)


@pytest.mark.parametrize("kernel_class,tolerance", [(NNGPKernel, 5e-3), (NTKKernel, 3e-2)])
def test_quadrature_matches_relu_closed_form(kernel_class: type, tolerance: float) -> None:
    """ReLU's kink (and the step function in the NTK) make Gauss-Hermite converge only algebraically;
    with 200 nodes per axis the NNGP is within 0.5 % and the NTK within 3 % -- the reason ReLU uses
    its closed form."""
    x = _inputs()
    kernel = kernel_class(2, "relu", WEIGHT_STD, BIAS_STD, quadrature_points=200).double()
    closed = kernel(x).to_dense().detach()
    kernel.force_quadrature = True
    quadrature = kernel(x).to_dense().detach()
    torch.testing.assert_close(quadrature, closed, rtol=tolerance, atol=0)


def _finite_network_outputs(x: torch.Tensor, depth: int, activation, width: int, num_samples: int,
                            generator: torch.Generator) -> torch.Tensor:
    """Outputs ``[num_samples, n]`` of random finite networks in the neural-tangents convention."""
    h = x.expand(num_samples, *x.shape)
    fan_in = x.shape[-1]
    for _ in range(depth):
        weight = torch.randn(num_samples, fan_in, width, generator=generator, dtype=x.dtype) * WEIGHT_STD
        bias = torch.randn(num_samples, 1, width, generator=generator, dtype=x.dtype) * BIAS_STD
        h = activation(h @ weight / math.sqrt(fan_in) + bias)
        fan_in = width
    weight = torch.randn(num_samples, fan_in, 1, generator=generator, dtype=x.dtype) * WEIGHT_STD
    bias = torch.randn(num_samples, 1, 1, generator=generator, dtype=x.dtype) * BIAS_STD
    return (h @ weight / math.sqrt(fan_in) + bias)[..., 0]


@pytest.mark.parametrize("activation,function", [
    ("relu", torch.relu),
    pytest.param("erf", torch.erf, marks=pytest.mark.slow),
    pytest.param("tanh", torch.tanh, marks=pytest.mark.slow),
    pytest.param("gelu", torch.nn.functional.gelu, marks=pytest.mark.slow)])
def test_wide_network_covariance_matches_nngp(activation: str, function) -> None:
    generator = torch.Generator().manual_seed(1)
    x = _inputs()[:3]
    outputs = torch.cat([_finite_network_outputs(x, depth=2, activation=function, width=256, num_samples=250,
                                                 generator=generator) for _ in range(8)])
    kernel = NNGPKernel(2, activation, WEIGHT_STD, BIAS_STD).double()(x).to_dense().detach()
    products = outputs[:, :, None] * outputs[:, None, :]
    estimate = products.mean(0)
    standard_error = products.std(0) / math.sqrt(outputs.shape[0])
    # 4.5 standard errors over 9 entries (6 distinct): a false alarm rate < 1e-4; the O(1/width)
    # finite-width bias (~0.4 %) is far below one standard error (~3 %).
    assert bool(((estimate - kernel).abs() <= 4.5 * standard_error).all()), (estimate, kernel)


def test_custom_callable_activation_matches_named() -> None:
    x = _inputs()
    named = NNGPKernel(2, "tanh").double()(x).to_dense()
    custom = NTKKernel(2, lambda z: torch.tanh(z)).double()
    reference = NTKKernel(2, "tanh").double()
    torch.testing.assert_close(custom(x).to_dense(), reference(x).to_dense(), rtol=1e-10, atol=0)
    assert named.shape == (4, 4)


@pytest.mark.parametrize("kernel_class", [NNGPKernel, NTKKernel])
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_diag_batch_and_gradients(kernel_class: type, activation: str) -> None:
    x = _inputs()
    kernel = kernel_class(2, activation, batch_shape=(2,)).double()
    kernel.initialize(weight_std=torch.tensor([1.0, 2.0]), bias_std=torch.tensor([0.1, 0.5]))
    batched = x.expand(2, *x.shape)
    full = kernel(batched).to_dense()
    assert full.shape == (2, 4, 4)
    torch.testing.assert_close(kernel(batched, diag=True), full.diagonal(dim1=-2, dim2=-1), rtol=1e-8, atol=1e-12)
    single = kernel_class(2, activation, weight_std=2.0, bias_std=0.5).double()
    torch.testing.assert_close(single(x).to_dense(), full[1], rtol=1e-10, atol=1e-12)
    eigenvalues = torch.linalg.eigvalsh(full.detach())
    assert bool((eigenvalues > -1e-10).all())
    full.sum().backward()
    for gradient in (kernel.raw_weight_std.grad, kernel.raw_bias_std.grad):
        assert gradient is not None and bool(torch.isfinite(gradient).all()) and bool((gradient != 0).all())


def test_depth_zero_is_linear_kernel() -> None:
    x = _inputs()
    kernel = NNGPKernel(0, "relu", WEIGHT_STD, BIAS_STD).double()
    torch.testing.assert_close(kernel(x).to_dense(), WEIGHT_STD**2 * x @ x.T / 3 + BIAS_STD**2)


@pytest.mark.parametrize("kernel_class", [NNGPKernel, NTKKernel])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_vanishing_weight_and_bias_std_give_a_finite_zero_kernel(kernel_class: type, activation: str) -> None:
    # Type-II ML can drive weight_std and bias_std towards 0 (a Student-t process that explains the data
    # by noise) until softplus underflows them to exactly 0, as a Student-t process fit on 8 Branin
    # points did; the layer variances are then exactly 0 and 0/0 must not turn into NaN.
    x = _inputs()
    kernel = kernel_class(3, activation, 1.0, 1.0).double()
    with torch.no_grad():
        kernel.raw_weight_std.fill_(-3000.0)
        kernel.raw_bias_std.fill_(-3000.0)
    assert float(kernel.weight_std) == 0.0 and float(kernel.bias_std) == 0.0
    with torch.no_grad():  # the fused ReLU path (no gradient) as well as the differentiable one
        no_grad_matrix = kernel(x).to_dense()
    matrix = kernel(x).to_dense()
    for result in (matrix, no_grad_matrix):
        assert bool(torch.isfinite(result).all())
        assert float(result.abs().max()) < 1e-100
    assert bool(torch.isfinite(kernel(x, diag=True)).all())


@pytest.mark.parametrize("kernel_class", [NNGPKernel, NTKKernel])
def test_kernel_config_round_trip(kernel_class: type) -> None:
    kernel = kernel_class(3, "erf", 1.7, 0.2).double()
    rebuilt = kernel_from_config(kernel_to_config(kernel)).double()
    rebuilt.load_state_dict(kernel.state_dict())
    x = _inputs()
    torch.testing.assert_close(rebuilt(x).to_dense(), kernel(x).to_dense())
    with pytest.raises(TypeError, match="custom"):
        kernel_to_config(kernel_class(1, lambda z: z**3))


def test_bad_arguments() -> None:
    from probnn.errors import InputError

    with pytest.raises(InputError, match="depth"):
        NNGPKernel(-1)
    with pytest.raises(InputError, match="activation"):
        NNGPKernel(2, "swishy")
    with pytest.raises(InputError, match="bias_std"):
        NNGPKernel(2, "relu", 1.0, 0.0)


@pytest.mark.parametrize("kernel_class", [NNGPKernel, NTKKernel])
@pytest.mark.parametrize("batch_shape", [(), (2,)])
@pytest.mark.parametrize("workers", [1, 3])
def test_fused_no_grad_relu_path_matches_differentiable_path(kernel_class: type, batch_shape: tuple, workers: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiled in-place ReLU recursion (used without gradients) equals the autograd path, for square and
    rectangular matrices, across tile boundaries in rows and columns, with a batch of kernels, computed in
    the calling thread or by 3 worker threads sharing the tiles."""
    import probnn.gp.fused_relu as fused_relu

    # Tiles of at most 3 entries: 1 x 3 rows x columns (5 columns: tiles of 3 and 2), 1 x 1 when batched.
    monkeypatch.setattr(fused_relu, "_TILE_ENTRIES", 4)
    monkeypatch.setattr(fused_relu, "_PARALLEL_MIN_ENTRIES", 0)
    monkeypatch.setattr(fused_relu, "_num_workers", lambda: workers)
    generator = torch.Generator().manual_seed(3)
    x1 = torch.randn(7, 3, generator=generator, dtype=torch.float64)
    x2 = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    kernel = kernel_class(3, "relu", WEIGHT_STD, BIAS_STD, batch_shape=batch_shape).double()
    if batch_shape:
        kernel.initialize(weight_std=torch.tensor([1.0, 2.0]), bias_std=torch.tensor([0.1, 0.5]))
    for a, b in ((x1, x2), (x2, x2)):
        differentiable = kernel(a, b).to_dense()
        assert differentiable.requires_grad
        with torch.no_grad():
            fused = kernel(a, b).to_dense()
        torch.testing.assert_close(fused, differentiable.detach(), rtol=1e-12, atol=0)


def test_fused_relu_ntk_float32_diagonal_is_accurate() -> None:
    """In float32 the NTK step term (pi - arccos c) / (2 pi) is ill-conditioned at c = 1 (rounding c by eps
    moves arccos c by sqrt(2 eps) ~ 5e-4): the diagonal must come from the 1-D recursion (float64 reference)."""
    x = torch.randn(50, 10, generator=torch.Generator().manual_seed(0))
    reference = NTKKernel(3, "relu", 1.0, 0.5).double()(x.double()).to_dense().detach()
    kernel = NTKKernel(3, "relu", 1.0, 0.5).float()
    with torch.no_grad():
        fused = kernel(x).to_dense().double()
    differentiable = kernel(x).to_dense().detach().double()
    for matrix in (fused, differentiable):
        torch.testing.assert_close(matrix, reference, rtol=2e-6, atol=0)
