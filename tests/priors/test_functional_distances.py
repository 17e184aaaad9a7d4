"""Distances between distributions of function values: closed forms and basic properties."""

import itertools
import math

import pytest
import torch

from probnn.errors import InputError
from probnn.priors.distances import (
    MMDDistance,
    SlicedWassersteinDistance,
    WassersteinDistance,
    estimate_wasserstein,
    gaussian_wasserstein_1d,
    make_distance,
    wasserstein_1d,
)


def test_wasserstein_1d_matches_sorted_samples_and_unequal_sizes():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(7, generator=generator, dtype=torch.float64)
    b = torch.randn(7, generator=generator, dtype=torch.float64) + 1.0
    expected = (a.sort().values - b.sort().values).abs().mean()
    assert torch.isclose(wasserstein_1d(a, b), expected)
    # Unequal sizes: duplicating every point of b leaves its empirical distribution unchanged.
    assert torch.isclose(wasserstein_1d(a, b.repeat_interleave(3)), expected)
    # A pure shift c between two copies of the same sample costs exactly |c|.
    assert torch.isclose(wasserstein_1d(a, a + 0.3), torch.tensor(0.3, dtype=torch.float64))


@pytest.mark.parametrize(("mean_b", "std_b"), [(0.7, 1.0), (0.0, 2.0), (1.0, 0.5)])
def test_empirical_wasserstein_converges_to_gaussian_closed_form(mean_b, std_b):
    generator = torch.Generator().manual_seed(1)
    n = 200_000
    a = torch.randn(n, generator=generator, dtype=torch.float64)
    b = mean_b + std_b * torch.randn(n, generator=generator, dtype=torch.float64)
    exact = gaussian_wasserstein_1d(0.0, 1.0, mean_b, std_b)
    # Empirical W1 between n-samples converges at rate ~ (std_a + std_b) / sqrt(n); 5 standard errors.
    tolerance = 5 * (1.0 + std_b) / math.sqrt(n)
    assert abs(float(wasserstein_1d(a, b)) - exact) < tolerance
    assert gaussian_wasserstein_1d(0.0, 1.0, 0.7, 1.0) == pytest.approx(0.7)


def test_critic_wasserstein_recovers_a_translation():
    # W1(p, p shifted by delta) = ||delta|| exactly (the optimal critic is linear). Five dimensions, not
    # one: in 1D a penalised critic cannot flip its slope's sign without crossing the penalty barrier.
    generator = torch.Generator().manual_seed(2)
    delta = torch.tensor([1.5, 0.0, 0.0, 0.0, 0.0])
    target = torch.randn(512, 5, generator=generator)
    model = torch.randn(512, 5, generator=generator) + delta
    distance = WassersteinDistance(num_initial_critic_steps=400, learning_rate=1e-2)
    estimate = float(distance(target, model, generator=3))
    # Sample means carry standard error sqrt(2/512) ~ 0.06 per direction; allow 4 of them and the
    # critic's slack from the soft Lipschitz constraint (the penalty lets |grad| exceed 1 slightly).
    assert 1.5 - 0.25 < estimate < 1.5 + 0.3


def test_held_out_wasserstein_has_no_floor_where_the_in_sample_estimate_has_one():
    # Two sample sets of the SAME distribution in 50 dimensions. A critic scored on its own training
    # samples separates them (in-sample floor > 0); scored on held-out samples its dual is an unbiased
    # estimate of E_p phi - E_p phi = 0, so it must lie within a few standard errors of zero.
    generator = torch.Generator().manual_seed(5)
    first, second = torch.randn(2, 1280, 50, generator=generator)
    in_sample = estimate_wasserstein(first[:256], second[:256], num_critic_steps=100, learning_rate=3e-3,
                                     generator=6)
    held_out, error = estimate_wasserstein(first[:256], second[:256], target_held_out=first[256:],
                                           model_held_out=second[256:], num_critic_steps=100, learning_rate=3e-3,
                                           return_standard_error=True, generator=6)
    assert 0 < error < 0.2
    assert abs(held_out) < 4 * error
    assert in_sample > held_out + 4 * error


def test_held_out_minibatch_wasserstein_recovers_a_translation():
    # W1(p, p + delta) = ||delta|| = 1.5; minibatches of 128 from pools of 1024, held-out dual on 2048.
    generator = torch.Generator().manual_seed(7)
    target = torch.randn(3072, 5, generator=generator)
    model = torch.randn(3072, 5, generator=generator) + torch.tensor([1.5, 0.0, 0.0, 0.0, 0.0])
    estimate, error = estimate_wasserstein(target[:1024], model[:1024], target_held_out=target[1024:],
                                           model_held_out=model[1024:], num_critic_steps=200, batch_size=128,
                                           learning_rate=1e-2, return_standard_error=True, generator=8)
    # Held-out standard error ~0.035; the rest of the band is the soft Lipschitz constraint's slack (the
    # penalty tolerates slopes slightly above 1, so the estimate sits a little above ||delta||).
    assert error < 0.06
    assert 1.5 - 0.25 < estimate < 1.5 + 0.35
    with pytest.raises(InputError, match="model_held_out"):
        estimate_wasserstein(target, model, target_held_out=target)
    with pytest.raises(InputError, match="batch_size"):
        estimate_wasserstein(target, model, batch_size=1)


def test_sliced_wasserstein_is_monotone_in_scale_mismatch():
    generator = torch.Generator().manual_seed(4)
    target = torch.randn(400, 20, generator=generator)
    noise = torch.randn(400, 20, generator=generator)
    distance = SlicedWassersteinDistance(num_projections=128)
    values = [float(distance(target, scale * noise, generator=5)) for scale in (1.0, 1.5, 2.0, 3.0)]
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    # Projections of N(0, s^2 I) are N(0, s^2): SW1 -> gaussian W1 = sqrt(2/pi) |s - 1| (sampling error ~0.1).
    assert values[-1] == pytest.approx(2 * math.sqrt(2 / math.pi), rel=0.1)


def test_mmd_is_zero_in_expectation_for_identical_distributions_and_positive_otherwise():
    generator = torch.Generator().manual_seed(6)
    distance = MMDDistance()
    same = torch.tensor([float(distance(torch.randn(100, 5, generator=generator),
                                        torch.randn(100, 5, generator=generator))) for _ in range(30)])
    standard_error = same.std() / math.sqrt(len(same))
    assert abs(float(same.mean())) < 4 * standard_error  # unbiased U-statistic: mean 0
    shifted = float(distance(torch.randn(100, 5, generator=generator), torch.randn(100, 5, generator=generator) + 1))
    assert shifted > float(same.mean()) + 10 * float(same.std())


@pytest.mark.parametrize("name", ["wasserstein", "sliced_wasserstein", "mmd"])
def test_distances_are_differentiable_in_model_samples(name):
    generator = torch.Generator().manual_seed(7)
    target = torch.randn(64, 10, generator=generator)
    model = (2 * torch.randn(64, 10, generator=generator)).requires_grad_(True)
    distance = make_distance(name, **({"num_initial_critic_steps": 20} if name == "wasserstein" else {}))
    value = distance(target, model, generator=0)
    (gradient,) = torch.autograd.grad(value, model)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0


def test_distance_input_checks():
    with pytest.raises(InputError, match="same measurement set"):
        SlicedWassersteinDistance()(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(InputError, match="distance must be one of"):
        make_distance("kl")
