"""Neural processes: shapes, permutation invariance, the MPNP mixture and loss, seeding, save/load."""

from __future__ import annotations

import math

import pytest
import torch

import probnn
from probnn.datasets.tasks import sample_task_batch, uniform_inputs
from probnn.errors import InputError, MethodError
from probnn.models.neural_process import (
    CNP,
    MPANP,
    MPNP,
    AttentiveCNP,
    LatentNP,
    NeuralProcessPosterior,
    RandomKernelGP,
)
from probnn.models.neural_process.base import gaussian_log_prob, log_mean_exp
from probnn.predictive import GaussianPredictive, MixturePredictive

WIDTH = 16
ALL_MODELS = [CNP, AttentiveCNP, LatentNP, MPNP, MPANP]


def small(cls, **options):
    torch.manual_seed(0)
    if cls in (MPNP, MPANP, AttentiveCNP):
        options.setdefault("heads", 4)
    return cls(width=WIDTH, num_samples=7, **options)


@pytest.fixture(scope="module")
def batch():
    return sample_task_batch(RandomKernelGP("rbf"), batch_size=3, num_context=6, num_target=5,
                             input_sampler=uniform_inputs(-2.0, 2.0), generator=0)


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(1)
    x = 4 * torch.rand(8, 1, generator=generator, dtype=torch.float64) - 2
    return x, torch.sin(3 * x[:, 0])


@pytest.mark.parametrize("cls", ALL_MODELS)
def test_shapes_and_predictive_kinds(cls, batch, data):
    model = small(cls)
    loss = model.loss(batch, generator=torch.Generator().manual_seed(0))
    assert loss.shape == () and torch.isfinite(loss)
    context_ll, target_ll = model.log_likelihood(batch, generator=0)
    assert context_ll.shape == (3, 6) and target_ll.shape == (3, 5)
    x, y = data
    posterior = probnn.fit(model, x, y, method="condition", generator=0)
    assert isinstance(posterior, NeuralProcessPosterior)
    queries = torch.linspace(-2, 2, 11, dtype=torch.float64).unsqueeze(-1)
    predictive = posterior.predict(queries)
    assert predictive.batch_shape == (11,)
    assert predictive.mean.dtype == torch.float64
    if model.stochastic:
        assert isinstance(predictive, MixturePredictive) and posterior.num_components == 7
    else:
        assert isinstance(predictive, GaussianPredictive) and posterior.num_components == 1
    functions = model.sample_prior_functions(queries, 4, generator=0)
    assert functions.shape == (4, 11, 1)


@pytest.mark.parametrize("cls", ALL_MODELS)
def test_predictions_invariant_to_context_order(cls, data):
    model = small(cls)
    x, y = data
    permutation = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))
    queries = torch.linspace(-2, 2, 9, dtype=torch.float64).unsqueeze(-1)
    first = probnn.fit(model, x, y, method="condition", generator=5).predict(queries)
    second = probnn.fit(model, x[permutation], y[permutation], method="condition", generator=5).predict(queries)
    torch.testing.assert_close(first.mean, second.mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(first.variance, second.variance, rtol=1e-5, atol=1e-5)


def test_generator_is_invariant_to_context_order(batch):
    generator_module = small(MPNP).pseudo_generator
    permutation = torch.randperm(batch.x_context.shape[1], generator=torch.Generator().manual_seed(0))
    x, y = batch.x_context.float(), batch.y_context.float()
    first = generator_module(x, y, 3, generator=torch.Generator().manual_seed(9))
    second = generator_module(x[:, permutation], y[:, permutation], 3, generator=torch.Generator().manual_seed(9))
    for a, b in zip(first, second):
        assert a.shape[:3] == (3, 3, 6)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # different noise gives different pseudo-contexts (the generator is not degenerate at initialisation)
    third = generator_module(x, y, 3, generator=torch.Generator().manual_seed(10))
    assert not torch.allclose(first[1], third[1])


@pytest.mark.parametrize("cls", [MPNP, MPANP])
def test_mixture_over_pseudo_sets_is_exact(cls, data):
    """The predictive equals (1/K) sum_k N(y; mu(x, C u P_k), sigma^2) computed set by set."""
    model = small(cls)
    x, y = data
    posterior = probnn.fit(model, x, y, method="condition", num_samples=5, generator=2)
    queries = torch.linspace(-2, 2, 6, dtype=torch.float64).unsqueeze(-1)
    targets = torch.linspace(-1, 1, 6, dtype=torch.float64)
    predictive = posterior.predict(queries)
    x_context, y_context = x.float().unsqueeze(0), y.float()[None, :, None]
    log_probs, means = [], []
    with torch.no_grad():
        for k in range(5):
            x_set = torch.cat([x_context, posterior.draws["x_pseudo"][k]], dim=1)
            y_set = torch.cat([y_context, posterior.draws["y_pseudo"][k]], dim=1)
            mean, std = model.network(x_set, y_set, queries.float().unsqueeze(0))
            means.append(mean[0, :, 0].double())
            log_probs.append(gaussian_log_prob(targets, mean[0, :, 0].double(), std[0, :, 0].double()))
    expected = log_mean_exp(torch.stack(log_probs), 0)
    torch.testing.assert_close(predictive.log_prob(targets), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(predictive.mean, torch.stack(means).mean(0), rtol=1e-5, atol=1e-5)


def test_mpnp_loss_terms(batch):
    model = small(MPNP)
    terms = model.loss_terms(batch, generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"cnp", "marginal", "pseudo"}
    total = model.loss(batch, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(total, sum(terms.values()))
    ablation = small(MPNP, pseudo_loss=False)
    assert set(ablation.loss_terms(batch, generator=torch.Generator().manual_seed(0))) == {"cnp", "marginal"}
    # The marginal term by hand: -(1/|D|) log (1/K) sum_k exp sum_i log p(y_i | x_i, C u P_k).
    generator = torch.Generator().manual_seed(4)
    terms = model.loss_terms(batch, generator=generator)
    draws = model.draw(batch.x_context.float(), batch.y_context.float(), model.num_train_sets,
                       generator=torch.Generator().manual_seed(4))
    mean, std = model.decode(batch.x_context.float(), batch.y_context.float(), draws, batch.x_all.float())
    joint = gaussian_log_prob(batch.y_all.float().unsqueeze(0), mean, std).sum((2, 3))
    expected = -(log_mean_exp(joint, 0) / batch.x_all.shape[1]).mean()
    torch.testing.assert_close(terms["marginal"], expected, rtol=1e-5, atol=1e-5)


def test_mixture_log_prob_is_at_least_mean_component_log_prob(batch):
    """Jensen: log mean_k p_k >= mean_k log p_k, pointwise, for the MPNP predictive."""
    model = small(MPNP)
    generator = torch.Generator().manual_seed(0)
    x_context, y_context, x_all = batch.x_context.float(), batch.y_context.float(), batch.x_all.float()
    with torch.no_grad():
        draws = model.draw(x_context, y_context, 6, generator=generator)
        mean, std = model.decode(x_context, y_context, draws, x_all)
        predictive = model.predictive(x_context, y_context, x_all, draws=draws)
    component = gaussian_log_prob(batch.y_all.float().unsqueeze(0), mean, std)[..., 0].double()
    assert bool((predictive.log_prob(batch.y_all[..., 0]) >= component.mean(0) - 1e-6).all())


@pytest.mark.parametrize("cls", ALL_MODELS)
def test_seeded_reproducibility(cls, data):
    model = small(cls)
    x, y = data
    queries = torch.linspace(-2, 2, 5, dtype=torch.float64).unsqueeze(-1)
    first = probnn.fit(model, x, y, method="condition", generator=11).predict(queries)
    again = probnn.fit(model, x, y, method="condition", generator=11).predict(queries)
    torch.testing.assert_close(first.mean, again.mean, rtol=0, atol=0)
    torch.testing.assert_close(first.variance, again.variance, rtol=0, atol=0)
    other = probnn.fit(model, x, y, method="condition", generator=12).predict(queries)
    assert torch.equal(first.mean, other.mean) != model.stochastic


@pytest.mark.parametrize("cls", ALL_MODELS)
def test_save_load_round_trip(cls, data, tmp_path):
    model = small(cls)
    x, y = data
    posterior = probnn.fit(model, x, y, method="condition", generator=0)
    queries = torch.linspace(-2, 2, 5, dtype=torch.float64).unsqueeze(-1)
    loaded = probnn.load(posterior.save(tmp_path / "posterior"))
    torch.testing.assert_close(loaded.predict(queries).mean, posterior.predict(queries).mean, rtol=0, atol=0)
    torch.testing.assert_close(loaded.predict(queries).variance, posterior.predict(queries).variance, rtol=0, atol=0)
    reloaded_model = probnn.load(model.save(tmp_path / "model"))
    assert type(reloaded_model) is cls and reloaded_model.config() == model.config()
    again = probnn.fit(reloaded_model, x, y, method="condition", generator=0).predict(queries)
    torch.testing.assert_close(again.mean, posterior.predict(queries).mean, rtol=0, atol=0)


def test_bad_inputs_are_named(data):
    x, y = data
    with pytest.raises(InputError, match="features"):
        probnn.fit(CNP(num_features=2, width=WIDTH), x, y, method="condition")
    with pytest.raises(MethodError, match="condition"):
        probnn.fit(CNP(width=WIDTH), x, y, method="exact")
    with pytest.raises(InputError, match="num_train_sets"):
        MPNP(num_train_sets=0)
    with pytest.raises(InputError, match="width"):
        CNP(width=0)


def test_empty_context_gives_the_prior_predictive():
    model = small(MPNP)
    queries = torch.linspace(-2, 2, 4, dtype=torch.float64).unsqueeze(-1)
    predictive = model.predictive(torch.zeros(1, 0, 1), torch.zeros(1, 0, 1), queries.unsqueeze(0), generator=0)
    assert predictive.batch_shape == (1, 4) and bool(torch.isfinite(predictive.mean).all())
    assert math.isfinite(float(predictive.log_prob(torch.zeros(1, 4)).sum()))
