"""local_basis_prior: the structured start of a per-parameter flow prior for 1-D tanh BNNs."""

import math
import warnings

import gpytorch
import pytest
import torch
from prior_helpers import sliced_distance

import probnn
from probnn.errors import InputError
from probnn.models.bnn import BNN
from probnn.priors import (
    FlowWeightPrior,
    GaussianWeightPrior,
    GridMeasurementSet,
    fit_functional_prior,
    local_basis_prior,
)

HIDDEN = (20, 20, 20)


def _bnn(prior=None) -> BNN:
    return BNN(1, hidden=HIDDEN, activation="tanh", prior=prior)


def _mean_features(prior: FlowWeightPrior, x: torch.Tensor) -> torch.Tensor:
    """Last hidden layer of the network at the prior's means (the flow's shifts), ``[n, H_L]``."""
    h = x.double()
    for flow, (fan_in, fan_out) in zip(prior.flows[:-1], prior.layer_shapes[:-1], strict=True):
        shift = flow.shift.detach().double()
        weight = shift[: fan_in * fan_out].reshape(fan_in, fan_out) / math.sqrt(fan_in)
        h = torch.tanh(h @ weight + shift[fan_in * fan_out:])
    return h


def test_function_covariance_is_the_bump_kernel():
    # Without jitter and with negligible stds the functions are sum_k v_k phi_k(x), v_k ~ N(0, output_std^2):
    # a Gaussian process with kernel output_std^2 sum_k phi_k(x) phi_k(x'), phi the mean network's features.
    output_std = 0.7
    prior = local_basis_prior(_bnn(), -3.0, 3.0, bump_width=2, jitter=1e-6, base_std=1e-6, output_std=output_std)
    x = torch.linspace(-3, 3, 13)[:, None]
    features = _mean_features(prior, x)
    kernel = output_std**2 * features @ features.T
    count = 20000
    functions = _bnn(prior).sample_prior_functions(x, count, generator=0)[..., 0].detach().double()
    assert functions.mean(0).abs().max() < 5 * (kernel.diagonal().sqrt().max() / math.sqrt(count))
    empirical = torch.cov(functions.T)
    # MC standard error of a covariance entry of a Gaussian vector: sqrt((K_ii K_jj + K_ij^2) / n).
    error = ((kernel.diagonal()[:, None] * kernel.diagonal()[None, :] + kernel**2) / count).sqrt()
    assert bool(((empirical - kernel).abs() <= 5 * error + 1e-9).all())
    # The kernel is local: inputs 3.5 apart (bumps span 2 steps of 0.39 plus their tanh tails) are independent.
    far = (x - x.T).abs() >= 3.5
    assert float(kernel[far].abs().max()) < 0.01 * float(kernel.diagonal().min())


def test_default_prior_is_stationary_and_short_range_where_the_gaussian_prior_is_not():
    x = torch.linspace(-3, 3, 61)[:, None]
    count = 4000

    def statistics(prior):
        functions = _bnn(prior).sample_prior_functions(x, count, generator=1)[..., 0].detach().double()
        std = functions.std(0)
        correlation = torch.corrcoef(functions.T)[10, 50]  # x = -2 and x = 2: lag 4
        return float(std[5:-5].max() / std[5:-5].min()), float(correlation)

    ratio, correlation = statistics(local_basis_prior(_bnn(), -3.0, 3.0))
    assert ratio < 1.3
    assert abs(correlation) < 4 / math.sqrt(count)  # 4 standard errors of a zero correlation
    _, gaussian_correlation = statistics(GaussianWeightPrior())
    assert gaussian_correlation > 0.5  # the fixed N(0, 1) prior: nearly constant functions


def test_fit_from_a_local_basis_start_moves_towards_the_target():
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
    kernel.base_kernel.lengthscale = 0.6
    kernel.outputscale = 1.0
    target = probnn.models.GP(kernel, noise=0.1, mean="zero")
    grid = GridMeasurementSet(-3.0, 3.0, 25)
    start = local_basis_prior(_bnn(), -3.0, 3.0, bump_width=8, output_std=0.3)  # too wide and too small
    bnn = _bnn(start)
    fit = fit_functional_prior(bnn, target, measurement_set=grid, num_function_samples=64, num_steps=60,
                               distance="sliced_wasserstein", optimizer="adam", learning_rate=0.02, generator=0,
                               progress=False)
    assert isinstance(fit.prior, FlowWeightPrior) and fit.prior.num_couplings == 0
    x = grid.sample()


    assert sliced_distance(bnn, target, x, fit.prior) < 0.7 * sliced_distance(bnn, target, x, start)


def test_sampling_reproduces_and_the_prior_round_trips(tmp_path):
    prior = local_basis_prior(_bnn(), -2.0, 5.0, bump_width=3)
    x = torch.linspace(-2, 5, 9)[:, None]
    model = _bnn(prior)
    assert torch.equal(model.sample_prior_functions(x, 5, generator=7), model.sample_prior_functions(x, 5, generator=7))
    model.save(tmp_path / "bnn")
    assert torch.equal(probnn.load(tmp_path / "bnn").sample_prior_functions(x, 5, generator=7),
                       model.sample_prior_functions(x, 5, generator=7))


@pytest.mark.parametrize(("bnn", "kwargs", "message"), [
    (BNN(2, hidden=HIDDEN), {}, "one input"),
    (BNN(1, hidden=HIDDEN, activation="relu"), {}, "activation"),
    (BNN(1, hidden=(20,)), {}, "two hidden layers"),
    (_bnn(), {"low": 1.0, "high": 1.0}, "low must be below high"),
    (_bnn(), {"low": float("nan")}, "low must be a finite"),
    (_bnn(), {"bump_width": 20}, "bump_width"),
    (_bnn(), {"bump_width": 0}, "bump_width"),
    (_bnn(), {"steepness": -1.0}, "steepness"),
    (_bnn(), {"jitter": float("inf")}, "jitter"),
    (_bnn(), {"margin": -0.1}, "margin"),
    ("not a bnn", {}, "bnn must be a probnn BNN"),
])
def test_bad_arguments_are_named(bnn, kwargs, message):
    arguments = {"low": -1.0, "high": 1.0, **kwargs}
    with pytest.raises(InputError, match=message):
        local_basis_prior(bnn, arguments.pop("low"), arguments.pop("high"), **arguments)


@pytest.mark.parametrize(("method", "options"), [
    ("nuts", {"num_warmup": 100, "num_samples": 50, "num_chains": 1}),
    ("hmc", {"num_warmup": 100, "num_samples": 50, "num_chains": 1}),
    ("svi", {"num_steps": 3000}),
    ("sghmc", {"num_burnin": 3000, "num_samples": 20, "thinning": 5, "num_chains": 2}),
])
def test_every_backend_fits_a_bnn_with_the_prior(method, options):
    # The flow prior's log density enters numpyro as a factor site; every backend must sample with it and
    # predict. Data: sin(2x) with noise 0.1 (std ~0.7); the posterior mean must follow it.
    generator = torch.Generator().manual_seed(0)
    x = torch.linspace(-3, 3, 20)[:, None]
    y = torch.sin(2 * x[:, 0]) + 0.1 * torch.randn(20, generator=generator)
    prior = local_basis_prior(BNN(1, hidden=(10, 10), activation="tanh"), -3.0, 3.0)
    model = BNN(1, hidden=(10, 10), activation="tanh", prior=prior, noise=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: convergence warnings are expected here
        posterior = probnn.fit(model, x, y, method=method, generator=0, progress=False, **options)
    predictive = posterior.predict(x)
    assert bool(torch.isfinite(predictive.mean).all() and torch.isfinite(predictive.variance).all())
    rmse = float((predictive.mean.reshape(-1) - y).pow(2).mean().sqrt())
    assert rmse < 0.5 * float(y.std())
