"""The local reparameterisation trick: a lower-variance ELBO estimator for mean-field BNN layers.

Kingma, Salimans & Welling, "Variational Dropout and the Local Reparameterization Trick" (NeurIPS 2015).

Under a mean-field Gaussian guide ``W_ij ~ N(mu_ij, s_ij^2)``, ``b_j ~ N(m_j, t_j^2)``, the
pre-activation of a layer for one input row ``h`` is itself Gaussian with independent units,

    a_j = h W_:j + b_j ~ N( h mu_:j + m_j ,  (h * h) s_:j^2 + t_j^2 ).

The expected log likelihood is a sum over data points, ``E_q sum_i log p(y_i | f(x_i; W))
= sum_i E_q log p(y_i | f(x_i; W))``, and each term only depends on the marginal distribution of
data point ``i``'s pre-activations. So instead of one weight draw shared by the whole batch we draw
the pre-activations directly, independently per data point (layer by layer: given ``h_{l-1}`` the
next layer's pre-activations are again Gaussian, because ``W_l`` is independent of the layers
below). The estimator has the same expectation as the weight-sampling one -- the ELBO is unchanged --
but its per-data-point noise is independent, so the variance of the summed log likelihood grows
like ``N`` instead of ``N^2`` (Kingma et al., Sec. 2.2), and it costs two matrix products per
layer instead of one, with no ``[S, fan_in, fan_out]`` weight tensors.

The KL term uses the closed form wherever numpyro knows it (Gaussian guide vs Gaussian prior, the
weight sites) and the single-draw Monte Carlo estimate ``log q(z) - log p(z)`` otherwise (e.g. a
learned noise std, whose guide is a Gaussian on its log), as numpyro's ``TraceMeanField_ELBO``.

A model opts in by implementing

* ``local_reparameterization_layers() -> [(weight site, bias site), ...] | None`` (input to output);
* ``jax_activation()`` -- the hidden nonlinearity;
* ``jax_observation_distribution(f [n, out], latent) -> distribution`` of ``y`` given the network
  output and the values of the other latent sites.

(:class:`probnn.models.BNN` with a Gaussian weight prior does.)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from numpyro.distributions import Independent, Normal, kl_divergence
from numpyro.handlers import replay, seed, substitute, trace
from numpyro.infer.elbo import ELBO

from probnn.inference.protocols import OBSERVATION_SITE


def supports_local_reparameterization(model: Any) -> bool:
    """Whether ``model`` declares its layers for the local reparameterisation trick."""
    layers = getattr(model, "local_reparameterization_layers", None)
    return callable(layers) and layers() is not None


def _normal_parameters(distribution: Any) -> tuple[Any, Any]:
    """``(loc, scale)`` of a (possibly ``Independent``-wrapped) Normal guide site."""
    base = distribution.base_dist if isinstance(distribution, Independent) else distribution
    if not isinstance(base, Normal):
        raise TypeError(f"the local reparameterisation trick needs Normal guide sites; got {type(base).__name__}")
    return base.loc, base.scale


def _log_prob_sum(site: dict[str, Any]) -> Any:
    log_prob = jnp.sum(site["fn"].log_prob(site["value"]))
    return log_prob if site["scale"] is None else site["scale"] * log_prob


class LocalReparameterizationELBO(ELBO):
    """Negative ELBO whose likelihood term samples pre-activations, not weights (see the module docstring).

    The model and guide are called with ``(x, y, *rest)``; the guide must be mean-field Gaussian on the
    layer sites (numpyro ``AutoNormal``). Site ``scale``\\ s (KL annealing) are honoured as in
    ``TraceMeanField_ELBO``: the KL / latent terms carry the guide's / model's scale, the likelihood
    term the observation site's scale.

    Args:
        network: the model providing the three hooks listed in the module docstring.
        num_particles: independent draws averaged per estimate.
    """

    def __init__(self, network: Any, num_particles: int = 1) -> None:
        super().__init__(num_particles=num_particles)
        layers = network.local_reparameterization_layers()
        if layers is None:
            raise ValueError(f"{type(network).__name__} does not support the local reparameterisation trick")
        self.network = network
        self.layers = list(layers)

    def particle_elbo(self, rng_key: Any, param_map: dict[str, Any], model: Any, guide: Any,
                      *args: Any, **kwargs: Any) -> Any:
        """One draw of the ELBO estimate (a scalar)."""
        guide_key, model_key, activation_key = jax.random.split(rng_key, 3)
        guide_trace = trace(substitute(seed(guide, guide_key), data=param_map)).get_trace(*args, **kwargs)
        model_trace = trace(substitute(replay(seed(model, model_key), guide_trace), data=param_map)).get_trace(
            *args, **kwargs)
        layer_sites = {name for pair in self.layers for name in pair}
        elbo = jnp.zeros(())
        latent = {}
        for name, site in model_trace.items():
            if site["type"] != "sample" or site["is_observed"]:
                continue
            latent[name] = site["value"]
            guide_site = guide_trace[name]
            try:
                kl = jnp.sum(kl_divergence(guide_site["fn"], site["fn"]))
                elbo = elbo - (kl if guide_site["scale"] is None else guide_site["scale"] * kl)
            except NotImplementedError:
                if name in layer_sites:
                    raise
                elbo = elbo + _log_prob_sum(site) - _log_prob_sum(guide_site)
        for name, site in guide_trace.items():  # auxiliary guide sites (unconstrained draws)
            if site["type"] == "sample" and name not in model_trace:
                elbo = elbo - _log_prob_sum(site)
        observed = model_trace[OBSERVATION_SITE]
        inputs = args[0]
        f = self._sample_outputs(inputs, guide_trace, activation_key)
        log_likelihood = jnp.sum(self.network.jax_observation_distribution(f, latent).log_prob(observed["value"]))
        if observed["scale"] is not None:
            log_likelihood = observed["scale"] * log_likelihood
        return elbo + log_likelihood

    def _sample_outputs(self, inputs: Any, guide_trace: dict[str, Any], key: Any) -> Any:
        """Network outputs ``[n, out]`` from pre-activations drawn per data point."""
        activation = self.network.jax_activation()
        hidden = inputs
        keys = jax.random.split(key, len(self.layers))
        for index, ((weight_site, bias_site), layer_key) in enumerate(zip(self.layers, keys, strict=True)):
            weight_loc, weight_scale = _normal_parameters(guide_trace[weight_site]["fn"])
            bias_loc, bias_scale = _normal_parameters(guide_trace[bias_site]["fn"])
            mean = hidden @ weight_loc + bias_loc
            variance = (hidden * hidden) @ (weight_scale * weight_scale) + bias_scale * bias_scale
            hidden = mean + jnp.sqrt(variance) * jax.random.normal(layer_key, mean.shape, mean.dtype)
            if index < len(self.layers) - 1:
                hidden = activation(hidden)
        return hidden

    def loss(self, rng_key: Any, param_map: dict[str, Any], model: Any, guide: Any, *args: Any,
             **kwargs: Any) -> Any:
        """``-mean_particles ELBO`` (what numpyro's ``SVI`` minimises)."""
        if self.num_particles == 1:
            return -self.particle_elbo(rng_key, param_map, model, guide, *args, **kwargs)
        keys = jax.random.split(rng_key, self.num_particles)
        elbos = jax.vmap(lambda key: self.particle_elbo(key, param_map, model, guide, *args, **kwargs))(keys)
        return -jnp.mean(elbos)

    def loss_with_mutable_state(self, rng_key: Any, param_map: dict[str, Any], model: Any, guide: Any,
                                *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"loss": self.loss(rng_key, param_map, model, guide, *args, **kwargs), "mutable_state": None}


__all__ = ["LocalReparameterizationELBO", "supports_local_reparameterization"]
