"""Every Predictive kind against scipy, closed forms, numerical integration and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from probnn.errors import InputError, UnsupportedOperationError
from probnn.predictive import (
    AffinePredictive,
    CategoricalPredictive,
    GaussianPredictive,
    MixturePredictive,
    Predictive,
    StudentTPredictive,
)
from probnn.predictive.base import _sample_crps

DTYPE = torch.float64
LOC = torch.tensor([-1.0, 0.0, 2.5], dtype=DTYPE)
SCALE = torch.tensor([0.5, 1.0, 3.0], dtype=DTYPE)
Y = torch.tensor([-0.3, 1.7, -4.0], dtype=DTYPE)


def numerical_crps(cdf, y: float, low: float, high: float) -> float:
    """CRPS(F, y) = int (F(t) - 1{t >= y})^2 dt by quadrature, split at y."""
    left = integrate.quad(lambda t: cdf(t) ** 2, low, y, limit=200)[0]
    right = integrate.quad(lambda t: (1 - cdf(t)) ** 2, y, high, limit=200)[0]
    return left + right


def gaussian() -> GaussianPredictive:
    return GaussianPredictive(LOC, SCALE**2)


def student(df: float = 4.0) -> StudentTPredictive:
    return StudentTPredictive(df, LOC, SCALE)


def mixture() -> MixturePredictive:
    means = torch.tensor([[-1.0, 0.0, 1.0], [1.0, 0.5, 4.0], [0.0, -2.0, 2.0]], dtype=DTYPE)
    variances = torch.tensor([[0.3, 1.0, 2.0], [0.5, 0.2, 1.0], [1.0, 1.5, 0.7]], dtype=DTYPE)
    return MixturePredictive(GaussianPredictive(means, variances),
                             torch.log(torch.tensor([0.2, 0.5, 0.3], dtype=DTYPE)))


def scipy_mixture():
    means = np.array([[-1.0, 0.0, 1.0], [1.0, 0.5, 4.0], [0.0, -2.0, 2.0]])
    stds = np.sqrt(np.array([[0.3, 1.0, 2.0], [0.5, 0.2, 1.0], [1.0, 1.5, 0.7]]))
    weights = np.array([0.2, 0.5, 0.3])
    return means, stds, weights


# ---------------------------------------------------------------------------- Gaussian
def test_gaussian_matches_scipy() -> None:
    pred, reference = gaussian(), stats.norm(LOC.numpy(), SCALE.numpy())
    np.testing.assert_allclose(pred.log_prob(Y), reference.logpdf(Y.numpy()), rtol=1e-12)
    np.testing.assert_allclose(pred.cdf(Y), reference.cdf(Y.numpy()), rtol=1e-12)
    np.testing.assert_allclose(pred.quantile(0.83), reference.ppf(0.83), rtol=1e-12)
    low, high = pred.interval(0.9)
    np.testing.assert_allclose(low, reference.ppf(0.05), rtol=1e-12)
    np.testing.assert_allclose(high, reference.ppf(0.95), rtol=1e-12)
    np.testing.assert_allclose(pred.mean, LOC)
    np.testing.assert_allclose(pred.variance, SCALE**2)
    np.testing.assert_allclose(pred.stddev, SCALE)
    levels = torch.tensor([0.01, 0.5, 0.99], dtype=DTYPE)
    np.testing.assert_allclose(pred.quantile(levels), reference.ppf(levels.numpy()[:, None]), rtol=1e-12)


def test_gaussian_crps_closed_form_matches_quadrature() -> None:
    pred = gaussian()
    closed = pred.crps(Y)
    for i in range(3):
        cdf = stats.norm(float(LOC[i]), float(SCALE[i])).cdf
        expected = numerical_crps(cdf, float(Y[i]), float(LOC[i] - 40 * SCALE[i]), float(LOC[i] + 40 * SCALE[i]))
        assert float(closed[i]) == pytest.approx(expected, rel=1e-7)


# ---------------------------------------------------------------------------- Student-t
@pytest.mark.parametrize("df", [1.5, 3.0, 7.0])
def test_student_t_matches_scipy(df: float) -> None:
    pred, reference = student(df), stats.t(df, LOC.numpy(), SCALE.numpy())
    np.testing.assert_allclose(pred.log_prob(Y), reference.logpdf(Y.numpy()), rtol=1e-11)
    np.testing.assert_allclose(pred.cdf(Y), reference.cdf(Y.numpy()), rtol=1e-11)
    np.testing.assert_allclose(pred.quantile(0.2), reference.ppf(0.2), rtol=1e-11)
    low, high = pred.interval(0.8)
    np.testing.assert_allclose(low, reference.ppf(0.1), rtol=1e-10)
    np.testing.assert_allclose(high, reference.ppf(0.9), rtol=1e-10)
    np.testing.assert_allclose(pred.mean, reference.mean())
    if df > 2:
        np.testing.assert_allclose(pred.variance, reference.var(), rtol=1e-12)
    else:
        assert bool(torch.isinf(pred.variance).all())


@pytest.mark.parametrize("df", [1.5, 3.0, 7.0])
def test_student_t_crps_closed_form_matches_quadrature(df: float) -> None:
    closed = student(df).crps(Y)
    for i in range(3):
        cdf = stats.t(df, float(LOC[i]), float(SCALE[i])).cdf
        # heavy tails: integrate far out (the integrand decays like |t|^(-2 df))
        expected = numerical_crps(cdf, float(Y[i]), -np.inf, np.inf)
        assert float(closed[i]) == pytest.approx(expected, rel=1e-6)


def test_student_t_without_mean_has_infinite_crps_and_nan_mean() -> None:
    pred = student(0.8)
    assert bool(torch.isnan(pred.mean).all())
    assert bool(torch.isinf(pred.crps(Y)).all())


def test_student_t_approaches_gaussian_for_large_df() -> None:
    np.testing.assert_allclose(student(1e7).log_prob(Y), gaussian().log_prob(Y), rtol=1e-6)
    np.testing.assert_allclose(student(1e7).crps(Y), gaussian().crps(Y), rtol=1e-6)


# ---------------------------------------------------------------------------- Mixture
def test_mixture_against_brute_force() -> None:
    pred = mixture()
    means, stds, weights = scipy_mixture()
    y = Y.numpy()
    density = (weights[:, None] * stats.norm(means, stds).pdf(y[None])).sum(0)
    cdf = (weights[:, None] * stats.norm(means, stds).cdf(y[None])).sum(0)
    mean = (weights[:, None] * means).sum(0)
    second = (weights[:, None] * (stds**2 + means**2)).sum(0)
    np.testing.assert_allclose(pred.log_prob(Y), np.log(density), rtol=1e-12)
    np.testing.assert_allclose(pred.cdf(Y), cdf, rtol=1e-12)
    np.testing.assert_allclose(pred.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(pred.variance, second - mean**2, rtol=1e-12)
    assert pred.effective_sample_size == pytest.approx(1 / (weights**2).sum())
    # generic bisection quantile inverts the brute-force CDF
    for level in (0.05, 0.5, 0.95):
        q = pred.quantile(level).numpy()
        np.testing.assert_allclose((weights[:, None] * stats.norm(means, stds).cdf(q[None])).sum(0), level,
                                   atol=1e-12)


def test_mixture_sample_crps_close_to_quadrature() -> None:
    pred = mixture()
    means, stds, weights = scipy_mixture()
    estimate = pred.crps(Y)
    draws = pred.sample(2000, generator=0)
    for i in range(3):
        def cdf(t: float, i: int = i) -> float:
            return float((weights * stats.norm(means[:, i], stds[:, i]).cdf(t)).sum())

        expected = numerical_crps(cdf, float(Y[i]), -30.0, 30.0)
        # the sample CRPS is unbiased; its standard error is below std(|X - y|) / sqrt(m)
        tolerance = 5 * float((draws[:, i] - Y[i]).abs().std()) / math.sqrt(2000)
        assert float(estimate[i]) == pytest.approx(expected, abs=tolerance)


def test_mixture_weights_validated() -> None:
    components = GaussianPredictive(torch.zeros(2, 3, dtype=DTYPE), torch.ones(2, 3, dtype=DTYPE))
    with pytest.raises(InputError, match="log_weights"):
        MixturePredictive(components, torch.zeros(3, dtype=DTYPE))
    with pytest.raises(InputError, match="NaN"):
        MixturePredictive(components, torch.tensor([math.nan, 0.0], dtype=DTYPE))
    with pytest.raises(InputError, match="leading mixture"):
        MixturePredictive(GaussianPredictive(torch.zeros(()), torch.ones(())))


def test_mixture_of_student_t_matches_brute_force() -> None:
    loc = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=DTYPE)
    pred = MixturePredictive(StudentTPredictive(3.0, loc, torch.ones_like(loc)))
    y = torch.tensor([0.5, 0.0], dtype=DTYPE)
    expected = np.log(0.5 * stats.t(3.0, loc.numpy()).pdf(y.numpy()[None]).sum(0))
    np.testing.assert_allclose(pred.log_prob(y), expected, rtol=1e-11)


# ---------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("make", [gaussian, lambda: student(5.0), mixture])
def test_sample_moments_within_monte_carlo_error(make) -> None:
    pred: Predictive = make()
    num = 40_000
    draws = pred.sample(num, generator=123)
    assert draws.shape == (num, 3)
    # mean: z-score of the sample mean against the exact mean; 5 standard errors
    standard_error = pred.stddev / math.sqrt(num)
    assert bool(((draws.mean(0) - pred.mean).abs() < 5 * standard_error).all())
    # variance: standard error of the sample variance is sqrt((mu4 - sigma^4) / n); use the sample mu4
    centred = draws - pred.mean
    mu4 = (centred**4).mean(0)
    variance_error = torch.sqrt((mu4 - pred.variance**2).clamp_min(0) / num)
    assert bool(((centred**2).mean(0) - pred.variance).abs().lt(5 * variance_error).all())


@pytest.mark.parametrize("make", [gaussian, lambda: student(5.0), mixture,
                                  lambda: CategoricalPredictive(torch.tensor([[0.2, 0.8], [0.5, 0.5]]))])
def test_sampling_is_reproducible_with_a_seed(make) -> None:
    pred = make()
    assert torch.equal(pred.sample(50, generator=7), pred.sample(50, generator=7))
    assert not torch.equal(pred.sample(50, generator=7), pred.sample(50, generator=8))
    first = pred.sample(20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, pred.sample(20, generator=3))


def test_samples_follow_the_cdf() -> None:
    """Kolmogorov-Smirnov: samples of each kind come from its own CDF."""
    for pred in (gaussian(), student(3.0), mixture()):
        draws = pred.sample(4000, generator=1)
        for i in range(3):
            def cdf(t, i=i, pred=pred):
                values = torch.as_tensor(np.asarray(t), dtype=DTYPE)
                full = torch.zeros(len(values), 3, dtype=DTYPE)
                full[:, i] = values
                return pred.cdf(full)[:, i].numpy()

            assert stats.kstest(draws[:, i].numpy(), cdf).pvalue > 1e-4


def test_sample_crps_estimator_is_exact_on_small_sets() -> None:
    """The O(m log m) sorted form equals the O(m^2) pairwise definition."""
    draws = torch.tensor([[0.3], [-1.2], [2.0], [0.7]], dtype=DTYPE)
    y = torch.tensor([0.1], dtype=DTYPE)
    m = draws.shape[0]
    pairwise = sum(abs(float(a - b)) for a in draws[:, 0] for b in draws[:, 0]) / (m * (m - 1))
    expected = float((draws[:, 0] - y).abs().mean()) - 0.5 * pairwise
    assert float(_sample_crps(draws, y)[0]) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------- Affine
@pytest.mark.parametrize("make", [gaussian, lambda: student(4.0), mixture])
def test_affine_transform_of_every_kind(make) -> None:
    base = make()
    shift, scale = 3.0, 2.5
    pred = base.affine(shift, scale)
    assert isinstance(pred, AffinePredictive)
    y = shift + scale * Y
    np.testing.assert_allclose(pred.log_prob(y), base.log_prob(Y) - math.log(scale), rtol=1e-12)
    np.testing.assert_allclose(pred.cdf(y), base.cdf(Y), rtol=1e-12)
    np.testing.assert_allclose(pred.mean, shift + scale * base.mean, rtol=1e-12)
    np.testing.assert_allclose(pred.variance, scale**2 * base.variance, rtol=1e-12)
    np.testing.assert_allclose(pred.quantile(0.3), shift + scale * base.quantile(0.3), rtol=1e-9)
    np.testing.assert_allclose(pred.crps(y), scale * base.crps(Y), rtol=1e-9)
    np.testing.assert_allclose(pred.sample(10, generator=0), shift + scale * base.sample(10, generator=0))


def test_affine_of_gaussian_is_the_gaussian_in_new_units() -> None:
    pred = gaussian().affine(1.0, 2.0)
    direct = GaussianPredictive(1.0 + 2.0 * LOC, (2.0 * SCALE) ** 2)
    for method in ("log_prob", "cdf", "crps"):
        np.testing.assert_allclose(getattr(pred, method)(Y), getattr(direct, method)(Y), rtol=1e-12)


def test_affine_rejects_bad_scale() -> None:
    for scale in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(InputError, match="scale"):
            gaussian().affine(0.0, scale)


# ---------------------------------------------------------------------------- Categorical
def test_categorical_log_prob_mean_and_entropy() -> None:
    probs = torch.tensor([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]], dtype=DTYPE)
    pred = CategoricalPredictive(probs)
    labels = torch.tensor([2, 1])
    np.testing.assert_allclose(pred.log_prob(labels), np.log([0.5, 0.05]), rtol=1e-12)
    np.testing.assert_allclose(pred.mean, probs)
    np.testing.assert_allclose(pred.variance, probs * (1 - probs))
    np.testing.assert_allclose(pred.entropy(), stats.entropy(probs.numpy(), axis=-1), rtol=1e-12)
    assert pred.predicted_class().tolist() == [2, 0]
    logits = CategoricalPredictive(logits=torch.log(probs) + 4.0)
    np.testing.assert_allclose(logits.probs, probs, rtol=1e-12)


def test_categorical_sample_frequencies() -> None:
    probs = torch.tensor([[0.2, 0.3, 0.5]], dtype=DTYPE)
    draws = CategoricalPredictive(probs).sample(30_000, generator=0)[:, 0]
    frequencies = torch.bincount(draws, minlength=3).to(DTYPE) / 30_000
    standard_error = torch.sqrt(probs[0] * (1 - probs[0]) / 30_000)
    assert bool(((frequencies - probs[0]).abs() < 5 * standard_error).all())


def test_categorical_rejects_ordered_operations_and_bad_input() -> None:
    pred = CategoricalPredictive(torch.tensor([[0.5, 0.5]]))
    for operation in (lambda: pred.cdf(torch.zeros(1)), lambda: pred.quantile(0.5), lambda: pred.interval(0.9),
                      lambda: pred.crps(torch.zeros(1)), lambda: pred.affine(0.0, 1.0)):
        with pytest.raises(UnsupportedOperationError):
            operation()
    with pytest.raises(InputError, match="sum to 1"):
        CategoricalPredictive(torch.tensor([[0.5, 0.6]]))
    with pytest.raises(InputError, match="exactly one"):
        CategoricalPredictive()
    with pytest.raises(InputError, match="labels in"):
        pred.log_prob(torch.tensor([2]))
    with pytest.raises(InputError, match="integer"):
        pred.log_prob(torch.tensor([0.5]))


# ---------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("level", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_bad_levels_raise(level: float) -> None:
    with pytest.raises(InputError):
        gaussian().interval(level)
    with pytest.raises(InputError):
        student(3.0).quantile(level)


def test_wrong_shape_targets_raise() -> None:
    with pytest.raises(InputError, match="shape"):
        gaussian().log_prob(torch.zeros(4, dtype=DTYPE))
    with pytest.raises(InputError, match="num_samples"):
        gaussian().sample(0)
