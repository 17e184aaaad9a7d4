"""SVI gradient estimators and families: the local reparameterisation trick and the low-rank family.

* The local reparameterisation trick (Kingma et al., 2015) estimates the *same* ELBO as weight sampling
  (checked within Monte Carlo error) with a lower-variance gradient (checked on a 1-16-1 tanh BNN).
* On Bayesian linear regression (a BNN without hidden layers) the mean-field optimum is known in closed
  form: for a Gaussian target ``N(m, Lambda^-1)`` the KL(q || p)-optimal factorised Gaussian has mean ``m``
  and variances ``1 / Lambda_ii`` (Bishop, PRML Sec. 10.1.2). SVI with the trick must reach it.
* The low-rank family with rank >= dimension represents the exact posterior.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from linear_regression_data import NOISE, linear_regression_posterior

import probnn
from probnn.errors import InputError
from probnn.inference.svi import make_guide, make_objective
from probnn.models import BNN


@pytest.fixture(scope="module")
def linear_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """30 points of ``y = x w + b + noise``; the closed-form posterior mean and precision of ``(w, b)``."""
    return linear_regression_posterior()


def guide_moments(posterior) -> tuple[torch.Tensor, torch.Tensor]:
    params = posterior.guide_params
    loc = torch.cat([params["w0_auto_loc"].reshape(-1), params["b0_auto_loc"].reshape(-1)]).double()
    scale = torch.cat([params["w0_auto_scale"].reshape(-1), params["b0_auto_scale"].reshape(-1)]).double()
    return loc, scale


@pytest.mark.parametrize("local_reparameterization", [True, False])
def test_mean_field_reaches_the_closed_form_optimum(linear_data, local_reparameterization) -> None:
    x, y, mean, precision = linear_data
    posterior = probnn.fit(BNN(2, hidden=(), noise=NOISE), x, y, method="svi", family="mean_field",
                           local_reparameterization=local_reparameterization, num_steps=3000, num_particles=4,
                           learning_rate=0.02, learning_rate_decay=0.01, num_predictive_draws=100, generator=0,
                           progress=False)
    assert posterior.fit_info["local_reparameterization"] is local_reparameterization
    loc, scale = guide_moments(posterior)
    optimum_std = precision.diag().rsqrt()
    # The final iterate of a stochastic optimiser is the optimum plus optimiser noise whose size is set by
    # the last step size (2e-4 here) times the gradient noise: well under 5% of a standard deviation; a wrong
    # estimator (e.g. a biased likelihood term) moves the optimum by O(1) standard deviations.
    assert bool(((loc - mean).abs() < 0.05 * optimum_std).all()), (loc, mean)
    assert bool(((scale / optimum_std - 1).abs() < 0.05).all()), (scale, optimum_std)


def _fitted_guide(model: BNN, x, y):
    """Mean-field guide parameters after 300 Adam steps (a realistic point to compare estimators at)."""
    from numpyro.infer import SVI
    from numpyro.optim import Adam

    guide = make_guide("mean_field", model.numpyro_model)
    objective, used = make_objective(model, "mean_field", local_reparameterization=True)
    assert used
    svi = SVI(model.numpyro_model, guide, Adam(0.01), objective)
    state = svi.init(jax.random.PRNGKey(0), x, y)

    @jax.jit
    def run(state):
        return jax.lax.scan(lambda s, _: svi.update(s, x, y), state, None, length=300)[0]

    return guide, svi.get_params(run(state))


def test_local_reparameterization_same_elbo_lower_gradient_variance() -> None:
    generator = np.random.default_rng(0)
    x = jnp.asarray(generator.uniform(-2, 2, size=(200, 1)), dtype=jnp.float32)
    y = jnp.sin(2 * x[:, 0]) + 0.2 * jnp.asarray(generator.normal(size=200), dtype=jnp.float32)
    model = BNN(1, hidden=(16,), noise="learned")
    guide, params = _fitted_guide(model, x, y)
    trick, _ = make_objective(model, "mean_field", local_reparameterization=True)
    weights, _ = make_objective(model, "mean_field", local_reparameterization=False)
    keys = jax.random.split(jax.random.PRNGKey(1), 200)

    def estimates(objective):
        value_and_grad = jax.jit(jax.vmap(jax.value_and_grad(
            lambda p, k: -objective.loss(k, p, model.numpyro_model, guide, x, y)), in_axes=(None, 0)))
        elbo, grad = value_and_grad(params, keys)
        return np.asarray(elbo, dtype=np.float64), {k: np.asarray(v, dtype=np.float64) for k, v in grad.items()}

    elbo_trick, grad_trick = estimates(trick)
    elbo_weights, grad_weights = estimates(weights)
    # same expectation: the difference of the two means within 4 standard errors
    standard_error = math.sqrt(elbo_trick.var() / len(keys) + elbo_weights.var() / len(keys))
    assert abs(elbo_trick.mean() - elbo_weights.mean()) < 4 * standard_error, (elbo_trick.mean(), elbo_weights.mean())
    # lower gradient variance for the layer parameters (total variance over all their components).
    # Measured ratios are 0.006-0.03 here (200 data points; Kingma et al. predict a reduction growing with
    # the number of data points). The variance estimates have relative standard error ~sqrt(2 / 200) = 10%,
    # so equal variances (ratio 1) cannot pass the threshold 0.1 by chance.
    for name in ("w0_auto_loc", "w0_auto_scale", "w1_auto_loc", "w1_auto_scale"):
        ratio = grad_trick[name].var(0).sum() / grad_weights[name].var(0).sum()
        assert ratio < 0.1, (name, ratio)


def test_low_rank_family_matches_bayesian_linear_regression(linear_data, tmp_path) -> None:
    x, y, mean, precision = linear_data
    covariance = torch.linalg.inv(precision)
    posterior = probnn.fit(BNN(2, hidden=(), noise=NOISE), x, y, method="svi", family="low_rank", rank=3,
                           num_steps=2000, num_particles=8, learning_rate=0.02, learning_rate_decay=0.01,
                           num_predictive_draws=2000, generator=0, progress=False)
    assert not posterior.fit_info["local_reparameterization"]
    draws = posterior.flat_draws()
    samples = torch.cat([draws["w0"].reshape(-1, 2), draws["b0"].reshape(-1, 1)], 1).double()
    std = covariance.diag().sqrt()
    ess = samples.shape[0]  # guide draws are independent
    assert bool(((samples.mean(0) - mean).abs() < 4.5 * std / math.sqrt(ess)).all())
    assert bool(((samples.var(0) / covariance.diag() - 1).abs() < 4.5 * math.sqrt(2 / ess)).all())
    exact = covariance / torch.outer(std, std)
    assert bool(((torch.corrcoef(samples.T) - exact).abs() < 4.5 / math.sqrt(ess)).all())
    loaded = probnn.load(posterior.save(tmp_path / "low_rank"))
    torch.testing.assert_close(loaded.predict(x).mean, posterior.predict(x).mean, rtol=0, atol=0)


def test_local_reparameterization_option_is_validated(linear_data) -> None:
    x, y = linear_data[:2]
    with pytest.raises(InputError, match="local_reparameterization"):
        probnn.fit(BNN(2, hidden=(), noise=NOISE), x, y, method="svi", family="full_rank",
                   local_reparameterization=True, num_steps=10, progress=False)
    from probnn.priors import HierarchicalWeightPrior

    hierarchical = BNN(2, hidden=(4,), prior=HierarchicalWeightPrior(), noise=NOISE)
    assert hierarchical.local_reparameterization_layers() is None
    with pytest.raises(InputError, match="GaussianWeightPrior"):
        probnn.fit(hierarchical, x, y, method="svi", local_reparameterization=True, num_steps=10, progress=False)
