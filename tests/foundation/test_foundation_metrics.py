"""probnn.metrics against closed forms, scipy and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn import metrics as skm

from probnn import metrics
from probnn.errors import InputError, InputTypeError
from probnn.predictive import CategoricalPredictive, GaussianPredictive, StudentTPredictive

DTYPE = torch.float64
RNG = np.random.default_rng(0)


def gaussian_case(n: int = 2000, scale_error: float = 1.0):
    mean = torch.as_tensor(RNG.normal(size=n))
    std = torch.as_tensor(RNG.uniform(0.5, 2.0, size=n))
    y = mean + std * scale_error * torch.as_tensor(RNG.normal(size=n))
    return GaussianPredictive(mean, std**2), y, mean, std


def test_nll_rmse_crps_closed_forms() -> None:
    pred, y, mean, std = gaussian_case(50)
    expected_nll = -stats.norm(mean.numpy(), std.numpy()).logpdf(y.numpy()).mean()
    assert metrics.negative_log_likelihood(pred, y) == pytest.approx(expected_nll, rel=1e-12)
    assert metrics.log_predictive_density(pred, y) == pytest.approx(-expected_nll, rel=1e-12)
    assert metrics.rmse(pred, y) == pytest.approx(math.sqrt(skm.mean_squared_error(y, mean)), rel=1e-12)
    z = ((y - mean) / std).numpy()
    crps = std.numpy() * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi))
    assert metrics.crps(pred, y) == pytest.approx(crps.mean(), rel=1e-12)


def test_calibrated_gaussian_has_nominal_coverage() -> None:
    pred, y, *_ = gaussian_case(4000)
    result = metrics.calibration(pred, y)
    for level, coverage in zip(result["levels"], result["coverage"]):
        # binomial standard error of an empirical coverage
        assert abs(coverage - level) < 5 * math.sqrt(level * (1 - level) / 4000)
    assert result["calibration_error"] < 0.02
    assert metrics.interval_coverage(pred, y, 0.9) == pytest.approx(result["coverage"][8])


def test_overconfident_predictive_is_miscalibrated() -> None:
    pred, y, *_ = gaussian_case(4000, scale_error=2.0)  # errors twice the predicted spread
    result = metrics.calibration(pred, y, levels=[0.5, 0.9])
    expected = [2 * stats.norm.cdf(stats.norm.ppf((1 + level) / 2) / 2) - 1 for level in (0.5, 0.9)]
    np.testing.assert_allclose(result["coverage"], expected, atol=0.03)
    assert result["calibration_error"] > 0.15


def test_pit_is_uniform_when_calibrated() -> None:
    pred, y, *_ = gaussian_case(3000)
    assert stats.kstest(metrics.probability_integral_transform(pred, y).numpy(), "uniform").pvalue > 1e-3


def test_student_t_metrics_use_its_closed_forms() -> None:
    loc = torch.as_tensor(RNG.normal(size=30))
    pred = StudentTPredictive(4.0, loc, torch.full((30,), 0.7, dtype=DTYPE))
    y = loc + torch.as_tensor(RNG.normal(size=30))
    expected = -stats.t(4.0, loc.numpy(), 0.7).logpdf(y.numpy()).mean()
    assert metrics.negative_log_likelihood(pred, y) == pytest.approx(expected, rel=1e-10)
    assert metrics.interval_coverage(pred, y, 0.5) == pytest.approx(
        float(((y - loc).abs() <= 0.7 * stats.t(4.0).ppf(0.75)).double().mean()))


def classification_case(n: int = 500, classes: int = 4):
    logits = torch.as_tensor(RNG.normal(size=(n, classes)) * 2)
    pred = CategoricalPredictive(logits=logits)
    labels = torch.multinomial(pred.probs, 1, generator=torch.Generator().manual_seed(0))[:, 0]
    return pred, labels


def test_classification_metrics_match_sklearn() -> None:
    pred, labels = classification_case()
    probs = pred.probs.numpy()
    assert metrics.accuracy(pred, labels) == pytest.approx(skm.accuracy_score(labels, probs.argmax(-1)))
    assert metrics.negative_log_likelihood(pred, labels) == pytest.approx(
        skm.log_loss(labels, probs, labels=range(4)), rel=1e-10)
    one_hot = np.eye(4)[labels.numpy()]
    assert metrics.brier_score(pred, labels) == pytest.approx(((probs - one_hot) ** 2).sum(-1).mean(), rel=1e-12)
    binary, binary_labels = classification_case(300, 2)
    # sklearn's binary Brier score is (p1 - y)^2; the multi-class sum counts both classes: twice that
    assert metrics.brier_score(binary, binary_labels) == pytest.approx(
        2 * skm.brier_score_loss(binary_labels, binary.probs[:, 1].numpy()), rel=1e-12)


def test_ece_brute_force_and_perfect_calibration() -> None:
    pred, labels = classification_case(800)
    confidence, predicted = pred.probs.max(-1)
    correct = (predicted == labels).double()
    total = 0.0
    for b in range(10):
        low, high = b / 10, (b + 1) / 10
        members = (confidence > low) & (confidence <= high)
        if members.any():
            total += members.double().mean() * abs(correct[members].mean() - confidence[members].mean())
    assert metrics.expected_calibration_error(pred, labels, num_bins=10) == pytest.approx(float(total), rel=1e-12)
    # labels drawn from the predictive itself: ECE is small (only sampling noise)
    assert metrics.expected_calibration_error(pred, labels) < 0.06
    confident_wrong = CategoricalPredictive(torch.tensor([[0.99, 0.01]] * 100, dtype=DTYPE))
    assert metrics.expected_calibration_error(confident_wrong, torch.ones(100, dtype=torch.long)) == pytest.approx(0.99)


def test_auroc_matches_sklearn_including_ties() -> None:
    negative = torch.as_tensor(RNG.integers(0, 5, size=200)).double()
    positive = torch.as_tensor(RNG.integers(1, 7, size=150)).double()
    labels = np.r_[np.zeros(200), np.ones(150)]
    expected = skm.roc_auc_score(labels, np.r_[negative.numpy(), positive.numpy()])
    assert metrics.auroc(negative, positive) == pytest.approx(expected, rel=1e-12)


def test_ood_auroc_from_entropy() -> None:
    confident = CategoricalPredictive(logits=torch.as_tensor(RNG.normal(size=(100, 3)) * 6))
    uncertain = CategoricalPredictive(logits=torch.as_tensor(RNG.normal(size=(80, 3)) * 0.3))
    expected = skm.roc_auc_score(np.r_[np.zeros(100), np.ones(80)],
                                 np.r_[confident.entropy().numpy(), uncertain.entropy().numpy()])
    value = metrics.ood_auroc(confident, uncertain)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value > 0.9
    assert metrics.ood_auroc(confident, confident) == pytest.approx(0.5)


def test_metric_inputs_are_validated() -> None:
    pred, y, *_ = gaussian_case(5)
    with pytest.raises(InputError, match="shape"):
        metrics.rmse(pred, y[:4])
    with pytest.raises(InputError, match="finite"):
        metrics.rmse(pred, torch.full((5,), math.nan, dtype=DTYPE))
    with pytest.raises(InputTypeError, match="floating point"):
        metrics.crps(pred, torch.zeros(5, dtype=torch.long))
    with pytest.raises(InputTypeError, match="CategoricalPredictive"):
        metrics.accuracy(pred, torch.zeros(5, dtype=torch.long))
    with pytest.raises(InputTypeError, match="Predictive"):
        metrics.rmse(y, y)
    with pytest.raises(InputError, match="level"):
        metrics.interval_coverage(pred, y, 1.2)
    cat, labels = classification_case(5, 3)
    with pytest.raises(InputError, match="labels in"):
        metrics.accuracy(cat, torch.full((5,), 3))
    with pytest.raises(InputError, match="num_bins"):
        metrics.expected_calibration_error(cat, labels, num_bins=0)
    with pytest.raises(InputError, match="at least one"):
        metrics.auroc(torch.zeros(0), torch.ones(3))


def test_bundles() -> None:
    pred, y, *_ = gaussian_case(100)
    bundle = metrics.regression_metrics(pred, y)
    assert set(bundle) >= {"nll", "rmse", "crps", "coverage_90", "calibration_error", "calibration"}
    cat, labels = classification_case(50, 3)
    assert set(metrics.classification_metrics(cat, labels)) == {"accuracy", "nll", "ece", "brier"}
