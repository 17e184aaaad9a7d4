"""Scale-mixture NNGPs: multivariate-t marginal vs scipy, Student-t predictive vs numerical integration
over s2, importance sampling vs the closed form, prior contract, save/load, Burr XII, finite width."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import HalfCauchy, InverseGamma, LogNormal

import probnn
from probnn.gp.nngp import NNGPKernel
from probnn.gp.scale_mixture import ScaleMixtureNNGP
from probnn.priors.scale import BurrXII

D = torch.float64


def _data(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=generator, dtype=D)
    y = torch.sin(2 * x[:, 0]) + 0.2 * torch.randn(n, generator=generator, dtype=D)
    return x, y


def _model(prior=None, **kwargs) -> ScaleMixtureNNGP:
    prior = InverseGamma(torch.tensor(3.0, dtype=D), torch.tensor(2.0, dtype=D)) if prior is None else prior
    return ScaleMixtureNNGP(NNGPKernel(2, "relu", 1.3, 0.2), prior, noise=0.05, **kwargs)


def test_marginal_likelihood_matches_scipy_multivariate_t() -> None:
    x, y = _data()
    model = _model().to(D)
    value, _ = model.log_marginal_likelihood(x, y)
    covariance = (model.kernel_matrix(x) + 0.05 * torch.eye(len(x), dtype=D)).detach().numpy()
    reference = stats.multivariate_t(loc=np.zeros(len(x)), shape=(2.0 / 3.0) * covariance, df=6.0).logpdf(y.numpy())
    assert abs(float(value) - reference) <= 1e-9 * abs(reference)


def test_student_t_predictive_matches_integration_over_scale() -> None:
    x, y = _data()
    model = _model()
    posterior = probnn.fit(model, x, y, method="exact", optimize=False)
    x_test = torch.tensor([[0.3, -0.2], [3.0, 3.0]], dtype=D)
    y_test = torch.tensor([0.5, -1.0], dtype=D)
    prediction = posterior.predict(x_test)
    _, quadratic, _, _ = posterior.model.scale_likelihood_terms(posterior.x_train, y)
    n, a, b = len(y), 3.0, 2.0
    gaussian = probnn.fit(probnn.models.GP(NNGPKernel(2, "relu", 1.3, 0.2), noise=0.05, mean="zero"), x, y,
                          optimize=False).predict(x_test)
    scale_posterior = stats.invgamma(a + n / 2, scale=b + float(quadratic) / 2)
    for i in range(2):
        mean, variance = float(gaussian.mean[i]), float(gaussian.variance[i])

        def integrand(s2: float, mean: float = mean, variance: float = variance, target: float = float(y_test[i])
                      ) -> float:
            return stats.norm(mean, math.sqrt(s2 * variance)).pdf(target) * scale_posterior.pdf(s2)

        reference = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-12, limit=500)[0]
        assert abs(float(prediction.log_prob(y_test)[i]) - math.log(reference)) <= 1e-8
    assert float(prediction.df[0]) == pytest.approx(2 * a + n)


def test_importance_sampling_matches_closed_form() -> None:
    x, y = _data()
    exact = probnn.fit(_model(), x, y, method="exact", optimize=False)
    importance = probnn.fit(_model(learn_scale_prior=False), x, y, method="importance", optimize=False,
                            num_samples=4000, generator=1)
    x_test = torch.tensor([[0.3, -0.2], [1.0, 2.0]], dtype=D)
    y_test = torch.tensor([0.5, -1.0], dtype=D)
    # The weights are proportional to the IG prior density at proposal draws; the relative MC error of the
    # predictive density is ~ sqrt(1/ESS) ~ 2 %: a 10 % tolerance is > 4 standard errors.
    ratio = (importance.predict(x_test).log_prob(y_test) - exact.predict(x_test).log_prob(y_test)).exp()
    assert bool(((ratio - 1).abs() < 0.1).all()), ratio
    assert importance.effective_sample_size > 100
    assert abs(importance.fit_info["log_marginal_likelihood"] - exact.fit_info["log_marginal_likelihood"]) < 0.05


@pytest.mark.parametrize("prior", [HalfCauchy(torch.tensor(1.0, dtype=D)),
                                   LogNormal(torch.tensor(0.0, dtype=D), torch.tensor(1.0, dtype=D)),
                                   BurrXII(torch.tensor(2.0, dtype=D), torch.tensor(1.0, dtype=D))])
def test_importance_for_other_priors_fits_and_saves(prior, tmp_path) -> None:
    x, y = _data(20)
    posterior = probnn.fit(_model(prior), x, y, method="importance", num_samples=1000, max_iterations=20,
                           generator=0, progress=False)
    prediction = posterior.predict(x[:3])
    assert prediction.batch_shape == (3,)
    assert posterior.fit_info["importance_ess"] > 50
    path = posterior.save(tmp_path / "p.safetensors")
    loaded = probnn.load(path)
    torch.testing.assert_close(loaded.predict(x[:3]).log_prob(y[:3]), prediction.log_prob(y[:3]))
    draws = posterior.sample_functions(x[:3], 5, generator=0)
    assert draws.shape == (5, 3, 1)


def test_exact_fit_improves_marginal_likelihood_and_round_trips(tmp_path) -> None:
    x, y = _data(30)
    model = _model()
    with torch.no_grad():  # the default fit is type-II MAP: it must improve log p(y | theta) + log p(theta)
        before = float(model.to(D).log_marginal_likelihood(x, y)[0] + model.log_hyperprior())
    posterior = probnn.fit(model, x, y, method="exact", max_iterations=30, progress=False)
    assert posterior.fit_info["log_marginal_likelihood"] + posterior.fit_info["log_hyperprior"] > before
    path = posterior.save(tmp_path / "student_t.safetensors")
    loaded = probnn.load(path)
    x_test = torch.randn(4, 2, dtype=D)
    original = posterior.predict(x_test)
    restored = loaded.predict(x_test)
    torch.testing.assert_close(restored.loc, original.loc)
    torch.testing.assert_close(restored.scale, original.scale)
    torch.testing.assert_close(restored.df, original.df)
    model_path = posterior.model.save(tmp_path / "model.safetensors")
    reloaded = probnn.load(model_path)
    assert isinstance(reloaded, ScaleMixtureNNGP)
    assert set(reloaded.hyperpriors) == {"weight_std"}  # noise is fixed in _model
    assert set(reloaded.scale_hyperpriors) == {"degrees_of_freedom", "scale"}
    assert float(reloaded.log_hyperprior()) == pytest.approx(float(posterior.model.log_hyperprior()), rel=1e-12)


def _branin_points(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """8 uniform points of the Branin function on [0, 1]^2, targets standardised (a BO initial design)."""
    x = torch.rand(8, 2, generator=torch.Generator().manual_seed(seed), dtype=D)
    u, v = 15 * x[:, 0] - 5, 15 * x[:, 1]
    y = (v - 5.1 / (4 * math.pi**2) * u**2 + 5 / math.pi * u - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * torch.cos(u)
    return x, (y - y.mean()) / y.std()


def _fitted(x: torch.Tensor, y: torch.Tensor, hyperpriors) -> ScaleMixtureNNGP:
    model = ScaleMixtureNNGP(NNGPKernel(2, "relu", 1.5, 0.2), hyperpriors=hyperpriors)
    return probnn.fit(model, x, y, method="exact", progress=False).model


def _degenerate(model: ScaleMixtureNNGP) -> bool:
    """The boundary optima of type-II ML: the Gaussian limit (a -> inf), pure noise (weight_std -> 0) or
    interpolation (noise -> 0)."""
    return (float(model.scale_prior.concentration) > 1e3 or float(model.kernel.weight_std) < 1e-3
            or float(model.noise) < 1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_hyperpriors_prevent_degenerate_type2_optima_on_tiny_data(seed: int) -> None:
    """On 8 Branin points, type-II ML (hyperpriors=None) runs to a boundary (a ~ 1e4-1e7, or weight_std,
    bias_std -> 0 with all variance in the noise); the default weakly informative hyperpriors (MAP) keep
    every hyperparameter in a sane range and the predictive finite."""
    x, y = _branin_points(seed)
    assert _degenerate(_fitted(x, y, None))
    model = _fitted(x, y, "default")
    assert not _degenerate(model)
    assert 0.05 < float(model.kernel.weight_std) < 20 and 1e-3 < float(model.noise) < 10
    assert 0.02 < float(model.scale_prior.concentration) < 1e3
    prediction = probnn.fit(model, x, y, method="exact", optimize=False).predict(torch.rand(5, 2, dtype=D))
    assert bool(torch.isfinite(prediction.loc).all() and torch.isfinite(prediction.scale).all())


def test_hyperprior_is_an_additive_term_and_closed_forms_are_unchanged() -> None:
    """MAP changes only the objective: log p(y | theta) is still the multivariate-t density, the posterior
    of s2 is still IG(a + n/2, b + Q/2), and log p(theta) is exactly the documented sum of densities."""
    x, y = _data(10)
    model = ScaleMixtureNNGP(NNGPKernel(2, "relu", 1.3, 0.2), InverseGamma(torch.tensor(3.0, dtype=D),
                                                                           torch.tensor(2.0, dtype=D)))
    plain = ScaleMixtureNNGP(NNGPKernel(2, "relu", 1.3, 0.2), InverseGamma(torch.tensor(3.0, dtype=D),
                                                                           torch.tensor(2.0, dtype=D)),
                             hyperpriors=None)
    with torch.no_grad():
        assert float(plain.log_hyperprior()) == 0.0
        torch.testing.assert_close(model.log_marginal_likelihood(x, y)[0], plain.log_marginal_likelihood(x, y)[0])
        a, b = torch.tensor(3.0, dtype=D), torch.tensor(2.0, dtype=D)

        def t(value: float) -> torch.Tensor:
            return torch.tensor(value, dtype=D)

        expected = (LogNormal(t(0.0), t(1.0)).log_prob(t(1.3))
                    + LogNormal(t(math.log(0.1)), t(1.5)).log_prob(model.noise)
                    + torch.distributions.Gamma(t(2.0), t(0.1)).log_prob(2 * a) + math.log(2)
                    + LogNormal(t(0.0), t(1.5)).log_prob(b / a) - torch.log(a))
        torch.testing.assert_close(model.log_hyperprior(), expected, rtol=1e-9, atol=0)
    exact = probnn.fit(model, x, y, method="exact", optimize=False)
    reference = probnn.fit(plain, x, y, method="exact", optimize=False)
    x_test = torch.randn(3, 2, dtype=D)
    for name in ("loc", "scale", "df"):
        torch.testing.assert_close(getattr(exact.predict(x_test), name), getattr(reference.predict(x_test), name))


def test_prior_contract_marginals_are_student_t() -> None:
    """With s2 ~ IG(a, b), f(x) ~ t_{2a}(0, sqrt(b/a k(x,x))): KS test on prior draws."""
    model = _model().to(D)
    x = torch.tensor([[0.5, -1.0]], dtype=D)
    f = model.sample_prior_functions(x, 4000, generator=0)[:, 0, 0].numpy()
    scale = math.sqrt(2.0 / 3.0 * float(model.kernel_matrix(x)[0, 0]))
    assert stats.kstest(f, stats.t(6.0, 0, scale).cdf).pvalue > 1e-3
    y = model.sample_observations(model.sample_prior_functions(x, 10, generator=1), generator=2)
    assert y.shape == (10, 1, 1)
    f_batch, y_batch = model.sample_prior_batch(torch.randn(3, 5, 2, dtype=D), generator=0)
    assert f_batch.shape == y_batch.shape == (3, 5, 1)
    again = model.sample_prior_batch(torch.zeros(3, 5, 2, dtype=D) + 1, generator=0)[0]
    torch.testing.assert_close(again, model.sample_prior_batch(torch.zeros(3, 5, 2, dtype=D) + 1, generator=0)[0])


def test_wide_finite_network_with_inverse_gamma_last_layer_is_student_t() -> None:
    """Finite-width check: a width-1024 ReLU network with last-layer std sqrt(b / Gamma(a)) gives
    outputs matching t(2a, 0, sqrt((b/a) K(x, x))) (KS test; the O(1/width) bias is ~0.1 %)."""
    generator = torch.Generator().manual_seed(3)
    a, b, width, num_samples = 2.0, 1.5, 1024, 3000
    x = torch.tensor([[0.7, -0.4, 1.1]], dtype=D)
    kernel = NNGPKernel(2, "relu", 1.0, 0.3).to(D)
    outputs = []
    for _ in range(num_samples // 500):
        # For a single input, h @ W / sqrt(fan_in) with iid N(0, 1) weights is exactly N(0, |h|^2 / fan_in)
        # per unit, independently: drawing it that way samples the same finite network without the
        # [samples, width, width] weight tensor.
        h = x.expand(500, 3)
        for _ in range(2):
            norm = h.norm(dim=-1, keepdim=True) / math.sqrt(h.shape[-1])
            pre = norm * torch.randn(500, width, generator=generator, dtype=D)
            h = torch.relu(pre + 0.3 * torch.randn(500, width, generator=generator, dtype=D))
        last_std = torch.sqrt(b / probnn.random.standard_gamma(torch.full((500,), a, dtype=D), generator))
        norm = h.norm(dim=-1) / math.sqrt(width)
        output = last_std * (norm * torch.randn(500, generator=generator, dtype=D)
                             + 0.3 * torch.randn(500, generator=generator, dtype=D))
        outputs.append(output)
    samples = torch.cat(outputs).numpy()
    scale = math.sqrt(b / a * float(kernel(x).to_dense()[0, 0]))
    assert stats.kstest(samples, stats.t(2 * a, 0, scale).cdf).pvalue > 1e-3
    # and it is distinguishable from the Gaussian with the same scale (the test has power)
    assert stats.kstest(samples, stats.norm(0, scale).cdf).pvalue < 1e-3


def test_burr_xii_distribution() -> None:
    burr = BurrXII(torch.tensor(2.0, dtype=D), torch.tensor(3.0, dtype=D), torch.tensor(1.5, dtype=D))
    reference = stats.burr12(c=2.0, d=3.0, scale=1.5)
    values = torch.tensor([0.1, 0.7, 2.0, 5.0], dtype=D)
    torch.testing.assert_close(burr.log_prob(values), torch.as_tensor(reference.logpdf(values.numpy())))
    torch.testing.assert_close(burr.cdf(values), torch.as_tensor(reference.cdf(values.numpy())))
    assert float(burr.mean) == pytest.approx(reference.mean(), rel=1e-10)
    draws = probnn.random.sample_distribution(burr, (4000,), torch.Generator().manual_seed(0))
    assert stats.kstest(draws.numpy(), reference.cdf).pvalue > 1e-3


def test_bad_inputs() -> None:
    with pytest.raises(probnn.InputError, match="scale_prior"):
        ScaleMixtureNNGP(scale_prior=torch.distributions.Normal(0.0, 1.0))
    x, y = _data()
    with pytest.raises(probnn.MethodError, match="InverseGamma"):
        probnn.fit(_model(HalfCauchy(torch.tensor(1.0, dtype=D))), x, y, method="exact")


@pytest.mark.slow
def test_nuts_over_scale_and_hyperparameters(tmp_path) -> None:
    pytest.importorskip("pyro")
    x, y = _data(15)
    model = _model(BurrXII(torch.tensor(2.0, dtype=D), torch.tensor(1.0, dtype=D)))
    posterior = probnn.fit(model, x, y, method="nuts", num_warmup=60, num_samples=40, num_chains=2, generator=0,
                           progress=False)
    draws = posterior.flat_draws()
    assert {"scale", "weight_std", "bias_std"} <= set(draws)
    prediction = posterior.predict(x[:4])
    assert prediction.batch_shape == (4,)
    # sequential conditionals sum to the joint multivariate-normal log likelihood of each draw
    pointwise = posterior.model.log_likelihood_from_draws({k: v[:3] for k, v in draws.items()}, x, y)
    scale, weight_std, bias_std = (draws[k][0].double() for k in ("scale", "weight_std", "bias_std"))
    covariance = scale * (posterior.model._kernel_with(x, x, weight_std, bias_std) + 0.05 * torch.eye(15, dtype=D))
    joint = torch.distributions.MultivariateNormal(torch.zeros(15, dtype=D), covariance).log_prob(y)
    torch.testing.assert_close(pointwise[0].sum(), joint)
    loaded = probnn.load(posterior.save(tmp_path / "nuts.safetensors"))
    torch.testing.assert_close(loaded.predict(x[:4]).mean, prediction.mean)
