"""Classification with (scale mixtures of) NNGPs: sparse variational GP with an inverse-gamma ``q(s2)``.

Model (Lee et al., ICLR 2022, section 3.3), for ``C`` latent functions (one for Bernoulli)::

    s2 ~ IG(a, b)   (or s2 = 1: a plain NNGP classifier),   f_c | s2 ~ GP(0, s2 K),
    y_i ~ Bernoulli(sigmoid(f(x_i)))   or   Categorical(softmax(f_1(x_i), ..., f_C(x_i))).

Variational family (``method="svgp"``): inducing inputs ``Z`` (``M`` points), whitened inducing
values ``u_c = sqrt(s2) L_Z v_c`` with ``L_Z = chol(K(Z, Z))`` and ``q(v_c) = N(m_c, S_c)``,
``S_c = R_c R_c^T``, and ``q(s2) = IG(alpha, beta)``. Given ``s2`` and ``v`` the latent marginal is
``f_c(x) ~ N(sqrt(s2) A m_c, s2 (k(x, x) - |A|^2 + |A R_c|^2))`` with ``A = K(x, Z) L_Z^-T``. The
ELBO (maximised with Adam, reparameterised Monte Carlo over ``s2`` and ``f``)::

    ELBO = E_q[sum_i log p(y_i | f(x_i))] - sum_c KL(N(m_c, S_c) || N(0, I)) - KL(IG(alpha, beta) || IG(a, b)),

with ``KL(IG(alpha, beta) || IG(a, b)) = (alpha - a) psi(alpha) - lgamma(alpha) + lgamma(a)
+ a (log beta - log b) + alpha (b - beta) / beta`` (the KL of the precision's Gamma laws).
"""

from __future__ import annotations

import math
from typing import Any

import gpytorch
import torch
from torch.distributions import InverseGamma
from torch.nn.functional import softplus

from probnn import io
from probnn.errors import InputError
from probnn.gp.kernel_config import kernel_from_config, kernel_to_config
from probnn.gp.linalg import cholesky_with_jitter
from probnn.gp.nngp import NNGPKernel
from probnn.gp.regression import DTYPE
from probnn.models.base import Model
from probnn.posterior import Posterior
from probnn.predictive import CategoricalPredictive
from probnn.progress import progress_bar
from probnn.random import GeneratorLike, as_generator, derive_seed, standard_gamma
from probnn.validation import check_inputs


def inverse_gamma_kl(alpha: torch.Tensor, beta: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``KL(IG(alpha, beta) || IG(a, b))`` in closed form (see the module docstring)."""
    return ((alpha - a) * torch.digamma(alpha) - torch.lgamma(alpha) + torch.lgamma(a)
            + a * (torch.log(beta) - torch.log(b)) + alpha * (b - beta) / beta)


class ScaleMixtureNNGPClassifier(Model, torch.nn.Module):
    """NNGP classifier with an optional inverse-gamma last-layer variance; fitted by ``method="svgp"``.

    Args:
        num_classes: number of classes (2: one latent function with a Bernoulli likelihood).
        kernel: gpytorch kernel (default ``NNGPKernel(depth=2, relu)``).
        scale_prior: ``(a, b)`` of the inverse-gamma prior on ``s2``, or ``None`` for ``s2 = 1``
            (the plain NNGP classifier).
    """

    backends = {"svgp": "probnn.gp.classification:fit_svgp"}  # noqa: RUF012 (the Model contract's ClassVar)
    default_method = "svgp"
    target_kind = "categorical"

    def __init__(self, num_classes: int = 2, kernel: gpytorch.kernels.Kernel | None = None, *,
                 scale_prior: tuple[float, float] | None = (2.0, 2.0), num_features: int | None = None) -> None:
        torch.nn.Module.__init__(self)
        if not (isinstance(num_classes, int) and num_classes >= 2):
            raise InputError(f"num_classes must be an int >= 2; got {num_classes!r}")
        if scale_prior is not None and not (len(scale_prior) == 2 and min(scale_prior) > 0):
            raise InputError(f"scale_prior must be None or (a, b) with a, b > 0; got {scale_prior!r}")
        self.num_classes = num_classes
        self.kernel = (NNGPKernel(depth=2, activation="relu", weight_std=1.5, bias_std=0.2)
                       if kernel is None else kernel).to(DTYPE)
        self.scale_prior_parameters = None if scale_prior is None else (float(scale_prior[0]), float(scale_prior[1]))
        self.num_features = num_features

    @property
    def num_outputs(self) -> int:
        return 1 if self.num_classes == 2 else self.num_classes

    @property
    def scale_prior(self) -> InverseGamma | None:
        if self.scale_prior_parameters is None:
            return None
        a, b = self.scale_prior_parameters
        return InverseGamma(torch.tensor(a, dtype=DTYPE), torch.tensor(b, dtype=DTYPE))

    def log_likelihood(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log p(y | f)`` for ``f`` ``[..., n, num_outputs]``, ``y`` ``[n]`` -> ``[..., n]``."""
        if self.num_classes == 2:
            logits = f[..., 0]
            return -torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y.to(logits.dtype).expand_as(logits), reduction="none")
        return torch.log_softmax(f, -1).gather(-1, y.expand(*f.shape[:-1]).unsqueeze(-1)).squeeze(-1)

    def class_log_probs(self, f: torch.Tensor) -> torch.Tensor:
        """Class log probabilities ``[..., n, num_classes]`` from latent values."""
        if self.num_classes == 2:
            logits = f[..., 0]
            return torch.stack([torch.nn.functional.logsigmoid(-logits), torch.nn.functional.logsigmoid(logits)], -1)
        return torch.log_softmax(f, -1)

    # ------------------------------------------------------------------ prior contract
    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        """Latent draws ``f = sqrt(s2) L z`` ``[S, n, num_outputs]`` (``s2 ~ IG(a, b)``, or 1)."""
        x = check_inputs(x, "x", dtype=DTYPE, num_features=self.num_features)
        generator = as_generator(generator)
        with torch.no_grad():
            factor, _ = cholesky_with_jitter(self.kernel(x).to_dense(), warn=False)
            z = torch.randn((num_samples, self.num_outputs, x.shape[0]), generator=generator, dtype=DTYPE)
            f = (z @ factor.T).transpose(-1, -2)
            if self.scale_prior_parameters is not None:
                a, b = self.scale_prior_parameters
                scales = b / standard_gamma(torch.full((num_samples,), a, dtype=DTYPE), generator)
                f = scales.sqrt()[:, None, None] * f
        return f

    def sample_observations(self, f: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        """Class labels ``[..., n, 1]`` drawn from the likelihood (as floats, for task batches)."""
        generator = as_generator(generator)
        probs = self.class_log_probs(f).exp().reshape(-1, self.num_classes)
        labels = torch.multinomial(probs, 1, generator=generator)
        return labels.reshape(*f.shape[:-1], 1).to(f.dtype)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config = {"num_classes": self.num_classes, "kernel": kernel_to_config(self.kernel),
                  "scale_prior": self.scale_prior_parameters, "num_features": self.num_features}
        return config, {key: value.detach().clone() for key, value in self.state_dict().items()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> ScaleMixtureNNGPClassifier:
        model = cls(config["num_classes"], kernel_from_config(config["kernel"]),
                    scale_prior=None if config["scale_prior"] is None else tuple(config["scale_prior"]),
                    num_features=config["num_features"])
        model.load_state_dict(tensors)
        return model


class VariationalState(torch.nn.Module):
    """``Z [M, d]``, ``m [C, M]``, raw lower-triangular ``R [C, M, M]``, raw ``alpha, beta`` of ``q(s2)``."""

    def __init__(self, inducing: torch.Tensor, num_outputs: int, with_scale: bool) -> None:
        super().__init__()
        num_inducing = inducing.shape[0]
        self.inducing = torch.nn.Parameter(inducing.clone())
        self.mean = torch.nn.Parameter(torch.zeros(num_outputs, num_inducing, dtype=DTYPE))
        self.raw_root = torch.nn.Parameter(torch.eye(num_inducing, dtype=DTYPE).expand(num_outputs, -1, -1).clone())
        self.with_scale = with_scale
        if with_scale:
            self.raw_alpha = torch.nn.Parameter(torch.tensor(math.log(math.expm1(3.0)), dtype=DTYPE))
            self.raw_beta = torch.nn.Parameter(torch.tensor(math.log(math.expm1(2.0)), dtype=DTYPE))

    def root(self) -> torch.Tensor:
        return torch.tril(self.raw_root)

    def scale_posterior(self) -> InverseGamma | None:
        if not self.with_scale:
            return None
        return InverseGamma(softplus(self.raw_alpha) + 1e-3, softplus(self.raw_beta) + 1e-6)


def _latent_marginals(model: ScaleMixtureNNGPClassifier, state: VariationalState, x: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-scale latent means ``[C, n]`` and variances ``[C, n]`` of ``f | s2 = 1`` under ``q(v)``."""
    inducing = state.inducing
    factor, _ = cholesky_with_jitter(model.kernel(inducing).to_dense(), warn=False)
    cross = model.kernel(inducing, x).to_dense()  # [M, n]
    a_transposed = torch.linalg.solve_triangular(factor, cross, upper=False)  # L_Z^-1 K(Z, x): [M, n]
    mean = state.mean @ a_transposed  # [C, n]
    projected = state.root().transpose(-1, -2) @ a_transposed  # [C, M, n]
    variance = (model.kernel(x, diag=True) - (a_transposed**2).sum(0) + (projected**2).sum(-2)).clamp_min(1e-10)
    return mean, variance


def _draw(model, state, x, num_samples, generator):
    """Reparameterised latent draws ``[S, n, C]`` (``s2`` from ``q(s2)`` by the implicit Gamma reparameterisation)."""
    mean, variance = _latent_marginals(model, state, x)
    z = torch.randn((num_samples, *mean.shape), generator=generator, dtype=DTYPE)
    f = mean + variance.sqrt() * z
    posterior = state.scale_posterior()
    if posterior is not None:
        seed = derive_seed(generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            scales = posterior.rsample((num_samples,))
        f = scales.sqrt()[:, None, None] * f
    return f.transpose(-1, -2)


class SVGPClassificationPosterior(Posterior):
    """Sparse variational posterior; ``predict`` averages class probabilities over MC draws of ``s2`` and ``f``."""

    method = "svgp"

    def __init__(self, model: ScaleMixtureNNGPClassifier, state: VariationalState, *, num_features: int,
                 num_predictive_samples: int = 256, fit_info: dict[str, Any] | None = None) -> None:
        super().__init__(model, num_features=num_features, fit_info=fit_info)
        self.state = state
        self.num_predictive_samples = num_predictive_samples

    def predict(self, x: torch.Tensor, *, generator: GeneratorLike = 0) -> CategoricalPredictive:
        x = self.check_inputs(x).to(DTYPE)
        generator = as_generator(generator)
        with torch.no_grad():
            f = _draw(self.model, self.state, x, self.num_predictive_samples, generator)
            log_probs = torch.logsumexp(self.model.class_log_probs(f), 0) - math.log(self.num_predictive_samples)
        return CategoricalPredictive(logits=log_probs)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors = {f"state.{k}": v.detach().clone() for k, v in self.state.state_dict().items()}
        config = {"model": io.encode_child(self.model, "model", tensors), "fit_info": self.fit_info,
                  "num_features": self.num_features, "num_predictive_samples": self.num_predictive_samples,
                  "with_scale": self.state.with_scale}
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> SVGPClassificationPosterior:
        model = io.decode_child(config["model"], "model", tensors)
        state_tensors = {k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")}
        state = VariationalState(state_tensors["inducing"], state_tensors["mean"].shape[0], config["with_scale"])
        state.load_state_dict(state_tensors)
        return cls(model, state, num_features=config["num_features"],
                   num_predictive_samples=config["num_predictive_samples"], fit_info=config["fit_info"])


def fit_svgp(model: ScaleMixtureNNGPClassifier, x: torch.Tensor, y: torch.Tensor, *, num_inducing: int = 64,
             num_steps: int = 500, learning_rate: float = 0.02, num_samples: int = 8,
             num_predictive_samples: int = 256, generator: GeneratorLike = None,
             progress: bool | None = None) -> SVGPClassificationPosterior:
    """Maximise the ELBO (module docstring) over ``q(v)``, ``q(s2)``, inducing inputs and kernel
    hyperparameters with Adam, full batch.

    Args:
        num_inducing: inducing points ``M`` (initialised at a random subset of ``x``).
        num_steps: Adam steps. learning_rate: Adam step size.
        num_samples: Monte Carlo draws of ``(s2, f)`` per step.
        num_predictive_samples: draws used by ``predict``.
        generator: seed.
        progress: progress bar.
    """
    if not isinstance(model, ScaleMixtureNNGPClassifier):
        raise InputError(f"method='svgp' fits a ScaleMixtureNNGPClassifier; got {type(model).__name__}")
    generator = as_generator(generator)
    x = x.to(DTYPE)
    model.num_features = x.shape[-1]
    model.to(DTYPE)
    num_inducing = min(num_inducing, x.shape[0])
    index = torch.randperm(x.shape[0], generator=generator)[:num_inducing]
    state = VariationalState(x[index], model.num_outputs, model.scale_prior is not None)
    parameters = [p for p in list(model.parameters()) + list(state.parameters()) if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    history = []
    bar = progress_bar(total=num_steps, desc="SVGP classification", progress=progress)
    try:
        for _ in range(num_steps):
            optimizer.zero_grad()
            f = _draw(model, state, x, num_samples, generator)
            expected = model.log_likelihood(f, y).mean(0).sum()
            root = state.root()
            kl_v = 0.5 * ((root**2).sum((-1, -2)) + (state.mean**2).sum(-1) - root.shape[-1]
                          - 2 * torch.log(root.diagonal(dim1=-2, dim2=-1).abs().clamp_min(1e-12)).sum(-1)).sum()
            kl_scale = torch.zeros((), dtype=DTYPE)
            posterior = state.scale_posterior()
            if posterior is not None:
                prior = model.scale_prior
                kl_scale = inverse_gamma_kl(posterior.concentration, posterior.rate, prior.concentration, prior.rate)
            loss = -(expected - kl_v - kl_scale) / x.shape[0]
            loss.backward()
            optimizer.step()
            history.append(float(loss.detach()))
            bar.update(1)
    finally:
        bar.close()
    fit_info = {"elbo_per_point_history": [-v for v in history[:: max(1, num_steps // 100)]],
                "final_elbo_per_point": -history[-1] if history else None, "num_inducing": num_inducing}
    if state.with_scale:
        scale_posterior = state.scale_posterior()
        fit_info["q_scale_concentration"] = float(scale_posterior.concentration.detach())
        fit_info["q_scale_rate"] = float(scale_posterior.rate.detach())
    for parameter in state.parameters():
        parameter.requires_grad_(False)
    return SVGPClassificationPosterior(model, state, num_features=x.shape[-1],
                                       num_predictive_samples=num_predictive_samples, fit_info=fit_info)
