"""HierarchicalWeightPrior: per-layer Gamma weight and bias precisions (Tran et al., 2022, hierarchical family)."""

import math

import gpytorch
import pytest
import torch
from prior_helpers import sliced_distance

import probnn
from probnn.errors import InputError
from probnn.models.bnn import BNN
from probnn.priors import GridMeasurementSet, HierarchicalWeightPrior, fit_functional_prior
from probnn.priors.functional import learnable_copy

SHAPES = [(2, 3), (3, 4), (4, 1)]
# Distinct values per layer, so that a mix-up between layers or between weights and biases shows.
WEIGHT_SHAPE, WEIGHT_RATE = [3.0, 4.5, 6.0], [2.0, 5.0, 1.5]
BIAS_SHAPE, BIAS_RATE = [3.5, 5.0, 4.0], [0.5, 3.0, 8.0]


def _prior(**options) -> HierarchicalWeightPrior:
    return HierarchicalWeightPrior(WEIGHT_SHAPE, WEIGHT_RATE, BIAS_SHAPE, BIAS_RATE, **options)


def _quadrature_log_prob(value: torch.Tensor, shape: float, rate: float, scaling: int) -> float:
    """``log int Gamma(lam; shape, rate) N(value; 0, 1/(lam scaling)) d lam`` by the trapezoidal rule."""
    grid = torch.linspace(1e-5, 80.0, 400001, dtype=torch.float64)
    log_gamma = torch.distributions.Gamma(torch.tensor(shape, dtype=torch.float64), rate).log_prob(grid)
    std = torch.rsqrt(grid * scaling).reshape(-1, *([1] * value.dim()))
    log_normal = torch.distributions.Normal(0.0, std).log_prob(value.double()).flatten(1).sum(1)
    return float(torch.trapezoid((log_gamma + log_normal).exp(), grid).log())


def test_log_prob_is_the_per_layer_gamma_mixture_of_weights_and_biases():
    prior = _prior()
    layers = prior.sample(SHAPES, 2, generator=0)
    for draw in range(2):
        expected = 0.0
        for (weight, bias), (fan_in, _), a_w, b_w, a_b, b_b in zip(layers, SHAPES, WEIGHT_SHAPE, WEIGHT_RATE,
                                                                   BIAS_SHAPE, BIAS_RATE, strict=True):
            expected += _quadrature_log_prob(weight[draw], a_w, b_w, fan_in)
            expected += _quadrature_log_prob(bias[draw], a_b, b_b, 1)
        assert float(prior.log_prob(layers)[draw]) == pytest.approx(expected, abs=1e-3)


def test_log_prob_matches_monte_carlo_over_the_precisions():
    """``log p(b) = log E_nu N(b; 0, 1/nu)``: a 200 000-draw Monte Carlo average agrees within 5 s.e."""
    prior = HierarchicalWeightPrior(2.0, 1.0, 4.0, 3.0)
    bias = prior.sample([(1, 5)], 1, generator=1)[0][1][0].double()
    nu = torch.distributions.Gamma(torch.tensor(4.0, dtype=torch.float64), 3.0).sample((200000,))
    likelihood = torch.distributions.Normal(0.0, torch.rsqrt(nu)[:, None]).log_prob(bias).sum(1).exp()
    estimate, error = likelihood.mean(), likelihood.std() / math.sqrt(likelihood.numel())
    from probnn.priors.weight import _gamma_scale_mixture_log_prob

    closed = _gamma_scale_mixture_log_prob(bias, torch.tensor(4.0, dtype=torch.float64),
                                           torch.tensor(3.0, dtype=torch.float64), dims=1).exp()
    assert abs(float(closed - estimate)) < 5 * float(error)


def test_draws_have_the_marginal_second_moments_per_layer():
    """``E[W^2] = rate / ((shape - 1) fan_in)`` and ``E[b^2] = rate / (shape - 1)``, each draw its own precision."""
    prior = _prior()
    count = 20000
    layers = prior.sample(SHAPES, count, generator=2)
    for (weight, bias), (fan_in, _), a_w, b_w, a_b, b_b in zip(layers, SHAPES, WEIGHT_SHAPE, WEIGHT_RATE,
                                                               BIAS_SHAPE, BIAS_RATE, strict=True):
        for per_draw, expected in ((weight.square().flatten(1).mean(1), b_w / ((a_w - 1) * fan_in)),
                                   (bias.square().mean(1), b_b / (a_b - 1))):
            error = per_draw.std() / math.sqrt(count)  # the draws are independent across the batch
            assert abs(float(per_draw.mean()) - expected) < 5 * float(error)
    # One precision per function draw, not per batch: the per-draw scale varies across the batch.
    scales = layers[0][1].square().mean(1)
    assert float(scales.std() / scales.mean()) > 0.3


def test_learnable_draws_reach_every_per_layer_hyperparameter():
    prior = _prior(learnable=True)
    assert len(list(prior.parameters())) == 4 and all(p.shape == (3,) for p in prior.parameters())
    layers = prior.sample(SHAPES, 8, generator=3)
    sum(w.square().sum() + b.square().sum() for w, b in layers).backward()
    for name, parameter in prior.named_parameters():
        assert parameter.grad is not None and bool((parameter.grad != 0).all()), name


def test_arguments_are_validated():
    with pytest.raises(InputError, match="num_layers"):
        HierarchicalWeightPrior(learnable=True)
    with pytest.raises(InputError, match="not both"):
        HierarchicalWeightPrior(bias_std=1.0, bias_precision_shape=2.0)
    with pytest.raises(InputError, match="different numbers of layers"):
        HierarchicalWeightPrior([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="precision_rate must be positive"):
        HierarchicalWeightPrior(1.0, -1.0)
    with pytest.raises(InputError, match="3 layers"):
        _prior().sample([(1, 2), (2, 1)], 1)


def test_bias_std_gives_fixed_gaussian_biases():
    prior = HierarchicalWeightPrior(3.0, 2.0, bias_std=0.7)
    layers = prior.sample([(2, 3), (3, 1)], 4, generator=4)
    gaussian = sum(torch.distributions.Normal(0.0, 0.7).log_prob(b).sum(-1) for _, b in layers)
    from probnn.priors.weight import _gamma_scale_mixture_log_prob

    mixture = sum(_gamma_scale_mixture_log_prob(w, torch.tensor(3.0), torch.tensor(2.0)) for w, _ in layers)
    torch.testing.assert_close(prior.log_prob(layers), gaussian + mixture)


def test_save_load_round_trip_and_the_earlier_scalar_state(tmp_path):
    x = torch.linspace(-1, 1, 7)[:, None].repeat(1, 2)
    priors = (_prior(learnable=True), HierarchicalWeightPrior(2.0, 3.0), HierarchicalWeightPrior(2.0, bias_std=0.5))
    for prior in priors:
        model = BNN(2, hidden=(3, 4), prior=prior)
        loaded = probnn.load(model.save(tmp_path / f"bnn{id(prior)}"))
        assert type(loaded.prior) is HierarchicalWeightPrior
        assert loaded.prior.hyperparameters() == prior.hyperparameters()
        assert loaded.prior.learnable == prior.learnable
        assert torch.equal(loaded.sample_prior_functions(x, 3, generator=5),
                           model.sample_prior_functions(x, 3, generator=5))
    # The state written before per-layer hyperparameters: one shared (shape, rate), fixed bias std.
    old = HierarchicalWeightPrior.from_state({"bias_std": 0.8, "learnable": True},
                                             {"log_shape": torch.tensor(math.log(2.0)),
                                              "log_rate": torch.tensor(math.log(3.0))})
    same = HierarchicalWeightPrior(2.0, 3.0, bias_std=0.8)
    for name, value in same.hyperparameters().items():
        assert old.hyperparameters()[name] == pytest.approx(value)
    layers = same.sample(SHAPES, 3, generator=6)
    torch.testing.assert_close(old.log_prob(layers), same.log_prob(layers))


def test_numpyro_and_pyro_priors_agree_in_distribution_with_torch_draws():
    """Per-draw mean squares of every block: two-sample KS tests (Bonferroni over 12 tests at 1e-3)."""
    import jax
    import pyro
    from numpyro.infer import Predictive
    from scipy.stats import ks_2samp

    prior = _prior()
    count = 3000
    torch_layers = prior.sample(SHAPES, count, generator=7)
    sites = Predictive(lambda: prior.numpyro_sample(SHAPES), num_samples=count)(jax.random.PRNGKey(0))
    assert {"precision0", "bias_precision2", "w1_base", "b0_base"} <= set(sites)
    pyro.set_rng_seed(0)
    pyro_layers = [prior.pyro_sample(SHAPES) for _ in range(1000)]  # one draw per call: a Python loop
    for index, (weight, bias) in enumerate(torch_layers):
        for name, values in ((f"w{index}", weight), (f"b{index}", bias)):
            reference = values.square().flatten(1).mean(1).numpy()
            numpyro_values = torch.as_tensor(jax.device_get(sites[name])).square().flatten(1).mean(1).numpy()
            position = 0 if name.startswith("w") else 1
            pyro_values = torch.stack([draw[index][position] for draw in pyro_layers]).square().flatten(1).mean(1)
            assert numpyro_values.shape == reference.shape
            assert ks_2samp(reference, numpyro_values).pvalue > 1e-3 / 12, name
            assert ks_2samp(reference, pyro_values.numpy()).pvalue > 1e-3 / 12, name


def _target() -> probnn.models.GP:
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
    kernel.base_kernel.lengthscale = 0.6
    kernel.outputscale = 1.0
    return probnn.models.GP(kernel, noise=0.1, mean="zero")


def test_functional_fit_moves_every_hyperparameter_and_reduces_the_distance():
    grid = GridMeasurementSet(-3.0, 3.0, 25)
    bnn = BNN(1, hidden=(20,), prior=HierarchicalWeightPrior(3.0, 3.0, 3.0, 3.0))  # the notebook's start
    target = _target()
    fit = fit_functional_prior(bnn, target, measurement_set=grid, num_function_samples=64, num_steps=60,
                               distance="sliced_wasserstein", generator=0, progress=False)
    start = learnable_copy(bnn.prior, 2)
    assert isinstance(fit.prior, HierarchicalWeightPrior) and fit.prior.learnable and fit.prior.num_layers == 2
    assert not bnn.prior.learnable
    for name, value in start.named_parameters():
        assert bool((getattr(fit.prior, name) != value).all()), name
    x = grid.sample()


    before, after = sliced_distance(bnn, target, x, start), sliced_distance(bnn, target, x, fit.prior)
    assert after < 0.7 * before, (before, after)


def test_precision_draws_follow_the_gamma_and_keep_finite_gradients_at_small_shapes():
    """Log-space boosted draws: Gamma-distributed (KS test), and no NaN gradient where a plain draw underflows."""
    from scipy.stats import gamma, kstest

    from probnn.priors.weight import _rsample_log_gamma

    for shape in (0.05, 0.7, 4.0):
        concentration = torch.tensor(shape, requires_grad=True)
        rate = torch.tensor(2.5, requires_grad=True)
        log_precision = _rsample_log_gamma(concentration, rate, 5000, torch.Generator().manual_seed(8))
        draws = log_precision.detach().exp().numpy()
        assert kstest(draws, gamma(shape, scale=1 / 2.5).cdf).pvalue > 1e-4
        log_precision.sum().backward()
        assert math.isfinite(float(concentration.grad)) and math.isfinite(float(rate.grad))
    prior = HierarchicalWeightPrior(0.05, 50.0, num_layers=2, learnable=True)  # many precisions below 1e-38
    layers = prior.sample([(1, 8), (8, 1)], 256, generator=9)
    assert all(bool(torch.isfinite(w).all() and torch.isfinite(b).all()) for w, b in layers)
    sum(torch.tanh(w).sum() + b.sum() for w, b in layers).backward()
    assert all(bool(torch.isfinite(parameter.grad).all()) for parameter in prior.parameters())
