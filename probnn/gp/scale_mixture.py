"""Scale mixtures of NNGPs (Lee et al., "Scale Mixtures of Neural Network Gaussian Processes", ICLR 2022).

A prior over the variance ``s2`` of the network's last layer turns the NNGP into a scale mixture::

    s2 ~ p(s2),    f | s2 ~ GP(m, s2 K),    y_i | f, s2 ~ N(f(x_i), s2 sigma^2).

The observation noise is scaled by ``s2`` too (noise *relative* to the function scale, as in the
Student-t process of Shah et al. 2014), so that with ``K_y = K(X, X) + sigma^2 I`` and
``r = y - m(X)``, ``Q = r^T K_y^-1 r``, the likelihood of the scale is ``y | s2 ~ N(m, s2 K_y)``.

* ``InverseGamma(a, b)`` (``method="exact"``): the marginal is a multivariate Student-t,
  ``y ~ MVT_{2a}(m, (b/a) K_y)``,

      log p(y) = lgamma(a + n/2) - lgamma(a) - n/2 log(2 pi b) - 1/2 log|K_y| - (a + n/2) log(1 + Q / (2b)),

  maximised over the kernel hyperparameters, ``a``, ``b``, ``sigma^2`` and ``m`` together with the
  log density of weakly informative hyperpriors (type-II MAP; ``hyperpriors=None`` gives type-II ML,
  whose optimum on small data sets is degenerate, see :func:`default_hyperpriors`);
  the posterior is ``s2 | y ~ IG(a + n/2, b + Q/2)`` and the predictive is Student-t with
  ``nu = 2a + n``, location the GP mean and ``scale^2 = (2b + Q) / (2a + n) x`` the GP variance.
* Any other positive prior (``method="importance"``): self-normalised importance sampling over
  ``s2`` with the proposal ``q = IG(n/2 - 1, Q/2)``, which is exactly proportional to ``p(y | s2)``
  so the weights are proportional to the prior density (bounded, hence finite variance); the
  predictive is a mixture of Gaussians ``N(mu, s2_j v)`` with the importance weights and the
  importance effective sample size is reported.
* ``method="nuts"``: the shared NUTS backend (``probnn.inference.nuts``, pyro engine) over ``s2``,
  the kernel's ``weight_std`` / ``bias_std`` and the noise, with ``f`` marginalised:
  ``y | s2, theta ~ N(m, s2 K_y(theta))`` (contract B: :meth:`ScaleMixtureNNGP.pyro_model`,
  ``predictive_from_draws``, ``log_likelihood_from_draws``). Needs an NNGP / NTK kernel.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import gpytorch
import torch
from torch.distributions import Distribution, Gamma, InverseGamma, LogNormal
from torch.nn.functional import softplus

from probnn import io
from probnn.errors import InputError, MethodError
from probnn.gp.infinite_width import InfiniteWidthKernel, infinite_width_kernels
from probnn.gp.linalg import cholesky_with_jitter
from probnn.gp.nngp import NNGPKernel
from probnn.gp.regression import DTYPE, GP, _inverse_softplus, conditional_moments
from probnn.posterior import Posterior
from probnn.predictive import GaussianPredictive, MixturePredictive, StudentTPredictive
from probnn.progress import progress_bar
from probnn.random import GeneratorLike, as_generator, sample_distribution, standard_gamma
from probnn.validation import check_inputs

#: Importance ESS below which ``fit_importance`` warns that the mixture is dominated by few draws.
LOW_ESS = 20.0
#: Hyperprior keys that act on the learned inverse-gamma scale prior ``IG(a, b)`` rather than on a
#: kernel / noise hyperparameter: ``"degrees_of_freedom"`` is a prior over ``nu = 2a`` and ``"scale"``
#: a prior over ``r = b / a`` (the mode-scale of ``s2``: ``s2 ~ IG(a, b)`` has mode ``b/(a+1)``).
SCALE_HYPERPRIOR_KEYS = ("degrees_of_freedom", "scale")
#: Default relative-noise hyperprior: log-normal with median 0.1 (the default initial noise) and
#: log-sd 1.5, so noise / signal in [5e-3, 2] with 95 % prior probability.
DEFAULT_NOISE_HYPERPRIOR = (math.log(0.1), 1.5)
#: Default weight_std hyperprior: log-normal with median 1 and log-sd 1 (W_std in [0.14, 7.1] with 95 %
#: prior probability; critical ReLU initialisation is W_std = sqrt(2)).
DEFAULT_WEIGHT_STD_HYPERPRIOR = (0.0, 1.0)
#: Default prior over the degrees of freedom nu = 2a: Gamma(2, rate 0.1) (mean 20, mode 10), the
#: weakly informative prior of Juarez & Steel (2010), also recommended for Student-t models by Stan.
DEFAULT_DEGREES_OF_FREEDOM_HYPERPRIOR = (2.0, 0.1)
#: Default prior over r = b / a: log-normal with median 1 and log-sd 1.5 (standardised targets give
#: r of order 1; 95 % prior probability in [0.05, 19]).
DEFAULT_SCALE_HYPERPRIOR = (0.0, 1.5)


def default_hyperpriors(kernel: gpytorch.kernels.Kernel, *, learn_noise: bool, learn_scale_prior: bool
                        ) -> dict[str, Distribution]:
    """Weakly informative hyperpriors that make type-II ML a MAP fit without degenerate optima.

    On small data sets the multivariate-t marginal likelihood is maximised at the boundary: ``nu = 2a ->
    infinity`` (the Gaussian limit), ``weight_std, bias_std -> 0`` with the noise absorbing all variance
    (the process is pure Student-t noise), or noise ``-> 0`` (interpolation). With targets and inputs
    standardised, these priors put those edges at low density while staying flat (in log units) over
    the plausible range; each adds ``O(1)`` to an objective of ``O(n)``, so on large data they hardly
    move the estimate. Keys (see the ``DEFAULT_*`` constants): ``"weight_std"`` (infinite-width kernels
    only), ``"noise"`` (learned noise only), ``"degrees_of_freedom"`` and ``"scale"`` (learned ``IG(a, b)``).
    ``bias_std`` has none: a bias-free network (``bias_std -> 0``) is a legitimate fit.
    """
    priors: dict[str, Distribution] = {}

    def constant(value: float) -> torch.Tensor:
        return torch.tensor(value, dtype=DTYPE)

    if isinstance(kernel, InfiniteWidthKernel):
        priors["weight_std"] = LogNormal(*map(constant, DEFAULT_WEIGHT_STD_HYPERPRIOR))
    if learn_noise:
        priors["noise"] = LogNormal(*map(constant, DEFAULT_NOISE_HYPERPRIOR))
    if learn_scale_prior:
        priors["degrees_of_freedom"] = Gamma(*map(constant, DEFAULT_DEGREES_OF_FREEDOM_HYPERPRIOR))
        priors["scale"] = LogNormal(*map(constant, DEFAULT_SCALE_HYPERPRIOR))
    return priors


class ScaleMixtureNNGP(GP):
    """NNGP (or any kernel) with a prior over the last-layer variance ``s2``; see the module docstring.

    Args:
        kernel: a gpytorch kernel; default ``NNGPKernel(depth=2, activation="relu")``.
        scale_prior: a positive-support ``torch.distributions`` distribution over ``s2``
            (default ``InverseGamma(2, 2)``). An ``InverseGamma`` gives the Student-t process.
        noise: noise variance *relative to* ``s2`` (observation variance ``s2 sigma^2``): a float
            (fixed) or ``"learned"``.
        learn_scale_prior: with an ``InverseGamma`` prior, fit ``a`` and ``b`` by type-II ML
            (``method="exact"``); other priors are always fixed.
        mean: ``"zero"`` or ``"constant"`` (learned).
        hyperpriors: ``"default"`` (:func:`default_hyperpriors`: weakly informative priors that make the
            ``exact`` / ``importance`` fits type-II MAP), ``None`` (type-II ML) or a mapping from a
            kernel / noise hyperparameter name (as in :class:`~probnn.gp.regression.GP`) or
            ``"degrees_of_freedom"`` (``nu = 2a``) / ``"scale"`` (``b / a``) to a distribution. They
            regularise the fit only; prior draws use the current hyperparameters.

    Example:
        >>> import torch, probnn
        >>> model = ScaleMixtureNNGP(noise=0.1)
        >>> x = torch.randn(6, 2, dtype=torch.float64)
        >>> model.sample_prior_functions(x, 4, generator=0).shape
        torch.Size([4, 6, 1])
    """

    backends = {"exact": "probnn.gp.scale_mixture:fit_exact",  # noqa: RUF012 (the Model contract's ClassVar)
                "importance": "probnn.gp.scale_mixture:fit_importance",
                "nuts": "probnn.inference.nuts:fit_nuts",
                # amortized: a PFN pre-trained on this process's prior, passed as checkpoint=...
                "pfn": "probnn.inference.pfn:fit_pfn"}
    #: Log-normal hyperprior width (in log units) around the current kernel hyperparameters and noise,
    #: used by ``method="nuts"``: 0.5 allows factors of ~e^(+-1) = 2.7 at two standard deviations.
    nuts_hyperprior_scale: float = 0.5
    default_method = "exact"

    def __init__(self, kernel: gpytorch.kernels.Kernel | None = None,
                 scale_prior: Distribution | None = None, noise: float | str = "learned", *,
                 initial_noise: float = 0.1, learn_scale_prior: bool = True, mean: str = "zero",
                 hyperpriors: Mapping[str, Distribution] | str | None = "default",
                 num_features: int | None = None) -> None:
        kernel = NNGPKernel(depth=2, activation="relu", weight_std=1.0, bias_std=0.1) if kernel is None else kernel
        if hyperpriors == "default":
            hyperpriors = default_hyperpriors(kernel, learn_noise=isinstance(noise, str),
                                              learn_scale_prior=learn_scale_prior
                                              and (scale_prior is None or isinstance(scale_prior, InverseGamma)))
        elif isinstance(hyperpriors, str):
            raise InputError(f"hyperpriors must be 'default', None or a mapping; got {hyperpriors!r}")
        hyperpriors = dict(hyperpriors or {})
        for key, prior in hyperpriors.items():
            if not isinstance(prior, Distribution):
                raise InputError(f"hyperpriors[{key!r}] must be a torch.distributions.Distribution; got "
                                 f"{type(prior).__name__}")
        # Priors over the inverse-gamma scale prior's (a, b) are handled here, the rest by GP.
        scale_hyperpriors = {key: hyperpriors.pop(key) for key in list(hyperpriors) if key in SCALE_HYPERPRIOR_KEYS}
        super().__init__(kernel, noise=noise, initial_noise=initial_noise, mean=mean, num_features=num_features,
                         hyperpriors=hyperpriors)
        self.scale_hyperpriors = scale_hyperpriors
        scale_prior = InverseGamma(torch.tensor(2.0, dtype=DTYPE), torch.tensor(2.0, dtype=DTYPE)) \
            if scale_prior is None else scale_prior
        if not isinstance(scale_prior, Distribution):
            raise InputError("scale_prior must be a torch.distributions.Distribution; got "
                             f"{type(scale_prior).__name__}")
        if scale_prior.batch_shape != torch.Size() or scale_prior.event_shape != torch.Size():
            raise InputError("scale_prior must be a scalar distribution (batch_shape and event_shape ())")
        support = scale_prior.support
        lower = getattr(support, "lower_bound", None)
        if support is not torch.distributions.constraints.positive and not (lower is not None and float(lower) >= 0):
            raise InputError(f"scale_prior must have positive support (a variance); got support {support}")
        self.is_inverse_gamma = isinstance(scale_prior, InverseGamma)
        self.learn_scale_prior = bool(learn_scale_prior and self.is_inverse_gamma)
        if self.learn_scale_prior:
            concentration = torch.as_tensor(scale_prior.concentration, dtype=DTYPE)
            rate = torch.as_tensor(scale_prior.rate, dtype=DTYPE)
            self.raw_concentration = torch.nn.Parameter(_inverse_softplus(concentration))
            self.raw_rate = torch.nn.Parameter(_inverse_softplus(rate))
            self.fixed_scale_prior = None
        else:
            self.fixed_scale_prior = scale_prior
        if self.scale_hyperpriors and not self.learn_scale_prior:
            raise InputError(f"hyperpriors {sorted(self.scale_hyperpriors)} act on the learned InverseGamma(a, b) "
                             "scale prior; this model's scale prior is fixed")
        self._last_scales: torch.Tensor | None = None

    # ------------------------------------------------------------------ the scale prior
    @property
    def scale_prior(self) -> Distribution:
        """The prior ``p(s2)`` (with the current ``a, b`` when they are learned)."""
        if self.learn_scale_prior:
            return InverseGamma(softplus(self.raw_concentration), softplus(self.raw_rate))
        return self.fixed_scale_prior

    def _draw_scales(self, count: int, generator: torch.Generator) -> torch.Tensor:
        prior = self.scale_prior
        if isinstance(prior, InverseGamma):  # reproducible gamma draws from the explicit generator
            gamma = standard_gamma(prior.concentration.detach().to(DTYPE).expand(count), generator)
            return prior.rate.detach().to(DTYPE) / gamma
        return sample_distribution(prior, (count,), generator).to(DTYPE)

    def log_hyperprior(self) -> torch.Tensor:
        """``log p(theta)`` of the hyperparameters: the kernel / noise hyperpriors (``GP.log_hyperprior``)
        plus, for a learned ``IG(a, b)``, ``log p_nu(2a) + log p_r(b/a)`` (densities of the degrees of
        freedom ``nu = 2a`` and of the scale ``r = b/a`` of ``s2``; ``MAP`` is over ``(a, b)``, so the
        Jacobian ``|d(nu, r)/d(a, b)| = 2/a`` is included)."""
        total = super().log_hyperprior()
        if self.scale_hyperpriors and self.learn_scale_prior:
            a, b = softplus(self.raw_concentration), softplus(self.raw_rate)
            if "degrees_of_freedom" in self.scale_hyperpriors:
                total = total + self.scale_hyperpriors["degrees_of_freedom"].log_prob(2 * a) + math.log(2)
            if "scale" in self.scale_hyperpriors:
                total = total + self.scale_hyperpriors["scale"].log_prob(b / a) - torch.log(a)
        return total

    # ------------------------------------------------------------------ prior contract
    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        """``f_s = m + sqrt(s2_s) L z_s``, ``s2_s ~ p(s2)``, ``L = chol(K(x, x))``: ``[S, n, 1]``.

        The scales drawn are kept for :meth:`sample_observations` (observation noise ``s2 sigma^2``).
        """
        x = check_inputs(x, "x", dtype=DTYPE, num_features=self.num_features)
        generator = as_generator(generator)
        with torch.no_grad():
            covariance = self.kernel_matrix(x)
            factor, _ = cholesky_with_jitter(covariance, warn=False)
            scales = self._draw_scales(num_samples, generator)
            z = torch.randn((num_samples, x.shape[0]), generator=generator, dtype=DTYPE)
            f = self.mean_function(x) + scales.sqrt().unsqueeze(-1) * (z @ factor.T)
        self._last_scales = scales
        return f.unsqueeze(-1)

    def sample_observations(self, f: torch.Tensor, *, generator: GeneratorLike = None,
                            scales: torch.Tensor | None = None) -> torch.Tensor:
        """``y = f + sqrt(s2 sigma^2) eps`` for ``f`` ``[S, n, 1]``, with ``scales`` ``[S]`` (default: the
        scales of the last :meth:`sample_prior_functions` call, which must have drawn ``S`` functions)."""
        generator = as_generator(generator)
        if scales is None:
            if self._last_scales is None or self._last_scales.shape[0] != f.shape[0]:
                raise InputError("sample_observations needs the scales s2 of the functions f: pass scales=[S] or "
                                 "call sample_prior_functions first with the same number of samples")
            scales = self._last_scales
        scales = torch.as_tensor(scales, dtype=f.dtype).reshape(-1, *[1] * (f.ndim - 1))
        noise = torch.randn(f.shape, generator=generator, dtype=f.dtype)
        return f + (scales * self.noise.detach().to(f.dtype)).sqrt() * noise

    def sample_prior_batch(self, x: torch.Tensor, *, generator: GeneratorLike = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ``(s2, f, y)`` draw per task on ``x`` ``[B, n, d]``, one batched Cholesky: ``(f, y)`` ``[B, n, 1]``."""
        if x.ndim != 3:
            raise InputError(f"x must have shape [batch, num_points, num_features]; got {tuple(x.shape)}")
        generator = as_generator(generator)
        x = x.to(DTYPE)
        with torch.no_grad():
            factor, _ = cholesky_with_jitter(self.kernel_matrix(x), warn=False)
            scales = self._draw_scales(x.shape[0], generator)
            z = torch.randn(x.shape[:2], generator=generator, dtype=DTYPE)
            f = self.mean_function(x) + scales.sqrt().unsqueeze(-1) * (factor @ z.unsqueeze(-1)).squeeze(-1)
            eps = torch.randn(x.shape[:2], generator=generator, dtype=DTYPE)
            y = f + (scales.unsqueeze(-1) * self.noise.detach()).sqrt() * eps
        return f.unsqueeze(-1), y.unsqueeze(-1)

    # ------------------------------------------------------------------ likelihood pieces
    def scale_likelihood_terms(self, x: torch.Tensor, y: torch.Tensor, *, max_relative_jitter: float = 1e-2
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """``(L, Q, log|K_y|, jitter)`` with ``L = chol(K_y)`` and ``Q = r^T K_y^-1 r`` (differentiable):
        everything ``log p(y | s2) = -n/2 log(2 pi s2) - log|K_y|/2 - Q / (2 s2)`` needs."""
        covariance = self.kernel_matrix(x) + self.noise * torch.eye(x.shape[0], dtype=DTYPE)
        factor, jitter = cholesky_with_jitter(covariance, max_relative_jitter=max_relative_jitter, warn=False)
        residual = y - self.mean_function(x)
        whitened = torch.linalg.solve_triangular(factor, residual.unsqueeze(-1), upper=False).squeeze(-1)
        logdet = 2 * factor.diagonal().log().sum()
        return factor, (whitened**2).sum(), logdet, jitter

    def log_marginal_likelihood(self, x: torch.Tensor, y: torch.Tensor, *,
                                max_relative_jitter: float = 1e-2) -> tuple[torch.Tensor, float]:
        """Multivariate-t ``log p(y | X)`` (inverse-gamma prior only); see the module docstring."""
        if not self.is_inverse_gamma:
            raise MethodError("the closed-form marginal likelihood needs an InverseGamma scale prior; use "
                              "method='importance' or 'nuts' for other priors")
        _, quadratic, logdet, jitter = self.scale_likelihood_terms(x, y, max_relative_jitter=max_relative_jitter)
        prior = self.scale_prior
        a, b = prior.concentration, prior.rate
        n = y.shape[0]
        value = (torch.lgamma(a + n / 2) - torch.lgamma(a) - n / 2 * torch.log(2 * math.pi * b) - logdet / 2
                 - (a + n / 2) * torch.log1p(quadratic / (2 * b)))
        return value, jitter

    # ------------------------------------------------------------------ parametric-model protocol (NUTS)
    def _kernel_with(self, x1: torch.Tensor, x2: torch.Tensor, weight_std: torch.Tensor, bias_std: torch.Tensor,
                     diag: bool = False) -> torch.Tensor:
        """The kernel with hyperparameters given as tensors (differentiable, for the sampler)."""
        kernel = self.kernel
        if not isinstance(kernel, InfiniteWidthKernel):
            raise MethodError("method='nuts' samples the hyperparameters of an NNGPKernel / NTKKernel; got "
                              f"{type(kernel).__name__}")
        nngp, ntk = infinite_width_kernels(x1, x2, depth=kernel.depth, activation=kernel.activation,
                                           weight_variance=weight_std**2, bias_variance=bias_std**2, diag=diag,
                                           with_ntk=kernel.kind == "ntk", quadrature_points=kernel.quadrature_points)
        return ntk if kernel.kind == "ntk" else nngp

    def pyro_model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Log joint over ``s2`` (site ``"scale"``), ``weight_std``, ``bias_std``, ``noise`` (if learned) and
        ``y ~ N(m, s2 (K + sigma^2 I))`` (site ``"y"``). Hyperpriors: log-normal around the current
        values with width :attr:`nuts_hyperprior_scale`; ``s2`` has the model's ``scale_prior``."""
        import pyro
        import pyro.distributions as dist

        x = x.to(DTYPE)
        width = torch.tensor(self.nuts_hyperprior_scale, dtype=DTYPE)
        kernel = self.kernel
        weight_std = pyro.sample("weight_std", dist.LogNormal(kernel.weight_std.detach().log().reshape(()), width))
        bias_std = pyro.sample("bias_std", dist.LogNormal(kernel.bias_std.detach().log().reshape(()), width))
        noise = (pyro.sample("noise", dist.LogNormal(self.noise.detach().log(), width)) if self.learn_noise
                 else self.noise.detach())
        # s2 is sampled under a proper log-normal base (for initialisation), and the factor swaps the base
        # density for the scale prior's: the joint density of s2 is exactly p(s2).
        base = dist.LogNormal(torch.zeros((), dtype=DTYPE), torch.full((), 2.0, dtype=DTYPE))
        scale = pyro.sample("scale", base)
        pyro.factor("scale_prior", self.scale_prior.log_prob(scale.to(DTYPE)) - base.log_prob(scale))
        covariance = self._kernel_with(x, x, weight_std, bias_std) + noise * torch.eye(x.shape[0], dtype=DTYPE)
        factor, _ = cholesky_with_jitter(covariance, warn=False)
        mean = self.mean_function(x).detach()
        observed = None if y is None else y.to(DTYPE)
        pyro.sample("y", dist.MultivariateNormal(mean, scale_tril=scale.to(DTYPE).sqrt() * factor), obs=observed)

    def _draw_values(self, draws: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, ...]]:
        count = draws["scale"].reshape(-1).shape[0]
        noise = draws["noise"].reshape(-1) if "noise" in draws else self.noise.detach().expand(count)
        return list(zip(*(draws[name].reshape(-1).to(DTYPE) for name in ("scale", "weight_std", "bias_std")),
                        noise.to(DTYPE), strict=True))

    def predictive_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor, *,
                              x_train: torch.Tensor | None = None, y_train: torch.Tensor | None = None
                              ) -> MixturePredictive:
        """Equal-weight mixture over draws of ``N(mu_theta(x), s2 (v_theta(x) + sigma^2))``."""
        if x_train is None or y_train is None:
            raise InputError("predictive_from_draws needs the training data x_train, y_train")
        x, x_train, y_train = x.to(DTYPE), x_train.to(DTYPE), y_train.to(DTYPE)
        means, variances = [], []
        with torch.no_grad():
            for scale, weight_std, bias_std, noise in self._draw_values(draws):
                covariance = self._kernel_with(x_train, x_train, weight_std, bias_std)
                factor, _ = cholesky_with_jitter(covariance + noise * torch.eye(len(x_train), dtype=DTYPE), warn=False)
                cross = self._kernel_with(x_train, x, weight_std, bias_std)
                residual = y_train - self.mean_function(x_train)
                alpha = torch.cholesky_solve(residual.unsqueeze(-1), factor).squeeze(-1)
                v = torch.linalg.solve_triangular(factor, cross, upper=False)
                prior = self._kernel_with(x, x, weight_std, bias_std, diag=True)
                means.append(self.mean_function(x) + cross.T @ alpha)
                variances.append(scale * ((prior - (v**2).sum(0)).clamp_min(1e-12) + noise))
        return MixturePredictive(GaussianPredictive(torch.stack(means), torch.stack(variances)))

    def log_likelihood_from_draws(self, draws: dict[str, torch.Tensor], x: torch.Tensor,
                                  y: torch.Tensor) -> torch.Tensor:
        """Sequential conditionals ``log p(y_i | y_<i, theta_s)`` ``[num_draws, n]`` (they sum to the joint
        ``log p(y | theta_s)``; from the whitened residuals ``z = L^-1 r`` of ``L = chol(s2 K_y)``)."""
        x, y = x.to(DTYPE), y.to(DTYPE)
        rows = []
        with torch.no_grad():
            for scale, weight_std, bias_std, noise in self._draw_values(draws):
                covariance = scale * (self._kernel_with(x, x, weight_std, bias_std)
                                      + noise * torch.eye(len(x), dtype=DTYPE))
                factor, _ = cholesky_with_jitter(covariance, warn=False)
                z = torch.linalg.solve_triangular(factor, (y - self.mean_function(x)).unsqueeze(-1),
                                                  upper=False).squeeze(-1)
                rows.append(-0.5 * z**2 - factor.diagonal().log() - 0.5 * math.log(2 * math.pi))
        return torch.stack(rows)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config, tensors = super().get_state()
        config["learn_scale_prior"] = self.learn_scale_prior
        config["scale_prior"] = io.distribution_to_config(self.scale_prior)
        config["scale_hyperpriors"] = {key: io.distribution_to_config(prior)
                                       for key, prior in self.scale_hyperpriors.items()}
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> ScaleMixtureNNGP:
        from probnn.gp.kernel_config import kernel_from_config

        prior = io.distribution_from_config(config["scale_prior"])
        # Files written before hyperpriors existed have none: they load as pure type-II ML models.
        hyperpriors = {key: io.distribution_from_config(value)
                       for key, value in {**config.get("hyperpriors", {}),
                                          **config.get("scale_hyperpriors", {})}.items()}
        model = cls(kernel_from_config(config["kernel"]), prior, config["noise"],
                    learn_scale_prior=config["learn_scale_prior"], mean=config["mean"],
                    hyperpriors=hyperpriors, num_features=config["num_features"])
        model.to(DTYPE)
        model.load_state_dict(tensors)
        return model


# ---------------------------------------------------------------------------- posteriors
class _ConditionedScaleMixture(Posterior):
    """Shared GP algebra of the exact and importance posteriors: ``mu(x*)`` and ``v(x*)``, the
    latent GP mean and the unit-scale variance ``k** (+ sigma^2) - k*^T K_y^-1 k*``."""

    def __init__(self, model: ScaleMixtureNNGP, x: torch.Tensor, y: torch.Tensor, *,
                 fit_info: dict[str, Any] | None = None) -> None:
        super().__init__(model, num_features=x.shape[-1], fit_info=fit_info)
        self.x_train, self.y_train = x.to(DTYPE), y.to(DTYPE)
        with torch.no_grad():
            self.factor, self.quadratic, _, self.jitter = model.scale_likelihood_terms(self.x_train, self.y_train)
            residual = self.y_train - model.mean_function(self.x_train)
            self.alpha = torch.cholesky_solve(residual.unsqueeze(-1), self.factor).squeeze(-1)
        self.fit_info["jitter"] = self.jitter

    def _unit_moments(self, x: torch.Tensor, observation_noise: bool) -> tuple[torch.Tensor, torch.Tensor]:
        mean, variance = conditional_moments(self.model, self.x_train, self.factor, self.alpha, x)
        if observation_noise:
            variance = variance + self.model.noise.detach()
        return mean, variance

    def _unit_joint(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, covariance = conditional_moments(self.model, self.x_train, self.factor, self.alpha, x,
                                               full_covariance=True)
        factor, _ = cholesky_with_jitter(0.5 * (covariance + covariance.T), warn=False)
        return mean, factor

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors = {"x_train": self.x_train, "y_train": self.y_train, **self._extra_tensors()}
        config = {"model": io.encode_child(self.model, "model", tensors), "fit_info": self.fit_info}
        return config, tensors

    def _extra_tensors(self) -> dict[str, torch.Tensor]:
        return {}


class StudentTProcessPosterior(_ConditionedScaleMixture):
    """Exact posterior of the inverse-gamma scale mixture: ``s2 | y ~ IG(a + n/2, b + Q/2)`` and a
    Student-t predictive ``t_{2a+n}(mu, (2b + Q)/(2a + n) v)``."""

    method = "exact"

    @property
    def posterior_scale(self) -> InverseGamma:
        """``p(s2 | y) = IG(a + n/2, b + Q/2)``."""
        prior = self.model.scale_prior
        n = self.y_train.shape[0]
        return InverseGamma(prior.concentration.detach() + n / 2, prior.rate.detach() + self.quadratic / 2)

    def predict(self, x: torch.Tensor, *, observation_noise: bool = True) -> StudentTPredictive:
        """Student-t predictive of ``y`` (of ``f`` with ``observation_noise=False``) at ``x``."""
        x = self.check_inputs(x).to(DTYPE)
        mean, variance = self._unit_moments(x, observation_noise)
        posterior = self.posterior_scale
        degrees = 2 * posterior.concentration
        scale2 = (2 * posterior.rate) / degrees
        return StudentTPredictive(degrees, mean, (scale2 * variance).sqrt())

    def sample_functions(self, x: torch.Tensor, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        """Joint multivariate-t draws ``f = mu + sqrt(s2) L z``, ``s2 ~ p(s2 | y)``: ``[S, n, 1]``."""
        x = self.check_inputs(x).to(DTYPE)
        generator = as_generator(generator)
        mean, factor = self._unit_joint(x)
        posterior = self.posterior_scale
        scales = posterior.rate / standard_gamma(posterior.concentration.expand(num_samples), generator)
        z = torch.randn((num_samples, len(mean)), generator=generator, dtype=DTYPE)
        return (mean + scales.sqrt().unsqueeze(-1) * (z @ factor.T)).unsqueeze(-1)

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> StudentTProcessPosterior:
        model = io.decode_child(config["model"], "model", tensors)
        return cls(model, tensors["x_train"], tensors["y_train"], fit_info=config["fit_info"])


class ImportanceScalePosterior(_ConditionedScaleMixture):
    """Self-normalised importance sampling over ``s2``: draws ``s2_j`` with log weights ``log w_j``;
    the predictive is ``sum_j w_j N(mu, s2_j v)``."""

    method = "importance"

    def __init__(self, model: ScaleMixtureNNGP, x: torch.Tensor, y: torch.Tensor, scales: torch.Tensor,
                 log_weights: torch.Tensor, *, fit_info: dict[str, Any] | None = None) -> None:
        super().__init__(model, x, y, fit_info=fit_info)
        self.scales = scales.detach().to(DTYPE)
        self.log_weights = (log_weights - torch.logsumexp(log_weights, 0)).detach().to(DTYPE)
        self.fit_info["importance_ess"] = float(1.0 / self.log_weights.exp().pow(2).sum())

    @property
    def effective_sample_size(self) -> float:
        """Kish ESS ``1 / sum w_j^2`` of the normalised importance weights."""
        return self.fit_info["importance_ess"]

    def predict(self, x: torch.Tensor, *, observation_noise: bool = True) -> MixturePredictive:
        x = self.check_inputs(x).to(DTYPE)
        mean, variance = self._unit_moments(x, observation_noise)
        components = GaussianPredictive(mean.expand(len(self.scales), -1), self.scales[:, None] * variance)
        return MixturePredictive(components, self.log_weights)

    def sample_functions(self, x: torch.Tensor, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        """Joint draws: resample ``s2_j`` by weight, then ``f = mu + sqrt(s2_j) L z``: ``[S, n, 1]``."""
        x = self.check_inputs(x).to(DTYPE)
        generator = as_generator(generator)
        mean, factor = self._unit_joint(x)
        index = torch.multinomial(self.log_weights.exp(), num_samples, replacement=True, generator=generator)
        z = torch.randn((num_samples, len(mean)), generator=generator, dtype=DTYPE)
        return (mean + self.scales[index].sqrt().unsqueeze(-1) * (z @ factor.T)).unsqueeze(-1)

    def _extra_tensors(self) -> dict[str, torch.Tensor]:
        return {"scales": self.scales, "log_weights": self.log_weights}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> ImportanceScalePosterior:
        model = io.decode_child(config["model"], "model", tensors)
        return cls(model, tensors["x_train"], tensors["y_train"], tensors["scales"], tensors["log_weights"],
                   fit_info=config["fit_info"])


# ---------------------------------------------------------------------------- backends
def _maximise(model: ScaleMixtureNNGP, objective, max_iterations: int, description: str,
              progress: bool | None) -> list[float]:
    """L-BFGS (strong Wolfe) on ``-objective() / n``, keeping the best finite state seen."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    history: list[float] = []
    if not parameters or max_iterations <= 0:
        return history
    optimizer = torch.optim.LBFGS(parameters, lr=1.0, max_iter=max_iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12, history_size=50)
    bar = progress_bar(total=max_iterations, desc=description, progress=progress)
    best: dict[str, Any] = {"loss": math.inf, "state": None}

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        try:
            loss = -objective()
        except Exception:  # a NumericalError from an extreme line-search trial: reject the step
            loss = torch.tensor(math.inf, dtype=DTYPE, requires_grad=True)
        value = float(loss.detach())
        if math.isfinite(value):
            loss.backward()
            if value < best["loss"]:
                best["loss"] = value
                best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history.append(value)
        bar.update(1)
        return loss

    try:
        optimizer.step(closure)
    finally:
        bar.close()
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return history


def _prepare(model: ScaleMixtureNNGP, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(model, ScaleMixtureNNGP):
        raise InputError(f"this backend fits a ScaleMixtureNNGP; got {type(model).__name__}")
    if y.ndim != 1:
        raise InputError("scale-mixture regression takes a single output: y must be [num_points]; got "
                         f"{tuple(y.shape)}")
    if model.num_features is not None and model.num_features != x.shape[-1]:
        raise InputError(f"x has {x.shape[-1]} features but the model was built for {model.num_features}")
    model.num_features = x.shape[-1]
    model.to(DTYPE)
    return x.to(DTYPE), y.to(DTYPE)


def fit_exact(model: ScaleMixtureNNGP, x: torch.Tensor, y: torch.Tensor, *, optimize: bool = True,
              max_iterations: int = 200, progress: bool | None = None) -> StudentTProcessPosterior:
    """Student-t process: type-II MAP, ``max log p(y | theta) + log p(theta)`` (the multivariate-t marginal
    likelihood plus the model's hyperpriors; type-II ML with ``hyperpriors=None``) over the kernel
    hyperparameters, ``a``, ``b`` (when learned), noise and mean, then the closed-form posterior.
    ``fit_info`` reports ``log_marginal_likelihood`` and ``log_hyperprior`` at the optimum.

    Args:
        optimize: fit hyperparameters (``False`` keeps the current values).
        max_iterations: L-BFGS iterations.
        progress: show a progress bar.
    """
    x, y = _prepare(model, x, y)
    if not model.is_inverse_gamma:
        raise MethodError("method='exact' needs an InverseGamma scale prior; got "
                          f"{type(model.scale_prior).__name__}. Use method='importance' or method='nuts'")
    history = _maximise(model, lambda: (model.log_marginal_likelihood(x, y)[0] + model.log_hyperprior()) / len(y),
                        max_iterations if optimize else 0, "Student-t process type-II MAP", progress)
    with torch.no_grad():
        log_marginal = float(model.log_marginal_likelihood(x, y)[0])
        log_hyperprior = float(model.log_hyperprior())
    prior = model.scale_prior
    fit_info = {"objective_history": history, "log_marginal_likelihood": log_marginal,
                "log_hyperprior": log_hyperprior,
                "scale_prior_concentration": float(prior.concentration.detach()),
                "scale_prior_rate": float(prior.rate.detach())}
    return StudentTProcessPosterior(model, x, y, fit_info=fit_info)


def _importance_draws(model: ScaleMixtureNNGP, x: torch.Tensor, y: torch.Tensor, gamma_draws: torch.Tensor,
                      uniform_draws: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scales ``s2_j`` and log weights ``log p(y|s2_j) + log p(s2_j) - log q(s2_j)`` (differentiable in the
    hyperparameters through the fixed base draws), and the log marginal-likelihood estimate."""
    _, quadratic, logdet, _ = model.scale_likelihood_terms(x, y)
    n = y.shape[0]
    shape = n / 2 - 1
    proposal = InverseGamma(torch.tensor(shape, dtype=DTYPE), quadratic / 2)
    scales = (quadratic / 2) / gamma_draws
    log_likelihood = -n / 2 * torch.log(2 * math.pi * scales) - logdet / 2 - quadratic / (2 * scales)
    log_prior = model.scale_prior.log_prob(scales)
    log_weights = log_likelihood + log_prior - proposal.log_prob(scales)
    log_marginal = torch.logsumexp(log_weights, 0) - math.log(len(scales))
    return scales, log_weights, log_marginal


def fit_importance(model: ScaleMixtureNNGP, x: torch.Tensor, y: torch.Tensor, *, num_samples: int = 4096,
                   optimize: bool = True, max_iterations: int = 100, generator: GeneratorLike = None,
                   progress: bool | None = None) -> ImportanceScalePosterior:
    """Self-normalised importance sampling over ``s2`` for any positive prior.

    The proposal is ``q(s2) = IG(n/2 - 1, Q/2)``, proportional to ``p(y | s2)`` in ``s2``, so
    ``w_j = p(y|s2_j) p(s2_j) / q(s2_j)`` is proportional to ``p(s2_j)``: bounded for bounded prior
    densities (half-Cauchy, log-normal, Burr XII with ``c >= 1``, inverse gamma). With ``optimize``
    the kernel hyperparameters, noise and mean maximise the importance estimate of
    ``log p(y) = log E_q[w]`` with the base gamma draws held fixed (common random numbers).

    Args:
        num_samples: importance draws ``J``.
        optimize: fit hyperparameters (``False`` keeps the current values).
        max_iterations: L-BFGS iterations.
        generator: seed for the base draws.
        progress: show a progress bar.

    Returns:
        A posterior with ``fit_info["importance_ess"]`` (Kish ESS of the weights) and
        ``fit_info["log_marginal_likelihood"]`` (the importance estimate).
    """
    x, y = _prepare(model, x, y)
    n = y.shape[0]
    if n < 5:
        raise InputError(f"method='importance' needs at least 5 observations (the proposal IG(n/2 - 1, Q/2)); got {n}")
    generator = as_generator(generator)
    if model.learn_scale_prior:  # an IG prior fitted by importance sampling: keep a, b fixed here
        model.raw_concentration.requires_grad_(False)
        model.raw_rate.requires_grad_(False)
    gamma_draws = standard_gamma(torch.full((num_samples,), n / 2 - 1, dtype=DTYPE), generator)
    history = _maximise(model, lambda: (_importance_draws(model, x, y, gamma_draws, None)[2]
                                        + model.log_hyperprior()) / n,
                        max_iterations if optimize else 0, "scale-mixture importance type-II ML", progress)
    with torch.no_grad():
        scales, log_weights, log_marginal = _importance_draws(model, x, y, gamma_draws, None)
    posterior = ImportanceScalePosterior(model, x, y, scales, log_weights,
                                         fit_info={"objective_history": history,
                                                   "log_marginal_likelihood": float(log_marginal),
                                                   "num_samples": num_samples})
    if posterior.effective_sample_size < LOW_ESS:
        warnings.warn(f"importance ESS is {posterior.effective_sample_size:.1f} of {num_samples} draws: the scale "
                      "posterior is poorly covered; increase num_samples or use method='nuts'", stacklevel=2)
    return posterior
