"""The regression calibration error reported by the SSVI benchmark (``benchmarks/bench_ssvi.py``).

It is computed from PIT values; these tests pin it to the library's interval-based
``probnn.metrics.calibration`` and to the closed form for a Gaussian predictive of the wrong width.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

import probnn
from probnn.predictive import GaussianPredictive, MixturePredictive

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_ssvi

LEVELS = [round(0.05 * k, 2) for k in range(1, 20)]


def test_pit_calibration_error_equals_the_interval_based_metric_on_a_mixture():
    generator = torch.Generator().manual_seed(0)
    means = torch.randn(30, 200, generator=generator, dtype=torch.float64)  # 30 components, 200 points
    variance = torch.full_like(means, 0.3**2)
    predictive = MixturePredictive(GaussianPredictive(means, variance))
    y = 1.3 * torch.randn(200, generator=generator, dtype=torch.float64)
    ours = bench_ssvi.regression_calibration_errors(predictive.cdf(y))["ece"]
    reference = probnn.metrics.calibration(predictive, y, levels=LEVELS)["calibration_error"]
    assert abs(ours - reference) < 1e-12
    assert torch.allclose(bench_ssvi.CALIBRATION_LEVELS, torch.tensor(LEVELS, dtype=torch.float64))


def test_calibration_errors_match_the_closed_form_for_a_too_narrow_gaussian():
    # y ~ N(0, 1), predictive N(0, c^2): the central p-interval +- c z_p covers 2 Phi(c z_p) - 1, and
    # P(y <= c z(p)) = Phi(c z(p)) for the one-sided version; n = 40,000 points, so each empirical
    # coverage has s.e. <= 0.5 / 200 = 0.0025 and the average over 19 levels is within 0.01 (4 s.e.).
    c, n = 0.5, 40_000
    y = torch.randn(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    predictive = GaussianPredictive(torch.zeros(n, dtype=torch.float64), torch.full((n,), c**2, dtype=torch.float64))
    errors = bench_ssvi.regression_calibration_errors(predictive.cdf(y))
    normal = torch.distributions.Normal(0.0, 1.0)
    levels = torch.tensor(LEVELS, dtype=torch.float64)
    central = (2 * normal.cdf(c * normal.icdf((1 + levels) / 2)) - 1 - levels).abs().mean()
    one_sided = (normal.cdf(c * normal.icdf(levels)) - levels).abs().mean()
    assert abs(errors["ece"] - float(central)) < 0.01
    assert abs(errors["ece_quantile"] - float(one_sided)) < 0.01


def test_noise_floor_of_a_calibrated_predictive_shrinks_like_one_over_root_n():
    # E|coverage - p| = sqrt(2 p (1 - p) / (pi n)) to leading order (normal approximation of a binomial).
    for n in (160, 640):
        mean, _ = bench_ssvi.calibration_noise_floor(n, num_draws=4000)
        expected = sum(math.sqrt(2 * p * (1 - p) / (math.pi * n)) for p in LEVELS) / len(LEVELS)
        assert abs(mean - expected) < 0.15 * expected
