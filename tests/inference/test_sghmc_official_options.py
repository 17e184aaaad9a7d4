"""SGHMC's options that reproduce Tran et al.'s official sampler: each does what it says, and together they
still sample Bayesian linear regression's closed-form posterior (the model of ``linear_regression_data``)."""

from __future__ import annotations

import itertools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from linear_regression_data import NOISE, linear_regression_posterior

import probnn
from probnn.errors import InputError
from probnn.inference import minibatch
from probnn.inference.diagnostics import ConvergenceWarning
from probnn.models import BNN


def official_options(num_data: int) -> dict:
    """All the official-sampler options on the 2-input linear model (raw-weight coordinates, raw start)."""
    def init(generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"w0": torch.randn(2, 1, generator=generator) / math.sqrt(2), "b0": torch.zeros(1)}

    return {"step_size_scaling": "none", "update_form": "tran2022", "minibatch_schedule": "epochs",
            "gradient_clip": 100.0 * num_data, "parameter_scale": {"w0": 1 / math.sqrt(2)}, "init": init}


def theta(posterior) -> torch.Tensor:
    draws = posterior.flat_draws()
    return torch.cat([draws["w0"].reshape(-1, 2), draws["b0"].reshape(-1, 1)], 1).double()


def test_epoch_schedule_visits_every_point_once_per_epoch() -> None:
    num_data, batch_size = 10, 3  # 4 batches per epoch: 3, 3, 3 and a last one of 1
    key = jax.random.PRNGKey(0)
    schedule = jax.jit(lambda step: minibatch.epochs(step, key, batch_size, num_data))
    orders = []
    for epoch in range(3):
        visited, weights_seen = [], []
        for position in range(4):
            indices, weights = (np.asarray(a) for a in schedule(jnp.int32(4 * epoch + position)))
            valid = weights > 0
            visited += indices[valid].tolist()
            # weight N / (batch size) on the real points: 10 / 3 for full batches, 10 / 1 for the last
            np.testing.assert_allclose(weights[valid], num_data / valid.sum(), rtol=1e-6)
            weights_seen.append(int(valid.sum()))
        assert sorted(visited) == list(range(num_data)), visited
        assert weights_seen == [3, 3, 3, 1]
        orders.append(visited)
    assert orders[0] != orders[1] != orders[2]  # a fresh permutation each epoch
    again = [np.asarray(schedule(jnp.int32(step))[0]).tolist() for step in range(4)]
    assert list(itertools.chain(*again))[:10] == orders[0]  # a pure function of (step, key)


def test_epoch_schedule_is_unbiased() -> None:
    """E[sum_i w_i f(index_i)] = sum_n f(n) at every position of the epoch (the partial last batch too)."""
    num_data, batch_size, num_epochs = 10, 3, 4000
    values = jnp.arange(num_data, dtype=jnp.float32) ** 2  # f(n) = n^2, sum 285
    key = jax.random.PRNGKey(1)

    def estimate(step: jax.Array) -> jax.Array:
        indices, weights = minibatch.epochs(step, key, batch_size, num_data)
        return jnp.sum(weights * values[indices])

    steps = jnp.arange(4 * num_epochs, dtype=jnp.int32).reshape(num_epochs, 4)
    estimates = np.asarray(jax.jit(jax.vmap(jax.vmap(estimate)))(steps))  # [epochs, position]
    standard_error = estimates.std(0) / math.sqrt(num_epochs)
    assert np.all(np.abs(estimates.mean(0) - 285.0) < 4.5 * standard_error), (estimates.mean(0), standard_error)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, ...]:
    x, y, mean, precision = linear_regression_posterior()
    return x, y, mean, torch.linalg.inv(precision)


@pytest.mark.filterwarnings("ignore::probnn.inference.diagnostics.ConvergenceWarning")  # short runs
def test_adaptation_stops_after_num_adaptation_steps(data) -> None:
    x, y = data[:2]
    model = BNN(2, hidden=(), noise=NOISE)
    options = dict(num_samples=2, thinning=5, num_chains=2, batch_size=10, generator=3, progress=False)
    frozen = probnn.fit(model, x, y, method="sghmc", num_burnin=300, num_adaptation=100, **options)
    short = probnn.fit(model, x, y, method="sghmc", num_burnin=100, num_adaptation=100, **options)
    adapted = probnn.fit(model, x, y, method="sghmc", num_burnin=300, **options)
    # the first 100 steps are the same in the three runs; afterwards the preconditioner of `frozen` is
    # constant, so after its 300 burn-in steps it equals `short`'s after 100, and differs from `adapted`'s
    for site in ("w0", "b0"):
        assert frozen.fit_info["preconditioner"][site] == short.fit_info["preconditioner"][site]
        assert frozen.fit_info["preconditioner"][site] != adapted.fit_info["preconditioner"][site]
    with pytest.raises(InputError, match="num_adaptation"):
        probnn.fit(model, x, y, method="sghmc", num_burnin=10, num_adaptation=20, **options)


@pytest.mark.filterwarnings("ignore::probnn.inference.diagnostics.ConvergenceWarning")  # one short chain
def test_gradient_clip_bounds_the_update(data) -> None:
    """Heavy-ball dynamics with the clip: ``|z_k - z_0| <= k eps^2 clip / C``.

    With ``update_form="tran2022"``, no adaptation (``m_inv = 1``) and ``eps^2 > 2 C`` the injected noise
    is the official floor (std 1e-8), so ``v_k = sum_j (1 - C)^(k-1-j) (-eps^2 g_j)`` has norm at most
    ``eps^2 clip / C`` and ``k`` steps move the parameters by at most ``k`` times that.
    """
    x, y = data[:2]
    model = BNN(2, hidden=(), noise=NOISE)
    step_size, friction, clip, steps = 0.5, 0.1, 1e-3, 20
    options = dict(num_samples=steps, thinning=1, num_burnin=0, num_adaptation=0, num_chains=1, batch_size=10,
                   learning_rate=step_size, momentum_decay=friction, step_size_scaling="none",
                   update_form="tran2022", init={"w0": torch.zeros(2, 1), "b0": torch.zeros(1)}, generator=0,
                   progress=False)
    clipped = theta(probnn.fit(model, x, y, method="sghmc", gradient_clip=clip, **options))
    free = theta(probnn.fit(model, x, y, method="sghmc", **options))
    bound = torch.arange(1, steps + 1, dtype=torch.float64) * step_size**2 * clip / friction
    assert bool((clipped.norm(dim=1) <= bound + 1e-6).all()), (clipped.norm(dim=1), bound)
    assert float(clipped.norm(dim=1)[-1]) > 0.1 * float(bound[-1])  # it does move
    assert float(free.norm(dim=1)[-1]) > 100 * float(bound[-1])  # the gradient here is far above the clip


@pytest.mark.filterwarnings("ignore::probnn.inference.diagnostics.ConvergenceWarning")
def test_official_options_are_reproducible_under_a_seed(data) -> None:
    x, y = data[:2]
    model = BNN(2, hidden=(), noise=NOISE)
    # a short run (the chains have not mixed: ConvergenceWarning filtered); only reproducibility is checked
    options = dict(num_samples=20, num_burnin=200, num_adaptation=100, thinning=5, num_chains=2, batch_size=7,
                   learning_rate=0.01, momentum_decay=0.01, progress=False, **official_options(len(x)))
    first = probnn.fit(model, x, y, method="sghmc", generator=11, **options)
    again = probnn.fit(model, x, y, method="sghmc", generator=11, **options)
    other = probnn.fit(model, x, y, method="sghmc", generator=12, **options)
    assert all(torch.equal(first.draws[site], again.draws[site]) for site in first.draws)
    assert not torch.equal(first.draws["w0"], other.draws["w0"])
    assert not torch.equal(first.draws["w0"][0], first.draws["w0"][1])  # chains start apart


def noise_cut(posterior) -> np.ndarray:
    """``rho = eps^2 sqrt(v_hat) / (2 C)`` per coordinate and chain: the official ``- eps^4`` term leaves a
    fraction ``1 - rho`` of the noise variance SGHMC needs (none where ``rho >= 1``)."""
    info = posterior.fit_info
    v_hat = np.concatenate([np.asarray(value).reshape(-1) for value in info["preconditioner"].values()])
    return info["step_size"] ** 2 * np.sqrt(v_hat) / (2 * info["momentum_decay"])


def fit_official(data, learning_rate: float, thinning: int, update_form: str = "tran2022"):
    x, y = data[:2]
    options = {**official_options(len(x)), "update_form": update_form}
    return probnn.fit(BNN(2, hidden=(), noise=NOISE), x, y, method="sghmc", num_samples=1000, num_burnin=6000,
                      num_adaptation=2000, thinning=thinning, num_chains=4, batch_size=10,
                      learning_rate=learning_rate, momentum_decay=0.05, generator=0, progress=False, **options)


def test_official_sampler_recovers_bayesian_linear_regression(data) -> None:
    """All the official options together (step eps = lr = 0.01 as the notebook, raw coordinates, 2000
    adaptation steps, raw start, clip, epochs, official update form) sample the closed-form posterior:
    means within 4.5 Monte Carlo standard errors (from the bulk ESS), variances within 4.5 standard errors
    of the sample variance (relative s.e. sqrt(2 / ESS)) plus the cooling of the ``- eps^4`` term (at most
    ``max rho``, checked below 5 % here) plus 5 % for the finite step and the minibatch gradient noise.
    """
    _, _, mean, covariance = data
    with warnings.catch_warnings():  # R-hat is checked below, against a looser bound than the warning's 1.01
        warnings.simplefilter("ignore", ConvergenceWarning)
        posterior = fit_official(data, learning_rate=0.01, thinning=20)
    assert posterior.summary()["diagnostics"]["rhat_max"] < 1.05
    rho = noise_cut(posterior)
    assert rho.max() < 0.05, rho.max()
    samples = theta(posterior)
    ess = posterior.summary()["diagnostics"]["ess_bulk_min"]
    assert ess > 200, ess
    std = covariance.diag().sqrt()
    mean_error = (samples.mean(0) - mean).abs() / (std / math.sqrt(ess))
    assert bool((mean_error < 4.5).all()), mean_error
    variance_ratio = samples.var(0) / covariance.diag()
    assert bool(((variance_ratio - 1).abs() < rho.max() + 0.05 + 4.5 * math.sqrt(2 / ess)).all()), variance_ratio


@pytest.mark.slow
def test_official_noise_term_cools_the_chain(data) -> None:
    """At eps = 0.05 the ``- eps^4`` term removes a fraction rho ~ 0.3-0.5 of the noise: the official
    update form's variances fall below the posterior's by more than the Monte Carlo error allows, while
    probnn's form (same options otherwise) matches them."""
    _, _, _, covariance = data
    official = fit_official(data, learning_rate=0.05, thinning=10)
    default = fit_official(data, learning_rate=0.05, thinning=10, update_form="default")
    assert np.median(noise_cut(official)) > 0.2
    for posterior, cold in ((official, True), (default, False)):
        ess = posterior.summary()["diagnostics"]["ess_bulk_min"]
        assert ess > 500, ess
        variance_ratio = theta(posterior).var(0) / covariance.diag()
        tolerance = 0.05 + 4.5 * math.sqrt(2 / ess)  # 5 %: finite step and minibatch noise
        if cold:
            assert bool((variance_ratio < 1 - tolerance).all()), variance_ratio
        else:
            assert bool(((variance_ratio - 1).abs() < tolerance).all()), variance_ratio


def test_invalid_official_options_are_named(data) -> None:
    x, y = data[:2]
    model = BNN(2, hidden=(), noise=NOISE)
    options = dict(num_samples=2, num_burnin=2, thinning=1, num_chains=1, progress=False)
    for bad, name in ((dict(minibatch_schedule="shuffled"), "minibatch_schedule"),
                      (dict(step_size_scaling="sqrt"), "step_size_scaling"),
                      (dict(update_form="official"), "update_form"), (dict(gradient_clip=-1.0), "gradient_clip"),
                      (dict(init="zeros"), "init"), (dict(parameter_scale={"w9": 1.0}), "parameter_scale"),
                      (dict(parameter_scale={"w0": 0.0}), "parameter_scale")):
        with pytest.raises(InputError, match=name):
            probnn.fit(model, x, y, method="sghmc", **options, **bad)
