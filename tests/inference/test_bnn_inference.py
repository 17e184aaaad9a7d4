"""NUTS / HMC / SVI / SGHMC on Bayesian linear regression (a BNN without hidden layers) vs the closed form.

With ``y = X theta + eps``, ``theta ~ N(0, P^-1)`` (NT prior: weight variance 1 / fan_in, bias variance 1)
and ``eps ~ N(0, s^2)``, the posterior is ``N(S X^T y / s^2, S)``, ``S = (P + X^T X / s^2)^-1``.
Tolerances come from Monte Carlo standard errors computed from the effective sample size.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from linear_regression_data import NOISE, linear_regression_posterior

import probnn
from probnn.inference.diagnostics import ConvergenceWarning, TreeDepthWarning, summarize, warn_if_unconverged
from probnn.models import BNN


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y, mean, precision = linear_regression_posterior()
    return x, y, mean, torch.linalg.inv(precision)


def theta(posterior) -> torch.Tensor:
    draws = posterior.flat_draws()
    return torch.cat([draws["w0"].reshape(-1, 2), draws["b0"].reshape(-1, 1)], 1).double()


def check_moments(samples: torch.Tensor, mean: torch.Tensor, covariance: torch.Tensor, ess: float) -> None:
    std = covariance.diag().sqrt()
    mean_error = (samples.mean(0) - mean).abs() / (std / math.sqrt(ess))
    assert bool((mean_error < 4.5).all()), mean_error  # 4.5 MC standard errors
    # the sample variance of ESS effective draws has relative s.e. sqrt(2 / ESS)
    variance_error = (samples.var(0) / covariance.diag() - 1).abs() / math.sqrt(2 / ess)
    assert bool((variance_error < 4.5).all()), variance_error
    correlation = torch.corrcoef(samples.T)
    exact = covariance / torch.outer(std, std)
    assert bool(((correlation - exact).abs() < 4.5 / math.sqrt(ess)).all())


@pytest.fixture(scope="module")
def nuts_posterior(data):
    x, y, _, _ = data
    return probnn.fit(BNN(2, hidden=(), noise=NOISE), x, y, method="nuts", num_warmup=300, num_samples=1000,
                      num_chains=2, generator=0, progress=False)


def test_nuts_matches_bayesian_linear_regression(data, nuts_posterior) -> None:
    _, _, mean, covariance = data
    summary = nuts_posterior.summary()["diagnostics"]
    assert summary["rhat_max"] < 1.01 and summary["num_divergences"] == 0
    check_moments(theta(nuts_posterior), mean, covariance, summary["ess_bulk_min"])


def test_nuts_predictive_arviz_and_save_load(data, nuts_posterior, tmp_path) -> None:
    x, y, _, _ = data
    prediction = nuts_posterior.predict(x[:5])
    assert prediction.mean.shape == (5,)
    idata = nuts_posterior.to_arviz()
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(idata.groups())
    assert bool(idata.sample_stats["diverging"].dtype == bool)
    import arviz

    loo = arviz.loo(idata)
    assert math.isfinite(float(loo.elpd_loo))
    loaded = probnn.load(nuts_posterior.save(tmp_path / "nuts"))
    torch.testing.assert_close(loaded.predict(x[:5]).mean, prediction.mean, rtol=0, atol=0)
    torch.testing.assert_close(loaded.predict(x[:5]).log_prob(y[:5]), prediction.log_prob(y[:5]), rtol=0, atol=0)


@pytest.mark.parametrize("checkpoint_every", [None, 2])
def test_nuts_num_samples_counts_kept_draws_after_thinning(data, tmp_path, checkpoint_every) -> None:
    x, y = data[:2]
    path = None if checkpoint_every is None else tmp_path / "thin.safetensors"
    posterior = probnn.fit(BNN(x.shape[1], hidden=(), noise=0.5), x, y, method="nuts", num_warmup=20, num_samples=6,
                           thinning=3, num_chains=1, checkpoint_path=path, checkpoint_every=checkpoint_every,
                           generator=0, progress=False)
    assert posterior.flat_draws()["w0"].shape[0] == 6


def test_nuts_seeded_reproducibility_and_checkpoint_resume(data, tmp_path) -> None:
    x, y, _, _ = data
    model = BNN(2, hidden=(), noise=NOISE)
    options = dict(num_warmup=50, num_samples=40, num_chains=2, progress=False, generator=7, checkpoint_every=20)
    segmented = probnn.fit(model, x, y, method="nuts", checkpoint_path=tmp_path / "a.safetensors", **options)
    again = probnn.fit(model, x, y, method="nuts", checkpoint_path=tmp_path / "b.safetensors", **options)
    assert torch.equal(segmented.draws["w0"], again.draws["w0"])  # same seed -> same draws
    # continue the finished run for 20 more draws from its checkpoint: the first 40 draws are kept
    extended = probnn.fit(model, x, y, method="nuts", checkpoint_path=tmp_path / "a.safetensors", resume=True,
                          **{**options, "num_samples": 60})
    assert extended.draws["w0"].shape[1] == 60
    assert torch.equal(extended.draws["w0"][:, :40], segmented.draws["w0"])
    assert not torch.equal(extended.draws["w0"][:, 40:], extended.draws["w0"][:, 20:40])


def test_svi_full_rank_matches_bayesian_linear_regression(data, tmp_path) -> None:
    x, y, mean, covariance = data
    posterior = probnn.fit(BNN(2, hidden=(), noise=NOISE), x, y, method="svi", family="full_rank",
                           num_steps=2000, num_particles=8, learning_rate=0.02, learning_rate_decay=0.01,
                           num_predictive_draws=2000, generator=0, progress=False)
    assert posterior.fit_info["converged"]
    check_moments(theta(posterior), mean, covariance, 2000)  # guide draws are independent
    loaded = probnn.load(posterior.save(tmp_path / "svi"))
    torch.testing.assert_close(loaded.predict(x).mean, posterior.predict(x).mean, rtol=0, atol=0)
    assert "posterior" in posterior.to_arviz().groups()


def test_hmc_and_sghmc_recover_the_posterior_mean(data) -> None:
    x, y, mean, covariance = data
    model = BNN(2, hidden=(), noise=NOISE)
    hmc = probnn.fit(model, x, y, method="hmc", num_warmup=200, num_samples=400, num_chains=2,
                     trajectory_length=1.0, generator=0, progress=False)
    ess = hmc.summary()["diagnostics"]["ess_bulk_min"]
    check_moments(theta(hmc), mean, covariance, ess)
    sghmc = probnn.fit(model, x, y, method="sghmc", num_samples=200, num_burnin=500, thinning=10, num_chains=2,
                       batch_size=10, generator=0, progress=False)
    samples = theta(sghmc)
    # SGHMC is biased by its finite step size: only the mean is checked, to 0.5 posterior std
    assert bool(((samples.mean(0) - mean).abs() < 0.5 * covariance.diag().sqrt()).all())


def test_diagnostics_warn_on_bad_rhat_and_divergences() -> None:
    generator = torch.Generator().manual_seed(0)
    draws = {"a": torch.randn(4, 200, generator=generator) + torch.arange(4.0).reshape(4, 1)}
    stats = {"diverging": torch.zeros(4, 200, dtype=torch.bool)}
    stats["diverging"][1, 3] = True
    summary = summarize(draws, stats)
    assert summary["rhat_max"] > 1.5
    assert summary["num_divergences"] == 1 and summary["divergences_per_chain"] == [0, 1, 0, 0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_unconverged(summary, method="nuts", num_chains=4)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert any("R-hat" in m for m in messages) and any("divergent" in m for m in messages)
    good = summarize({"a": torch.randn(4, 500, generator=generator)}, {})
    assert good["rhat_max"] < 1.01


@pytest.mark.parametrize(("hits", "warns"), [(50, False), (101, True)])
def test_tree_depth_saturation_warns_only_for_a_majority(hits: int, warns: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    depth = torch.full((2, 100), 5)
    depth.view(-1)[:hits] = 8
    stats = {"tree_depth": depth, "max_tree_depth": torch.full((2, 100), 8)}
    summary = summarize({"a": torch.randn(2, 100, generator=generator)}, stats)
    assert summary["max_tree_depth_hits"] == hits and summary["num_transitions"] == 200
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_unconverged(summary, method="nuts", num_chains=2)
    tree = [w for w in caught if issubclass(w.category, TreeDepthWarning)]
    assert len(tree) == int(warns)
    if warns:
        assert f"{hits} of 200" in str(tree[0].message) and "dense_mass" in str(tree[0].message)


def test_pyro_generic_path_on_a_user_model(data) -> None:
    x, y, mean, covariance = data
    model = BNN(2, hidden=(), noise=NOISE)
    posterior = probnn.fit(model, x, y, method="nuts", engine="pyro", num_warmup=100, num_samples=200,
                           num_chains=2, generator=0, progress=False)
    ess = posterior.summary()["diagnostics"]["ess_bulk_min"]
    check_moments(theta(posterior), mean, covariance, ess)
