"""Weight priors and the BNN model: NT scaling, closed-form log densities, reparameterisation, save/load."""

from __future__ import annotations

import math

import pytest
import torch

import probnn
from probnn.errors import InputError
from probnn.models import BNN
from probnn.priors import GaussianWeightPrior, HierarchicalWeightPrior, ScaleMixtureLastLayerPrior

SHAPES = [(3, 40), (40, 1)]


def test_gaussian_prior_has_nt_variances() -> None:
    prior = GaussianWeightPrior(weight_std=[1.5, 0.5], bias_std=[0.2, 2.0])
    layers = prior.sample(SHAPES, 4000, generator=0)
    for (weight, bias), (fan_in, _), sw, sb in zip(layers, SHAPES, [1.5, 0.5], [0.2, 2.0], strict=True):
        expected = sw**2 / fan_in
        count = weight.numel()
        # the sample variance of n Gaussian draws has relative s.e. sqrt(2 / n); 5 s.e. tolerance
        assert abs(weight.var().item() / expected - 1) < 5 * math.sqrt(2 / count)
        assert abs(bias.var().item() / sb**2 - 1) < 5 * math.sqrt(2 / bias.numel())


def test_gaussian_log_prob_matches_torch_normal() -> None:
    prior = GaussianWeightPrior(weight_std=2.0, bias_std=0.5)
    layers = prior.sample(SHAPES, 3, generator=1)
    expected = sum(torch.distributions.Normal(0, 2.0 / math.sqrt(w.shape[-2])).log_prob(w).sum((-1, -2))
                   + torch.distributions.Normal(0, 0.5).log_prob(b).sum(-1) for w, b in layers)
    torch.testing.assert_close(prior.log_prob(layers), expected)


def test_learnable_prior_draws_are_differentiable() -> None:
    prior = GaussianWeightPrior(num_layers=2, learnable=True)
    layers = prior.sample(SHAPES, 5, generator=0)
    sum(w.square().sum() for w, _ in layers).backward()
    assert prior.log_weight_std.grad is not None and bool((prior.log_weight_std.grad != 0).all())
    hierarchical = HierarchicalWeightPrior(num_layers=2, learnable=True)
    sum(w.square().sum() + b.square().sum() for w, b in hierarchical.sample(SHAPES, 5, generator=0)).backward()
    for name in ("log_weight_shape", "log_weight_rate", "log_bias_shape", "log_bias_rate"):
        gradient = getattr(hierarchical, name).grad
        assert gradient is not None and bool((gradient != 0).all()), name


@pytest.mark.parametrize("prior", [HierarchicalWeightPrior(2.0, 3.0), ScaleMixtureLastLayerPrior(1.0, 1.0, 2.5, 1.5)])
def test_gamma_mixture_log_prob_matches_quadrature(prior) -> None:
    """The closed-form marginal over the precision equals 1-D numerical integration."""
    layers = prior.sample([(2, 3), (3, 1)], 2, generator=3)
    if isinstance(prior, HierarchicalWeightPrior):
        shape, rate = prior.log_weight_shape[-1].exp().double(), prior.log_weight_rate[-1].exp().double()
    else:
        shape, rate = prior.log_shape.exp().double(), prior.log_rate.exp().double()
    weight = layers[-1][0][0].double()
    grid = torch.linspace(1e-4, 60, 400001, dtype=torch.float64)
    log_gamma = torch.distributions.Gamma(shape, rate).log_prob(grid)
    log_normal = torch.distributions.Normal(0, torch.rsqrt(grid * weight.shape[0])[:, None, None]).log_prob(weight)
    integrand = (log_gamma + log_normal.sum((-1, -2))).exp()
    numeric = torch.trapezoid(integrand, grid).log()
    from probnn.priors.weight import _gamma_scale_mixture_log_prob

    closed = _gamma_scale_mixture_log_prob(weight, shape, rate)
    assert abs(float(closed - numeric)) < 1e-4


def test_wide_bnn_prior_matches_nngp_variance() -> None:
    """A wide ReLU BNN's prior output variance matches the NNGP (arc-cosine) kernel value."""
    model = BNN(1, hidden=(512,), activation="relu", prior=GaussianWeightPrior(1.0, 0.0 + 1e-6))
    x = torch.tensor([[1.0]])
    f = model.sample_prior_functions(x, 4000, generator=0)[:, 0, 0]
    # ReLU NNGP with sigma_w = 1, sigma_b ~ 0: K0 = x^2 / 1, K1 = sigma_w^2 K0 / 2 = 0.5
    assert abs(f.var().item() / 0.5 - 1) < 5 * math.sqrt(2 / 4000) + 0.02


def test_bnn_validation_and_save_load(tmp_path) -> None:
    with pytest.raises(InputError, match="likelihood"):
        BNN(2, likelihood="poisson")
    with pytest.raises(InputError, match="noise"):
        BNN(2, noise=-1.0)
    model = BNN(2, hidden=(4, 3), prior=ScaleMixtureLastLayerPrior(), likelihood="student_t", noise="learned")
    assert model.layer_shapes == [(2, 4), (4, 3), (3, 1)]
    x = torch.randn(6, 2)
    f = model.sample_prior_functions(x, 5, generator=0)
    assert f.shape == (5, 6, 1)
    assert model.sample_observations(f, generator=0).shape == f.shape
    loaded = probnn.load(model.save(tmp_path / "bnn"))
    torch.testing.assert_close(loaded.sample_prior_functions(x, 5, generator=0), f)
    functions, observations = model.sample_prior_batch(torch.randn(3, 6, 2), generator=1)
    assert functions.shape == observations.shape == (3, 6, 1)
