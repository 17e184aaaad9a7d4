"""The batched / shared-work code paths of the neural processes equal their naive definitions.

Each fast path (decoder first layer split, one pooled encoding of the context shared by all pseudo
sets, all pseudo sets in one attention call, inducing queries projected once) is checked against
the straightforward computation it replaces, on random weights and random sets.
"""

from __future__ import annotations

import pytest
import torch

from probnn.datasets.tasks import sample_task_batch, uniform_inputs
from probnn.models.neural_process import MPANP, MPNP, LatentNP, RandomKernelGP
from probnn.models.neural_process.base import gaussian_log_prob, log_mean_exp
from probnn.models.neural_process.layers import MLP, InducedSetAttention, mlp_on_concat
from probnn.models.neural_process.networks import AttentiveNetwork, PoolingNetwork

WIDTH = 16
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}   # float32 reassociation only


@pytest.fixture(scope="module")
def batch():
    return sample_task_batch(RandomKernelGP("matern52"), batch_size=3, num_context=7, num_target=4,
                             input_sampler=uniform_inputs(-2.0, 2.0), generator=3)


def test_mlp_on_concat_equals_mlp_of_the_concatenation():
    torch.manual_seed(0)
    mlp = MLP(WIDTH + 2, WIDTH, 3, 3)
    code, inputs = torch.randn(5, 4, WIDTH), torch.randn(4, 6, 2)       # 5 sets share 4 tasks' inputs
    expected = mlp(torch.cat([code[:, :, None, :].expand(-1, -1, 6, -1), inputs.expand(5, -1, -1, -1)], dim=-1))
    torch.testing.assert_close(mlp_on_concat(mlp, code, inputs), expected, **TOLERANCE)
    single = MLP(WIDTH + 2, WIDTH, 3, 1)                                  # depth 1: the split layer alone
    torch.testing.assert_close(mlp_on_concat(single, code, inputs),
                               single(torch.cat([code[:, :, None, :].expand(-1, -1, 6, -1),
                                                 inputs.expand(5, -1, -1, -1)], dim=-1)), **TOLERANCE)


def test_inducing_queries_shared_across_sets():
    torch.manual_seed(1)
    block = InducedSetAttention(WIDTH, WIDTH, num_inducing=5, heads=4)
    x = torch.randn(6, 9, WIDTH)
    expected = block.broadcast(x, *[block.summarise(block.inducing.expand(6, -1, -1), x, x)] * 2)
    torch.testing.assert_close(block(x), expected, **TOLERANCE)


@pytest.mark.parametrize("network_class", [PoolingNetwork, AttentiveNetwork])
@pytest.mark.parametrize("context_size", [0, 7])
def test_predict_sets_equals_set_by_set_forward(network_class, context_size):
    torch.manual_seed(2)
    options = {"heads": 4} if network_class is AttentiveNetwork else {}
    network = network_class(1, 1, WIDTH, **options)
    sets, batch, pseudo, targets = 4, 3, 5, 6
    x_context, y_context = torch.randn(batch, context_size, 1), torch.randn(batch, context_size, 1)
    x_pseudo, y_pseudo = torch.randn(sets, batch, pseudo, 1), torch.randn(sets, batch, pseudo, 1)
    x_target = torch.randn(batch, targets, 1)
    mean, std = network.predict_sets(x_context, y_context, x_pseudo, y_pseudo, x_target, with_context=True,
                                     without_context=True)
    assert mean.shape == std.shape == (2, sets, batch, targets, 1)
    for k in range(sets):
        union_mean, union_std = network(torch.cat([x_context, x_pseudo[k]], 1), torch.cat([y_context, y_pseudo[k]], 1),
                                        x_target)
        alone_mean, alone_std = network(x_pseudo[k], y_pseudo[k], x_target)
        torch.testing.assert_close(mean[0, k], union_mean, **TOLERANCE)
        torch.testing.assert_close(std[0, k], union_std, **TOLERANCE)
        torch.testing.assert_close(mean[1, k], alone_mean, **TOLERANCE)
        torch.testing.assert_close(std[1, k], alone_std, **TOLERANCE)


def test_predict_sets_with_empty_sets_pools_to_zeros_like_forward():
    torch.manual_seed(3)
    network = PoolingNetwork(1, 1, WIDTH)
    empty_x, empty_y = torch.zeros(2, 0, 1), torch.zeros(2, 0, 1)
    x_target = torch.randn(2, 4, 1)
    mean, std = network.predict_sets(empty_x, empty_y, torch.zeros(3, 2, 0, 1), torch.zeros(3, 2, 0, 1), x_target,
                                     with_context=True, without_context=True)
    reference_mean, reference_std = network(empty_x, empty_y, x_target)
    assert torch.isfinite(mean).all() and torch.isfinite(std).all()
    torch.testing.assert_close(mean, reference_mean.expand_as(mean), **TOLERANCE)
    torch.testing.assert_close(std, reference_std.expand_as(std), **TOLERANCE)


def test_generator_batched_attention_equals_per_set_attention(batch):
    """All S sets' pseudo queries in one cross-attention call == one call per set (same noise)."""
    torch.manual_seed(4)
    module = MPNP(width=WIDTH, heads=4).pseudo_generator
    x, y = batch.x_context.float(), batch.y_context.float()
    sets, size = 3, x.shape[1]
    x_pseudo, y_pseudo = module(x, y, sets, generator=torch.Generator().manual_seed(8))
    # The reference: the same noise, every set through the blocks on its own.
    noise = torch.randn((sets, x.shape[0], size, WIDTH), generator=torch.Generator().manual_seed(8))
    tokens = module.context_set(module.embed_context(torch.cat([x, y], dim=-1)))
    for k in range(sets):
        queries = module.embed_noise(noise[k]) + tokens.mean(1)[:, None, :]
        points = module.head(module.pseudo_set(module.cross_attention(queries, tokens, tokens)))
        torch.testing.assert_close(x_pseudo[k], points[..., :1], **TOLERANCE)
        torch.testing.assert_close(y_pseudo[k], points[..., 1:], **TOLERANCE)


@pytest.mark.parametrize("cls", [MPNP, MPANP])
def test_loss_terms_equal_their_formulas_set_by_set(cls, batch):
    """L_marg and L_pseudo from the batched loss == the formulas evaluated one pseudo set at a time."""
    torch.manual_seed(5)
    model = cls(width=WIDTH, heads=4, num_train_sets=3)
    terms = model.loss_terms(batch, generator=torch.Generator().manual_seed(6))
    x_context, y_context = batch.x_context.float(), batch.y_context.float()
    x_all, y_all = batch.x_all.float(), batch.y_all.float()
    draws = model.draw(x_context, y_context, 3, generator=torch.Generator().manual_seed(6))
    joint = {"marginal": [], "pseudo": []}
    for k in range(3):
        x_pseudo, y_pseudo = draws["x_pseudo"][k], draws["y_pseudo"][k]
        unions = {"marginal": (torch.cat([x_context, x_pseudo], 1), torch.cat([y_context, y_pseudo], 1)),
                  "pseudo": (x_pseudo, y_pseudo)}
        for name, (x_set, y_set) in unions.items():
            mean, std = model.network(x_set, y_set, x_all)
            joint[name].append(gaussian_log_prob(y_all, mean, std).sum((1, 2)))
    for name, values in joint.items():
        expected = -(log_mean_exp(torch.stack(values), 0) / x_all.shape[1]).mean()
        torch.testing.assert_close(terms[name], expected, **TOLERANCE)
    mean, std = model.network(x_context, y_context, x_all)
    torch.testing.assert_close(terms["cnp"], -gaussian_log_prob(y_all, mean, std).mean(), **TOLERANCE)


def test_latent_np_decoder_equals_concatenated_input(batch):
    torch.manual_seed(7)
    model = LatentNP(width=WIDTH)
    x_context, y_context, x_target = batch.x_context.float(), batch.y_context.float(), batch.x_target.float()
    draws = model.draw(x_context, y_context, 4, generator=torch.Generator().manual_seed(0))
    mean, std = model.decode(x_context, y_context, draws, x_target)
    representation = model.deterministic_encoder(x_context, y_context).expand(4, -1, -1)
    code = torch.cat([representation, draws["latent"]], dim=-1)[:, :, None, :].expand(-1, -1, x_target.shape[1], -1)
    raw = model.decoder(torch.cat([code, x_target.expand(4, -1, -1, -1)], dim=-1))
    torch.testing.assert_close(mean, raw[..., :1], **TOLERANCE)
    torch.testing.assert_close(std, 0.1 + 0.9 * torch.nn.functional.softplus(raw[..., 1:]), **TOLERANCE)
