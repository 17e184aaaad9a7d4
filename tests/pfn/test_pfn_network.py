"""The PFN transformer: invariances, attention structure, normalisation, loss, persistence, fit_pfn."""

from __future__ import annotations

import math

import pytest
import torch

import probnn
from probnn.datasets.tasks import TaskBatch
from probnn.errors import CheckpointError, InputError
from probnn.inference.pfn import PFNPosterior, default_checkpoint, fit_pfn
from probnn.inference.pfn_priors import fixed_gp
from probnn.inference.pretrain import PretrainConfig, pretrain
from probnn.models.pfn import PFN
from probnn.predictive import BarPredictive


def _network(normalisation: str = "standardise", seed: int = 0, randomise: bool = True) -> PFN:
    torch.manual_seed(seed)
    network = PFN(torch.linspace(-4, 4, 33), max_features=3, width=32, depth=2, heads=4,
                  target_normalisation=normalisation)
    if randomise:   # zero-initialised residual branches would hide attention bugs: randomise all weights
        with torch.no_grad():
            for parameter in network.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
    return network.eval()


def _data(n: int = 7, m: int = 5, d: int = 2, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(2, n, d, generator=generator), torch.randn(2, n, generator=generator),
            torch.rand(2, m, d, generator=generator))


def test_training_set_order_does_not_matter():
    network = _network()
    x, y, query = _data()
    permutation = torch.randperm(7, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        first = network.predict_logits(network.condition(x, y), query)
        second = network.predict_logits(network.condition(x[:, permutation], y[:, permutation]), query)
    torch.testing.assert_close(first, second, atol=1e-5, rtol=1e-5)


def test_queries_attend_to_training_points_only_and_chunking_is_exact():
    network = _network()
    x, y, query = _data(m=6)
    with torch.no_grad():
        context = network.condition(x, y)
        together = network.predict_logits(context, query)
        alone = torch.cat([network.predict_logits(context, query[:, i:i + 1]) for i in range(6)], dim=1)
        chunked = network.predict_logits(context, query, chunk_size=4)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together, chunked, atol=1e-6, rtol=1e-6)
    # and the training set does matter
    with torch.no_grad():
        other = network.predict_logits(network.condition(x, y + 1.0 * torch.arange(7)), query)
    assert (other - together).abs().max() > 1e-3


def test_blocks_start_as_identity():
    network = _network(randomise=False)
    tokens = torch.randn(2, 5, 32)
    for block in network.blocks:
        output, _ = block.train_tokens(tokens)
        torch.testing.assert_close(output, tokens)


def test_empty_training_set_gives_a_proper_prior_predictive():
    network = _network()
    x, y, query = _data(n=0)
    with torch.no_grad():
        predictive = network.predictive(network.condition(x, y), query)
    assert predictive.batch_shape == (2, 5)
    assert bool(torch.isfinite(predictive.mean).all())


def test_standardisation_makes_predictions_equivariant_to_target_units():
    network = _network()
    x, y, query = _data()
    with torch.no_grad():
        base = network.predictive(network.condition(x, y), query)
        moved = network.predictive(network.condition(x, 3.0 + 5.0 * y), query)
    # the network runs in float32: agreement to float32 round-off of the standardised inputs
    torch.testing.assert_close(moved.mean, 3.0 + 5.0 * base.mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(moved.stddev, 5.0 * base.stddev, atol=1e-4, rtol=1e-4)
    value = torch.randn(2, 5, dtype=torch.float64)
    torch.testing.assert_close(moved.log_prob(3.0 + 5.0 * value), base.log_prob(value) - math.log(5.0), atol=1e-4,
                               rtol=1e-4)
    plain = _network("none")
    with torch.no_grad():
        plain_base = plain.predictive(plain.condition(x, y), query)
        plain_moved = plain.predictive(plain.condition(x, y + 3.0), query)
    assert (plain_moved.mean - plain_base.mean - 3.0).abs().max() > 1e-3   # "none" really does not normalise


def test_loss_is_the_mean_negative_log_predictive():
    network = _network()
    x, y, query = _data()
    y_target = torch.randn(2, 5)
    batch = TaskBatch(x, y.unsqueeze(-1), query, y_target.unsqueeze(-1), y_target.unsqueeze(-1))
    with torch.no_grad():
        predictive = network.predictive(network.condition(x, y), query)
        loss = network.loss(batch)
    torch.testing.assert_close(loss.double(), -predictive.log_prob(y_target.double()).mean(), atol=1e-5, rtol=1e-5)


def test_short_pretraining_learns_and_round_trips(tmp_path):
    torch.manual_seed(0)
    prior = fixed_gp(1)
    config = PretrainConfig(steps=150, batch_size=8, num_context=(0, 10), num_points=15, learning_rate=3e-3,
                            warmup_steps=10, checkpoint_every=1000)
    network = PFN.for_prior(prior, config, num_buckets=40, num_border_batches=20, target_normalisation="none",
                            width=32, depth=2, heads=2)
    result = pretrain(network, prior, config, progress=False)
    assert sum(result.losses[-30:]) / 30 < sum(result.losses[:10]) / 10 - 0.1
    path = probnn.save(network, tmp_path / "pfn.safetensors")
    loaded = probnn.load(path)
    x, y, query = _data(d=1)
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_logits(loaded.condition(x, y), query),
                                   network.predict_logits(network.condition(x, y), query))


def test_fit_pfn_backend_rescales_inputs_and_saves(tmp_path):
    network = _network()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(12, 2, generator=generator, dtype=torch.float64)
    y = torch.sin(4 * x[:, 0]) + x[:, 1]
    query = torch.rand(4, 2, generator=generator, dtype=torch.float64)
    posterior = probnn.fit(probnn.models.GP(), x, y, method="pfn", checkpoint=network)
    predictive = posterior.predict(query)
    assert isinstance(predictive, BarPredictive) and predictive.batch_shape == (4,)
    scale, shift = torch.tensor([10.0, 0.1], dtype=torch.float64), torch.tensor([-3.0, 7.0], dtype=torch.float64)
    moved = probnn.fit(probnn.models.GP(), x * scale + shift, y, method="pfn", checkpoint=network)
    torch.testing.assert_close(moved.predict(query * scale + shift).mean, predictive.mean)
    path = posterior.save(tmp_path / "posterior")
    loaded = probnn.load(path)
    assert isinstance(loaded, PFNPosterior)
    torch.testing.assert_close(loaded.predict(query).log_prob(y[:4]), predictive.log_prob(y[:4]))
    with pytest.raises(InputError, match="at most 3"):
        fit_pfn(probnn.models.GP(), torch.rand(5, 4, dtype=torch.float64), torch.rand(5, dtype=torch.float64),
                checkpoint=network)


def test_missing_checkpoint_is_a_clear_error():
    class Other:
        pass

    with pytest.raises(CheckpointError, match="no pre-trained PFN ships for Other"):
        default_checkpoint(Other())
