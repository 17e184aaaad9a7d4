"""Bayesian neural network: a fully connected network with a weight prior and a likelihood.

``f(x) = W_L^T phi(... phi(W_1^T x + b_1) ...) + b_L`` with weights from a
:class:`probnn.priors.WeightPrior` (neural-tangents scaling ``1/sqrt(fan_in)`` built into the prior)
and a likelihood:

* ``"gaussian"``: ``y ~ N(f, noise^2)``;
* ``"student_t"``: ``y ~ StudentT(df, f, noise)`` (robust regression);
* ``"bernoulli"``: ``y ~ Bernoulli(sigmoid f)`` (``out_features=1``, labels ``{0, 1}``);
* ``"categorical"``: ``y ~ Categorical(softmax f)`` (``out_features = number of classes``).

``noise`` is a fixed observation std, or ``"learned"``: then ``noise ~ HalfNormal(noise_prior_scale)``
is a latent variable sampled with the weights. Fit with ``probnn.fit(bnn, x, y, method=...)``,
``method`` in ``nuts`` (default), ``hmc``, ``svi``, ``sghmc``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from probnn import io
from probnn.errors import InputError
from probnn.inference.protocols import OBSERVATION_SITE
from probnn.models.base import Model
from probnn.predictive import CategoricalPredictive, GaussianPredictive, MixturePredictive, StudentTPredictive
from probnn.predictive.base import Predictive
from probnn.priors.weight import GaussianWeightPrior, Layers, WeightPrior
from probnn.random import GeneratorLike, as_generator
from probnn.validation import check_inputs

LIKELIHOODS = ("gaussian", "student_t", "bernoulli", "categorical")


def _torch_activation(name: str) -> Any:
    return {
        "tanh": torch.tanh,
        "relu": torch.relu,
        "erf": torch.erf,
        "sigmoid": torch.sigmoid,
        "gelu": torch.nn.functional.gelu,
        "softplus": torch.nn.functional.softplus,
        "identity": lambda h: h,
    }[name]


def _jax_activation(name: str) -> Any:
    import jax
    import jax.numpy as jnp

    return {
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "erf": jax.scipy.special.erf,
        "sigmoid": jax.nn.sigmoid,
        "gelu": lambda h: jax.nn.gelu(h, approximate=False),
        "softplus": jax.nn.softplus,
        "identity": lambda h: h,
    }[name]


ACTIVATIONS = ("tanh", "relu", "erf", "sigmoid", "gelu", "softplus", "identity")


class BNN(Model, torch.nn.Module):
    """A Bayesian multilayer perceptron.

    Args:
        in_features: number of input features ``d``.
        hidden: widths of the hidden layers; ``()`` gives a linear model (Bayesian linear regression
            with a Gaussian likelihood).
        out_features: output size (number of classes for ``likelihood="categorical"``).
        activation: one of ``tanh, relu, erf, sigmoid, gelu, softplus, identity``.
        prior: a :class:`probnn.priors.WeightPrior` (default: NT Gaussian, ``sigma_w = sigma_b = 1``).
        likelihood: ``gaussian``, ``student_t``, ``bernoulli`` or ``categorical``.
        noise: observation std (float > 0) or ``"learned"`` (regression likelihoods only).
        noise_prior_scale: scale of the HalfNormal prior on a learned noise std.
        student_t_df: degrees of freedom of the Student-t likelihood.
    """

    backends: ClassVar[dict[str, str]] = {
        "nuts": "probnn.inference.nuts:fit_nuts",
        "hmc": "probnn.inference.nuts:fit_hmc",
        "svi": "probnn.inference.svi:fit_svi",
        "sghmc": "probnn.inference.sghmc:fit_sghmc",
        "ssvi": "probnn.inference.ssvi:fit_ssvi",
        # amortized: a PFN pre-trained on this BNN's prior (`probnn pretrain --prior bnn`), checkpoint=...
        "pfn": "probnn.inference.pfn:fit_pfn",
    }
    default_method: ClassVar[str] = "nuts"

    def __init__(self, in_features: int, hidden: Sequence[int] = (50,), out_features: int = 1,
                 activation: str = "tanh", prior: WeightPrior | None = None, likelihood: str = "gaussian",
                 noise: float | str = 0.1, noise_prior_scale: float = 1.0, student_t_df: float = 4.0) -> None:
        torch.nn.Module.__init__(self)
        if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1:
            raise InputError(f"in_features must be a positive int; got {in_features!r}")
        if isinstance(out_features, bool) or not isinstance(out_features, int) or out_features < 1:
            raise InputError(f"out_features must be a positive int; got {out_features!r}")
        hidden = tuple(int(h) for h in hidden)
        if any(h < 1 for h in hidden):
            raise InputError(f"hidden widths must be positive ints; got {hidden}")
        if activation not in ACTIVATIONS:
            raise InputError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        if likelihood not in LIKELIHOODS:
            raise InputError(f"likelihood must be one of {LIKELIHOODS}; got {likelihood!r}")
        if likelihood == "bernoulli" and out_features != 1:
            raise InputError(f"likelihood='bernoulli' needs out_features=1; got {out_features}")
        if likelihood == "categorical" and out_features < 2:
            raise InputError(f"likelihood='categorical' needs out_features >= 2 classes; got {out_features}")
        if likelihood in ("gaussian", "student_t") and noise != "learned" and (
                isinstance(noise, str) or not float(noise) > 0):
            raise InputError(f"noise must be a positive float or 'learned'; got {noise!r}")
        if not noise_prior_scale > 0:
            raise InputError(f"noise_prior_scale must be positive; got {noise_prior_scale}")
        if not student_t_df > 0:
            raise InputError(f"student_t_df must be positive; got {student_t_df}")
        if prior is None:
            prior = GaussianWeightPrior()
        if not isinstance(prior, WeightPrior):
            raise InputError(f"prior must be a probnn.priors.WeightPrior; got {type(prior).__name__}")
        self.in_features = in_features
        self.hidden = hidden
        self.out_features = out_features
        self.activation = activation
        self.prior = prior
        self.likelihood = likelihood
        self.noise = noise if noise == "learned" else float(noise)
        self.noise_prior_scale = float(noise_prior_scale)
        self.student_t_df = float(student_t_df)
        if likelihood in ("bernoulli", "categorical"):
            self.target_kind = "categorical"
            self.num_classes = 2 if likelihood == "bernoulli" else out_features

    # ------------------------------------------------------------------ structure
    @property
    def num_outputs(self) -> int:
        return self.out_features

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """``[(fan_in, fan_out)]`` for every layer, input to output."""
        widths = [self.in_features, *self.hidden, self.out_features]
        return list(itertools.pairwise(widths))

    @property
    def learned_noise(self) -> bool:
        return self.noise == "learned" and self.likelihood in ("gaussian", "student_t")

    def forward_with_weights(self, x: torch.Tensor, layers: Layers) -> torch.Tensor:
        """Network outputs for ``S`` weight draws.

        Args:
            x: inputs ``[n, d]`` (shared by all draws) or ``[S, n, d]`` (one input set per draw).
            layers: ``[(W [S, fan_in, fan_out], b [S, fan_out])]``.

        Returns:
            ``f [S, n, out]``.
        """
        activation = _torch_activation(self.activation)
        hidden = x.to(layers[0][0].dtype)
        for index, (weight, bias) in enumerate(layers):
            hidden = torch.matmul(hidden, weight) + bias.unsqueeze(-2)
            if index < len(layers) - 1:
                hidden = activation(hidden)
        if hidden.ndim == 2:  # x was [n, d] and there are no layers with a leading S: cannot happen
            hidden = hidden.unsqueeze(0)
        return hidden

    def jax_forward(self, x: Any, layers: Sequence[tuple[Any, Any]]) -> Any:
        """The same network in JAX for one weight draw: ``x [n, d] -> f [n, out]``."""
        activation = _jax_activation(self.activation)
        hidden = x
        for index, (weight, bias) in enumerate(layers):
            hidden = hidden @ weight + bias
            if index < len(layers) - 1:
                hidden = activation(hidden)
        return hidden

    # ------------------------------------------------------------------ prior contract
    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        x = check_inputs(x, "x", num_features=self.in_features)
        layers = self.prior.sample(self.layer_shapes, num_samples, generator=as_generator(generator))
        return self.forward_with_weights(x, layers)

    def sample_prior_batch(self, x: torch.Tensor, *, generator: GeneratorLike = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise InputError(f"x must have shape [batch, num_points, {self.in_features}]; got {tuple(x.shape)}")
        generator = as_generator(generator)
        layers = self.prior.sample(self.layer_shapes, x.shape[0], generator=generator)
        functions = self.forward_with_weights(x, layers)
        return functions, self.sample_observations(functions, generator=generator)

    def _sample_noise(self, count: int, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        if self.learned_noise:
            return (torch.randn(count, generator=generator, dtype=dtype).abs() * self.noise_prior_scale)
        return torch.full((count,), float(self.noise), dtype=dtype)

    def sample_observations(self, f: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        """``y ~ p(y | f)`` (a learned noise std is drawn from its prior once per leading index)."""
        generator = as_generator(generator)
        if self.likelihood == "bernoulli":
            return torch.bernoulli(torch.sigmoid(f), generator=generator)
        if self.likelihood == "categorical":
            flat = torch.softmax(f, -1).reshape(-1, f.shape[-1])
            return torch.multinomial(flat, 1, generator=generator).reshape(f.shape[:-1]).unsqueeze(-1)
        leading = f.shape[0] if f.ndim >= 2 else 1
        noise = self._sample_noise(leading, generator, f.dtype).reshape(-1, *[1] * (f.ndim - 1))
        if self.likelihood == "gaussian":
            return f + noise * torch.randn(f.shape, generator=generator, dtype=f.dtype)
        from probnn.random import standard_gamma

        # Student-t = N(0, 1) / sqrt(chi2_df / df), chi2_df = 2 Gamma(df / 2, 1)
        chi2 = 2.0 * standard_gamma(torch.full(f.shape, 0.5 * self.student_t_df, dtype=f.dtype), generator)
        t = torch.randn(f.shape, generator=generator, dtype=f.dtype) / torch.sqrt(chi2 / self.student_t_df)
        return f + noise * t

    # ------------------------------------------------------------------ parametric protocol
    def numpyro_model(self, x: Any, y: Any | None = None) -> None:
        """Log joint ``p(theta) p(y | x, theta)`` as a numpyro model (observation site ``"y"``)."""
        import numpyro

        layers = self.prior.numpyro_sample(self.layer_shapes)
        f = self.jax_forward(x, layers)
        latent = {}
        if self.learned_noise:
            import numpyro.distributions as dist

            latent["noise"] = numpyro.sample("noise", dist.HalfNormal(self.noise_prior_scale))
        with numpyro.plate("data", x.shape[0]):
            numpyro.sample(OBSERVATION_SITE, self.jax_observation_distribution(f, latent), obs=y)

    def jax_observation_distribution(self, f: Any, latent: dict[str, Any]) -> Any:
        """``p(y_i | f_i)`` as a numpyro distribution with batch shape ``[n]``.

        Args:
            f: network outputs ``[n, out]`` (JAX).
            latent: values of the non-weight latent sites (``{"noise": std}`` when the noise is learned).
        """
        import numpyro.distributions as dist

        if self.likelihood in ("gaussian", "student_t"):
            noise = latent["noise"] if self.learned_noise else float(self.noise)
            loc = f[:, 0] if self.out_features == 1 else f
            if self.likelihood == "gaussian":
                distribution = dist.Normal(loc, noise)
            else:
                distribution = dist.StudentT(self.student_t_df, loc, noise)
            return distribution.to_event(1) if self.out_features > 1 else distribution
        if self.likelihood == "bernoulli":
            return dist.Bernoulli(logits=f[:, 0])
        return dist.Categorical(logits=f)

    def local_reparameterization_layers(self) -> list[tuple[str, str]] | None:
        """``[(weight site, bias site)]`` per layer for the local reparameterisation trick, or ``None``.

        The trick (Kingma, Salimans & Welling, 2015) needs every layer's weights and biases to be
        latent Gaussian sample sites of their own, ``W_l`` and ``b_l``, entering the network only as
        ``h W_l + b_l``. That holds for :class:`GaussianWeightPrior`; the hierarchical and
        scale-mixture priors sample non-centred ``w{l}_base`` sites times a random scale, which it
        does not cover (``None``: SVI then samples weights).
        """
        if type(self.prior) is not GaussianWeightPrior:
            return None
        return [(f"w{index}", f"b{index}") for index in range(len(self.layer_shapes))]

    def jax_activation(self) -> Any:
        """The hidden-layer nonlinearity as a JAX function."""
        return _jax_activation(self.activation)

    def pyro_model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """The same log joint in pyro (generic torch path; used by ``engine="pyro"``)."""
        import pyro
        import pyro.distributions as dist

        layers = self.prior.pyro_sample(self.layer_shapes)
        batched = [(w.unsqueeze(0), b.unsqueeze(0)) for w, b in layers]
        f = self.forward_with_weights(x, batched)[0]
        if self.likelihood in ("gaussian", "student_t"):
            if self.learned_noise:
                noise = pyro.sample("noise", dist.HalfNormal(torch.tensor(self.noise_prior_scale)))
            else:
                noise = torch.tensor(float(self.noise))
            loc = f[:, 0] if self.out_features == 1 else f
            distribution = (dist.Normal(loc, noise) if self.likelihood == "gaussian"
                            else dist.StudentT(self.student_t_df, loc, noise))
            if self.out_features > 1:
                distribution = distribution.to_event(1)
        elif self.likelihood == "bernoulli":
            distribution = dist.Bernoulli(logits=f[:, 0])
        else:
            distribution = dist.Categorical(logits=f)
        with pyro.plate("data", x.shape[0]):
            pyro.sample(OBSERVATION_SITE, distribution, obs=y)

    def layers_from_draws(self, draws: dict[str, torch.Tensor]) -> Layers:
        """``[(W [S, ...], b [S, ...])]`` from a draws dict with sites ``w{l}``, ``b{l}``."""
        try:
            return [(draws[f"w{index}"], draws[f"b{index}"]) for index in range(len(self.layer_shapes))]
        except KeyError as error:
            raise InputError(f"draws lack the weight site {error.args[0]!r}; got sites {sorted(draws)}") from None

    def _noise_from_draws(self, draws: dict[str, torch.Tensor], count: int, dtype: torch.dtype) -> torch.Tensor:
        if self.learned_noise:
            return draws["noise"].to(dtype).reshape(count)
        return torch.full((count,), float(self.noise), dtype=dtype)

    def functions_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Network outputs ``[S, n, out]`` for every draw."""
        return self.forward_with_weights(x, self.layers_from_draws(draws))

    def predictive_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor, *,
                              x_train: torch.Tensor | None = None,
                              y_train: torch.Tensor | None = None) -> Predictive:
        """Equal-weight mixture over draws (regression) or averaged class probabilities (classification)."""
        f = self.functions_from_draws(draws, x)
        count = f.shape[0]
        if self.likelihood == "bernoulli":
            probability = torch.sigmoid(f[..., 0]).mean(0)
            return CategoricalPredictive(torch.stack([1 - probability, probability], -1))
        if self.likelihood == "categorical":
            return CategoricalPredictive(torch.softmax(f, -1).mean(0))
        loc = f[..., 0] if self.out_features == 1 else f
        noise = self._noise_from_draws(draws, count, f.dtype).reshape(-1, *[1] * (loc.ndim - 1))
        if self.likelihood == "gaussian":
            components: Predictive = GaussianPredictive(loc, (noise**2).expand_as(loc))
        else:
            components = StudentTPredictive(self.student_t_df, loc, noise.expand_as(loc))
        return MixturePredictive(components)

    def log_likelihood_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor,
                                  y: torch.Tensor) -> torch.Tensor:
        """``log p(y_i | x_i, theta_s)`` ``[S, n]``."""
        f = self.functions_from_draws(draws, x)
        count = f.shape[0]
        if self.likelihood == "bernoulli":
            target = y.to(f.dtype).reshape(1, -1)
            return -torch.nn.functional.binary_cross_entropy_with_logits(
                f[..., 0], target.expand(count, -1), reduction="none")
        if self.likelihood == "categorical":
            log_probs = torch.log_softmax(f, -1)
            index = y.long().reshape(1, -1, 1).expand(count, -1, 1)
            return log_probs.gather(-1, index)[..., 0]
        loc = f[..., 0] if self.out_features == 1 else f
        target = y.to(f.dtype).unsqueeze(0)
        noise = self._noise_from_draws(draws, count, f.dtype).reshape(-1, *[1] * (loc.ndim - 1))
        if self.likelihood == "gaussian":
            distribution: torch.distributions.Distribution = torch.distributions.Normal(loc, noise)
        else:
            distribution = torch.distributions.StudentT(self.student_t_df, loc, noise)
        log_prob = distribution.log_prob(target)
        return log_prob if log_prob.ndim == 2 else log_prob.sum(-1)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors: dict[str, torch.Tensor] = {}
        config = {
            "in_features": self.in_features, "hidden": list(self.hidden), "out_features": self.out_features,
            "activation": self.activation, "likelihood": self.likelihood, "noise": self.noise,
            "noise_prior_scale": self.noise_prior_scale, "student_t_df": self.student_t_df,
            "prior": io.encode_child(self.prior, "prior", tensors),
        }
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> BNN:
        config = dict(config)
        prior = io.decode_child(config.pop("prior"), "prior", tensors)
        return cls(prior=prior, **config)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, hidden={self.hidden}, out_features={self.out_features}, "
                f"activation={self.activation!r}, likelihood={self.likelihood!r}, noise={self.noise!r}")

