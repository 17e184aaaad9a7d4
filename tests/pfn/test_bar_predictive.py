"""BarPredictive (full-support Riemann distribution) against numerical integration and Monte Carlo."""

from __future__ import annotations

import math

import pytest
import torch

from probnn.errors import InputError
from probnn.predictive import MixturePredictive
from probnn.predictive.bar import HALF_NORMAL_MEDIAN, BarPredictive, quantile_borders

# Quadrature far into both tails: the tail half-normal scales are < 2 (widths <= 1.2, / 0.674), so
# +-40 holds all but ~1e-80 of the mass. Midpoint rule on each piece between breakpoints (the
# bucket borders and the points where the cdf is checked), 20000 nodes per piece: the density is
# smooth on each piece, so the error is O(h^2) <~ 1e-7 (h <= 2e-3).
LIMIT = 40.0
CHECK_POINTS = (-25.0, -7.0, -4.9, -2.0, 0.3, 3.0, 9.0, 30.0)


def _bar(seed: int = 0, batch: int = 3, buckets: int = 12) -> BarPredictive:
    generator = torch.Generator().manual_seed(seed)
    borders = torch.cumsum(0.2 + torch.rand(buckets + 1, generator=generator, dtype=torch.float64), 0) - 5.0
    logits = 2 * torch.randn(batch, buckets, generator=generator, dtype=torch.float64)
    logits[:, 0] += 1.5     # heavy tails so that tail mistakes are visible
    logits[:, -1] += 1.0
    return BarPredictive(logits, borders)


def _quadrature(bar: BarPredictive, extra=()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Nodes ``[m]``, weights ``[m]`` and density ``[m, batch]`` (borders shared across the batch)."""
    points = torch.cat([bar.borders[0], torch.tensor([-LIMIT, LIMIT, *extra], dtype=torch.float64)])
    points = torch.unique(points)
    fractions = (torch.arange(20000, dtype=torch.float64) + 0.5) / 20000
    nodes = (points[:-1, None] + fractions * points.diff()[:, None]).reshape(-1)
    weights = (points.diff()[:, None] / 20000).expand(-1, 20000).reshape(-1)
    expanded = BarPredictive(bar.logits.expand(len(nodes), *bar.logits.shape), bar.borders[0])
    density = expanded.log_prob(nodes.unsqueeze(-1).expand(-1, *bar.batch_shape)).exp()
    return nodes, weights, density


def _integrate(bar: BarPredictive, function) -> torch.Tensor:
    nodes, weights, density = _quadrature(bar)
    return (weights.unsqueeze(-1) * density * function(nodes).unsqueeze(-1)).sum(0)


def test_density_integrates_to_one_and_is_not_reciprocal():
    bar = _bar()
    total = _integrate(bar, torch.ones_like)
    torch.testing.assert_close(total, torch.ones(3, dtype=torch.float64), atol=1e-6, rtol=1e-6)
    # an interior point: density = p_k / w_k exactly (the public code once returned 1/p)
    k = 5
    middle = 0.5 * (bar.borders[0, k] + bar.borders[0, k + 1])
    expected = bar.probs[:, k] / bar.widths[0, k]
    torch.testing.assert_close(bar.log_prob(middle.expand(3)).exp(), expected)


def test_cdf_matches_integrated_density_in_tails_and_interior():
    bar = _bar(seed=1)
    nodes, weights, density = _quadrature(bar, CHECK_POINTS)
    for value in CHECK_POINTS:
        expected = (weights.unsqueeze(-1) * density * (nodes < value).double().unsqueeze(-1)).sum(0)
        torch.testing.assert_close(bar.cdf(torch.full((3,), value, dtype=torch.float64)), expected, atol=1e-6,
                                   rtol=0)


def test_quantile_inverts_cdf_everywhere_including_tails():
    bar = _bar(seed=2)
    levels = torch.tensor([1e-6, 1e-3, 0.01, 0.2, 0.5, 0.77, 0.99, 0.999, 1 - 1e-6], dtype=torch.float64)
    values = bar.quantile(levels)
    assert values.shape == (9, 3)
    for row, level in zip(values, levels):
        torch.testing.assert_close(bar.cdf(row), level.expand(3), atol=1e-9, rtol=1e-7)
    assert bool((values[0] < bar.borders[..., 1]).all()) and bool((values[-1] > bar.borders[..., -2]).all())


def test_mean_and_variance_match_numerical_integration():
    bar = _bar(seed=3)
    mean = _integrate(bar, lambda y: y)
    second = _integrate(bar, lambda y: y**2)     # E[y^2] (the public code once got this wrong)
    torch.testing.assert_close(bar.mean, mean, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(bar.variance, second - mean**2, atol=1e-6, rtol=0)


def test_samples_follow_the_distribution_including_tails():
    bar = _bar(seed=4)
    draws = bar.sample(200_000, generator=0)
    assert draws.shape == (200_000, 3)
    # Mean within 5 Monte Carlo standard errors.
    error = (draws.mean(0) - bar.mean).abs()
    assert bool((error < 5 * (bar.variance / 200_000).sqrt()).all())
    # Empirical cdf at tail and interior points within 5 binomial standard errors.
    for value in (-8.0, -4.0, 0.0, 4.0, 10.0):
        probability = bar.cdf(torch.full((3,), value, dtype=torch.float64))
        empirical = (draws <= value).double().mean(0)
        standard_error = (probability * (1 - probability) / 200_000).sqrt().clamp_min(1e-4)
        assert bool(((empirical - probability).abs() < 5 * standard_error).all()), value
    # Tails are really sampled: mass beyond the outer borders appears at the predicted rate.
    outside = (draws < bar.borders[..., 0]).double().mean(0)
    expected = bar.cdf(bar.borders[..., 0])
    assert bool((expected > 0.01).all()) and bool(((outside - expected).abs() < 0.01).all())
    assert torch.equal(bar.sample(10, generator=5), bar.sample(10, generator=5))


@pytest.mark.parametrize("best", [-30.0, -6.0, -4.2, 0.0, 2.5, 8.0, 25.0])
def test_expected_and_probability_of_improvement_match_integration(best):
    bar = _bar(seed=5)
    nodes, weights, density = _quadrature(bar, (best,))

    def integral(values):
        return (weights.unsqueeze(-1) * density * values.unsqueeze(-1)).sum(0)

    torch.testing.assert_close(bar.expected_improvement(best), integral((nodes - best).clamp_min(0)), atol=1e-6,
                               rtol=0)
    torch.testing.assert_close(bar.expected_improvement(best, maximize=False), integral((best - nodes).clamp_min(0)),
                               atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(bar.probability_of_improvement(best), integral((nodes > best).double()), atol=1e-6,
                               rtol=0)


def test_upper_confidence_bound_and_tail_scale():
    bar = _bar(seed=6)
    torch.testing.assert_close(bar.upper_confidence_bound(4.0), bar.mean + 2 * bar.stddev)
    torch.testing.assert_close(bar.upper_confidence_bound(4.0, maximize=False), bar.mean - 2 * bar.stddev)
    # Half of the left tail's mass lies inside the original edge bucket (median = width).
    inside = bar.cdf(bar.borders[..., 1]) - bar.cdf(bar.borders[..., 0])
    torch.testing.assert_close(inside, 0.5 * bar.probs[..., 0])
    assert pytest.approx(torch.special.ndtri(torch.tensor(0.75, dtype=torch.float64)).item()) == HALF_NORMAL_MEDIAN


def test_affine_is_exact_and_select_mixes():
    bar = _bar(seed=7)
    moved = bar.affine(torch.tensor([1.0, -2.0, 0.5]), torch.tensor([2.0, 0.5, 3.0]))
    y = torch.tensor([0.3, -1.0, 7.0], dtype=torch.float64)
    shift, scale = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([2.0, 0.5, 3.0])
    torch.testing.assert_close(moved.log_prob(y), bar.log_prob((y - shift) / scale) - torch.log(scale).double())
    torch.testing.assert_close(moved.mean, shift + scale * bar.mean)
    torch.testing.assert_close(moved.variance, scale.double() ** 2 * bar.variance)
    mixture = MixturePredictive(bar)                      # 3 components, equal weights, batch ()
    assert mixture.batch_shape == ()
    point = torch.tensor(0.1, dtype=torch.float64)
    expected = torch.logsumexp(bar.log_prob(point.expand(3)), 0) - math.log(3)
    torch.testing.assert_close(mixture.log_prob(point), expected)
    assert bar.select(torch.tensor([2, 0])).batch_shape == (2,)


def test_quantile_borders_and_validation():
    samples = torch.randn(100_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    borders = quantile_borders(samples, 100)
    assert borders.shape == (101,) and bool((borders.diff() > 0).all())
    counts = torch.histogram(samples, borders).hist
    assert counts.min() >= 900 and counts.max() <= 1100   # equal prior mass per bucket
    ties = quantile_borders(torch.cat([torch.zeros(5000), torch.randn(5000)]).double(), 20)
    assert bool((ties.diff() > 0).all())
    with pytest.raises(InputError, match="borders"):
        BarPredictive(torch.zeros(3, 4), torch.tensor([0.0, 1.0, 1.0, 2.0, 3.0]))
    with pytest.raises(InputError, match="K \\+ 1"):
        BarPredictive(torch.zeros(3, 4), torch.linspace(0, 1, 4))
