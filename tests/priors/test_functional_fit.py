"""fit_functional_prior, measurement sets, the flow prior and save/load of fitted priors."""

import math

import gpytorch
import pytest
import torch
from prior_helpers import sliced_distance

import probnn
from probnn.errors import InputError
from probnn.models.bnn import BNN
from probnn.priors import (
    DataMeasurementSet,
    FlowWeightPrior,
    FunctionalPriorFit,
    GaussianWeightPrior,
    GridMeasurementSet,
    HierarchicalWeightPrior,
    ScaleMixtureLastLayerPrior,
    fit_functional_prior,
    function_space_distance,
)


def _target(lengthscale: float = 0.6) -> probnn.models.GP:
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
    kernel.base_kernel.lengthscale = lengthscale
    kernel.outputscale = 1.0
    return probnn.models.GP(kernel, noise=0.1, mean="zero")


GRID = GridMeasurementSet(-3.0, 3.0, 25)


def test_grid_and_data_measurement_sets():
    grid = GridMeasurementSet([-1.0, 0.0], [1.0, 2.0], 5)
    assert grid.sample().shape == (25, 2) and torch.equal(grid.sample(0), grid.sample(1))
    x = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    data = DataMeasurementSet(x, num_points=20, data_fraction=0.7)
    draw = data.sample(1)
    assert draw.shape == (20, 3)
    from_data = (draw[:, None, :] == x[None]).all(-1).any(-1)
    assert int(from_data[:14].sum()) == 14  # the paper's 70 % training inputs, distinct rows
    assert len({tuple(row.tolist()) for row in draw[:14]}) == 14
    low, high = x.min(0).values, x.max(0).values
    assert bool(((draw[14:] >= low) & (draw[14:] <= high)).all())  # 30 % uniform in the bounding box
    assert not torch.equal(data.sample(1), data.sample(2))  # redrawn per step
    assert torch.equal(data.sample(1), data.sample(1))
    with pytest.raises(InputError, match="data_fraction"):
        DataMeasurementSet(x, data_fraction=1.5)


def test_fit_reduces_distance_and_is_reproducible():
    bnn = BNN(1, hidden=(20,), prior=GaussianWeightPrior())
    target = _target()
    # Smallest instance that shows the effect; sliced W keeps it fast (the critic path is tested below).
    options = {"measurement_set": GRID, "num_function_samples": 64, "num_steps": 60,
               "distance": "sliced_wasserstein", "generator": 0, "progress": False}
    fit = fit_functional_prior(bnn, target, **options)
    again = fit_functional_prior(bnn, target, **options)
    assert fit.history == again.history
    assert torch.equal(fit.prior.log_weight_std, again.prior.log_weight_std)
    assert not bnn.prior.learnable  # the BNN's own prior is left untouched


    x = GRID.sample()
    assert sliced_distance(bnn, target, x, fit.prior) < 0.7 * sliced_distance(bnn, target, x, bnn.prior)


@pytest.mark.parametrize("prior", [GaussianWeightPrior(), HierarchicalWeightPrior(3.0, 3.0, 3.0, 3.0),
                                   FlowWeightPrior([(1, 8), (8, 1)], num_couplings=2, hidden_features=4)],
                         ids=["gaussian", "hierarchical", "flow"])
def test_reparameterised_gradients_reach_every_prior_parameter(prior):
    bnn = BNN(1, hidden=(8,), prior=prior)
    fit = fit_functional_prior(bnn, _target(), measurement_set=GRID, num_function_samples=16, num_steps=2,
                               distance="wasserstein", distance_options={"num_initial_critic_steps": 5},
                               generator=1, progress=False)
    before = dict(probnn.priors.functional.learnable_copy(prior, 2).named_parameters())
    changed = {name for name, value in fit.prior.named_parameters() if not torch.equal(value, before[name])}
    # Coupling networks' inner layers get zero gradient while their zero-initialised output layer is zero;
    # every other parameter must move after two RMSprop steps.
    expected = {name for name in before if not name.endswith(("hidden.weight", "hidden.bias"))}
    assert expected <= changed
    assert all(math.isfinite(value) for value in fit.history)


def test_flow_prior_is_invertible_and_starts_at_the_gaussian_prior():
    shapes = [(2, 3), (3, 1)]
    flow = FlowWeightPrior(shapes, num_couplings=2, hidden_features=5)
    gaussian = GaussianWeightPrior()
    layers = flow.sample(shapes, 7, generator=0)
    assert torch.allclose(flow.log_prob(layers), gaussian.log_prob(layers), atol=1e-4)
    with torch.no_grad():  # a non-trivial flow: perturb every parameter
        generator = torch.Generator().manual_seed(1)
        for parameter in flow.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    z = torch.randn(5, 9, generator=generator)
    layer_flow = flow.flows[0]
    u = layer_flow(z)
    x = u
    for coupling in reversed(layer_flow.couplings):
        x, _ = coupling.inverse(x)
    assert torch.allclose((x - layer_flow.shift) * torch.exp(-layer_flow.log_scale), z, atol=1e-5)
    # log_prob = log N(z) - log|det dT/dz|; check the Jacobian term against autograd on one draw.
    point = z[0].clone().requires_grad_(True)
    jacobian = torch.autograd.functional.jacobian(layer_flow, point)
    expected = (-0.5 * (point**2).sum() - 4.5 * math.log(2 * math.pi) - torch.linalg.slogdet(jacobian)[1])
    assert torch.allclose(layer_flow.log_prob(u[0].detach()), expected.detach(), atol=1e-4)


def test_flow_prior_jax_log_density_matches_torch():
    pytest.importorskip("jax")
    import jax.numpy as jnp

    shapes = [(2, 3), (3, 1)]
    flow = FlowWeightPrior(shapes, num_couplings=2, hidden_features=5)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(2)
        for parameter in flow.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    u = torch.randn(9, generator=generator)
    log_prob = flow._jax_log_prob()
    assert float(log_prob(0, jnp.asarray(u.numpy()))) == pytest.approx(float(flow.flows[0].log_prob(u)), abs=1e-4)


@pytest.mark.parametrize("prior", [GaussianWeightPrior(), FlowWeightPrior([(1, 6), (6, 1)], hidden_features=3)],
                         ids=["gaussian", "flow"])
def test_fitted_prior_round_trips_through_save_and_load(tmp_path, prior):
    bnn = BNN(1, hidden=(6,), prior=prior)
    fit = fit_functional_prior(bnn, _target(), measurement_set=GRID, num_function_samples=8, num_steps=3,
                               distance="mmd", optimizer="adam", generator=2, progress=False)
    assert fit.fit_info["optimizer"] == "Adam"
    fit.save(tmp_path / "fit")
    loaded = probnn.load(tmp_path / "fit")
    assert isinstance(loaded, FunctionalPriorFit)
    assert loaded.history == fit.history and loaded.fit_info == fit.fit_info
    x = GRID.sample().float()
    assert torch.equal(BNN(1, hidden=(6,), prior=loaded.prior).sample_prior_functions(x, 4, generator=3),
                       BNN(1, hidden=(6,), prior=fit.prior).sample_prior_functions(x, 4, generator=3))
    model = BNN(1, hidden=(6,), prior=fit.prior)  # and the BNN that carries it
    model.save(tmp_path / "bnn")
    assert torch.equal(probnn.load(tmp_path / "bnn").sample_prior_functions(x, 2, generator=4),
                       model.sample_prior_functions(x, 2, generator=4))


def test_bad_arguments_are_named():
    bnn = BNN(2, hidden=(4,))
    with pytest.raises(InputError, match="measurement_set has 1 features"):
        fit_functional_prior(bnn, _target(), measurement_set=GRID, num_steps=1, progress=False)
    with pytest.raises(InputError, match="no learnable parameters"):
        fit_functional_prior(BNN(1, hidden=(4,), prior=ScaleMixtureLastLayerPrior()), _target(),
                             measurement_set=GRID, num_steps=1, progress=False)
    with pytest.raises(InputError, match="optimizer"):
        fit_functional_prior(BNN(1, hidden=(4,)), _target(), measurement_set=GRID, num_steps=1, optimizer="sgd",
                             progress=False)
    with pytest.raises(InputError, match="learning_rate_schedule"):
        fit_functional_prior(BNN(1, hidden=(4,)), _target(), measurement_set=GRID, num_steps=1,
                             learning_rate_schedule="linear", progress=False)


def test_function_space_distance_ranks_priors_and_returns_a_standard_error():
    bnn = BNN(1, hidden=(16,), prior=GaussianWeightPrior())
    x = GRID.sample()
    options = {"num_function_samples": 256, "num_held_out": 512, "num_critic_steps": 100, "batch_size": 128,
               "return_standard_error": True, "generator": 3}
    # The same prior with its output layer scaled up 4x: every function is 4x larger, far from the GP.
    near = function_space_distance(bnn, _target(), x, prior=GaussianWeightPrior(1.0, 1.0), **options)
    far = function_space_distance(bnn, _target(), x, prior=GaussianWeightPrior([1.0, 4.0], [1.0, 4.0]), **options)
    assert near == function_space_distance(bnn, _target(), x, prior=GaussianWeightPrior(1.0, 1.0), **options)
    assert near[1] > 0 and far[0] > near[0] + 4 * (far[1] + near[1])


def test_flow_prior_numpyro_model_log_density_is_prior_plus_likelihood():
    pytest.importorskip("numpyro")
    import jax.numpy as jnp
    import jax.scipy.stats as jax_stats
    from numpyro.infer.util import log_density

    shapes = [(1, 4), (4, 1)]
    prior = FlowWeightPrior(shapes, hidden_features=3)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        for parameter in prior.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    bnn = BNN(1, hidden=(4,), prior=prior, noise=0.5)
    layers = [(w.detach(), b.detach()) for w, b in prior.sample(shapes, 1, generator=1)]
    values = {f"w{i}": jnp.asarray(w[0].numpy()) for i, (w, _) in enumerate(layers)}
    values.update({f"b{i}": jnp.asarray(b[0].numpy()) for i, (_, b) in enumerate(layers)})
    x, y = jnp.linspace(-1, 1, 5)[:, None], jnp.zeros(5)
    joint, _ = log_density(bnn.numpyro_model, (x, y), {}, values)
    f = bnn.jax_forward(x, [(values["w0"], values["b0"]), (values["w1"], values["b1"])])
    likelihood = float(jax_stats.norm.logpdf(y, f[:, 0], 0.5).sum())
    assert float(joint) == pytest.approx(likelihood + float(prior.log_prob(layers)[0]), abs=1e-3)
