"""reuse_compiled=True: padded, masked data give exactly the unpadded log density; samplers are reused."""

import math

import numpy as np
import pytest
import torch

import probnn
from probnn.errors import InputError
from probnn.inference import nuts_reuse
from probnn.inference.jax_bridge import to_jax_data

jax = pytest.importorskip("jax")
pytest.importorskip("numpyro")


def _data(n, d=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=generator, dtype=torch.float64)
    return x, torch.sin(3 * x.sum(-1)) + 0.1 * torch.randn(n, generator=generator, dtype=torch.float64)


def test_bucket_sizes():
    assert [nuts_reuse.bucket_size(n) for n in (1, 8, 9, 16, 17, 100)] == [8, 8, 16, 16, 32, 128]


@pytest.mark.parametrize("likelihood", ["gaussian", "student_t"])
def test_masked_padded_log_density_equals_unpadded(likelihood):
    from numpyro import handlers

    model = probnn.models.BNN(2, hidden=(8,), noise="learned", likelihood=likelihood)
    x, y = to_jax_data(model, *_data(11))
    trace = handlers.trace(handlers.seed(model.numpyro_model, jax.random.PRNGKey(3))).get_trace(x, y)
    params = {name: site["value"] for name, site in trace.items()
              if site["type"] == "sample" and not site.get("is_observed", False)}
    plain = nuts_reuse.log_density(model.numpyro_model, (x, y), params)
    padded = nuts_reuse.log_density(nuts_reuse.masked_model(model.numpyro_model), nuts_reuse.pad(x, y, 16), params)
    # float32 sums in a different order: agreement to a few ulps of the total, not a looser approximation
    assert math.isfinite(plain)
    assert abs(padded - plain) <= 1e-6 * abs(plain)
    # without the mask the 5 padded rows would change it by their log-likelihood
    unmasked = nuts_reuse.log_density(model.numpyro_model, nuts_reuse.pad(x, y, 16)[:2], params)
    assert abs(unmasked - plain) > 1e-3
    assert nuts_reuse.padding_is_exact(model, x, y, jax.random.PRNGKey(0))


class _JointGaussianModel:
    """A model whose observation site is one joint Gaussian over all n points (batch shape ()): padding
    would change its density, so it must not be padded."""

    def get_state(self):
        return {"kind": "joint"}, {}

    def numpyro_model(self, x, y=None):
        import numpyro
        import numpyro.distributions as dist

        scale = numpyro.sample("scale", dist.HalfNormal(1.0))
        n = x.shape[0]
        covariance = scale * jax.numpy.exp(-((x[:, None, 0] - x[None, :, 0]) ** 2)) + 0.1 * jax.numpy.eye(n)
        numpyro.sample("y", dist.MultivariateNormal(jax.numpy.zeros(n), covariance), obs=y)


def test_padding_refused_when_not_exact():
    model = _JointGaussianModel()
    x, y = to_jax_data(model, *_data(5))
    assert not nuts_reuse.padding_is_exact(model, x, y, jax.random.PRNGKey(0))


@pytest.mark.filterwarnings("ignore::probnn.inference.diagnostics.ConvergenceWarning")
def test_reused_sampler_same_seed_same_draws_and_one_sampler_per_bucket():
    nuts_reuse.clear()
    model = probnn.models.BNN(2, hidden=(4,), noise="learned")
    options = {"method": "nuts", "num_warmup": 30, "num_samples": 20, "num_chains": 1, "progress": False,
               "reuse_compiled": True}
    x, y = _data(10)
    first = probnn.fit(model, x, y, generator=5, **options)
    assert first.fit_info["padded_size"] == 16
    second = probnn.fit(model, x[:9], y[:9], generator=5, **options)  # same bucket: same compiled sampler
    assert len(nuts_reuse._SAMPLERS) == 1
    again = probnn.fit(model, x, y, generator=5, **options)
    for name, value in first.draws.items():
        np.testing.assert_array_equal(value.numpy(), again.draws[name].numpy())
    assert not torch.equal(first.draws["w0"], second.draws["w0"])
    assert first.draws["w0"].shape == (1, 20, 2, 4)
    assert torch.isfinite(first.predict(x).mean).all()


def test_reuse_compiled_bad_settings():
    model = probnn.models.BNN(2, hidden=(4,))
    x, y = _data(6)
    with pytest.raises(InputError, match="reuse_compiled"):
        probnn.fit(model, x, y, method="nuts", num_warmup=5, num_samples=5, num_chains=2, chain_method="sequential",
                   reuse_compiled=True, progress=False)
