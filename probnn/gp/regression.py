"""Gaussian-process regression: the :class:`GP` model and its exact (conjugate) posterior.

Model (Rasmussen & Williams, 2006, ch. 2)::

    f ~ GP(m, k_theta),    y_i = f(x_i) + eps_i,    eps_i ~ N(0, sigma^2)

``method="exact"`` fits the hyperparameters ``theta, sigma^2, m`` by type-II maximum likelihood
(maximum a posteriori when hyperpriors are given),

    log p(y | X) = -1/2 r^T (K + sigma^2 I)^-1 r - 1/2 log|K + sigma^2 I| - n/2 log 2 pi,  r = y - m,

and returns the closed-form posterior predictive: with ``L = chol(K + sigma^2 I)``,
``alpha = (K + sigma^2 I)^-1 r`` and ``V = L^-1 K(X, x*)``,

    mean(x*) = m + K(x*, X) alpha,    var_f(x*) = k(x*, x*) - sum V^2,    var_y = var_f + sigma^2.

All GP arithmetic runs in float64.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import gpytorch
import torch
from torch.nn.functional import softplus

from probnn import io
from probnn.errors import InputError, NotFittedError, NumericalError
from probnn.gp.kernel_config import kernel_from_config, kernel_to_config
from probnn.gp.linalg import cholesky_with_jitter, gaussian_log_marginal
from probnn.models.base import Model
from probnn.posterior import Posterior
from probnn.predictive import GaussianPredictive
from probnn.progress import progress_bar
from probnn.random import GeneratorLike, as_generator, sample_distribution
from probnn.validation import check_inputs

#: Smallest noise variance a learned noise can reach (keeps K + sigma^2 I well conditioned).
MIN_NOISE = 1e-6
DTYPE = torch.float64
#: Loss reported (per data point, on top of |initial loss|) for a line-search trial whose kernel
#: matrix cannot be factorised: far above any attainable value of -log p(y|X)/n, yet finite.
_FAILED_TRIAL_PENALTY = 1e6


def _inverse_softplus(value: torch.Tensor) -> torch.Tensor:
    return value + torch.log(-torch.expm1(-value))


class GP(Model, torch.nn.Module):
    """Gaussian-process prior over functions with a Gaussian likelihood.

    Args:
        kernel: a gpytorch kernel. Default: ``ScaleKernel(RBFKernel(ard_num_dims=d))`` (RBF-ARD),
            built when the input dimension ``d`` is first seen and initialised from the data at
            fit time (lengthscales = input std, output scale = target variance).
        noise: observation-noise *variance*: a float keeps it fixed; ``"learned"`` fits it.
        initial_noise: starting value of a learned noise variance.
        mean: ``"constant"`` (a learned constant) or ``"zero"``.
        hyperpriors: optional priors over hyperparameters, keyed by parameter name: a full path
            such as ``"kernel.base_kernel.lengthscale"`` or any unique suffix (``"lengthscale"``,
            ``"outputscale"``, ``"noise"``, ``"mean"``). Prior samples redraw the hyperparameters per
            function (a hierarchical GP prior); ``method="exact"`` then maximises the posterior
            (type-II MAP) instead of the likelihood.

    Example:
        >>> gp = GP(noise=0.01)
        >>> x = torch.linspace(0, 1, 5, dtype=torch.float64).unsqueeze(-1)
        >>> gp.sample_prior_functions(x, 3, generator=0).shape
        torch.Size([3, 5, 1])
    """

    backends: ClassVar[dict[str, str]] = {"exact": "probnn.gp.regression:fit_exact",
                                          "pfn": "probnn.inference.pfn:fit_pfn"}
    default_method = "exact"

    def __init__(self, kernel: gpytorch.kernels.Kernel | None = None, *, noise: float | str = "learned",
                 initial_noise: float = 0.1, mean: str = "constant",
                 hyperpriors: Mapping[str, torch.distributions.Distribution] | None = None,
                 num_features: int | None = None) -> None:
        torch.nn.Module.__init__(self)
        if mean not in ("constant", "zero"):
            raise InputError(f"mean must be 'constant' or 'zero'; got {mean!r}")
        if isinstance(noise, str):
            if noise != "learned":
                raise InputError(f"noise must be a positive float or 'learned'; got {noise!r}")
            if not initial_noise > MIN_NOISE:
                raise InputError(f"initial_noise must be > {MIN_NOISE}; got {initial_noise}")
            self.raw_noise = torch.nn.Parameter(_inverse_softplus(torch.tensor(initial_noise - MIN_NOISE,
                                                                              dtype=DTYPE)))
        else:
            if not (isinstance(noise, (int, float)) and noise > 0 and math.isfinite(noise)):
                raise InputError(f"noise must be a positive finite float or 'learned'; got {noise!r}")
            self.register_buffer("fixed_noise", torch.tensor(float(noise), dtype=DTYPE))
        self.learn_noise = isinstance(noise, str)
        self.mean_kind = mean
        self.constant_mean = torch.nn.Parameter(torch.zeros((), dtype=DTYPE)) if mean == "constant" else None
        self.default_kernel = kernel is None
        self.num_features = num_features
        self.kernel: gpytorch.kernels.Kernel | None = None
        if kernel is not None:
            self.kernel = kernel.to(DTYPE)
        elif num_features is not None:
            self.ensure_kernel(num_features)
        self.hyperpriors = dict(hyperpriors or {})
        if self.kernel is not None:
            self._hyperprior_paths()  # validate names early

    # ------------------------------------------------------------------ structure
    def ensure_kernel(self, num_features: int) -> gpytorch.kernels.Kernel:
        """Build the default RBF-ARD kernel for ``num_features`` inputs if none was given."""
        if self.kernel is None:
            base = gpytorch.kernels.RBFKernel(ard_num_dims=num_features)
            self.kernel = gpytorch.kernels.ScaleKernel(base).to(DTYPE)
            self.num_features = num_features
        return self.kernel

    @property
    def noise(self) -> torch.Tensor:
        """Observation-noise variance ``sigma^2``."""
        if self.learn_noise:
            return softplus(self.raw_noise) + MIN_NOISE
        return self.fixed_noise

    def mean_function(self, x: torch.Tensor) -> torch.Tensor:
        """Prior mean at ``x`` ``[..., n, d]`` -> ``[..., n]``."""
        value = self.constant_mean if self.constant_mean is not None else torch.zeros((), dtype=DTYPE)
        return value.expand(x.shape[:-1])

    def kernel_matrix(self, x1: torch.Tensor, x2: torch.Tensor | None = None, *, diag: bool = False) -> torch.Tensor:
        """Dense kernel matrix ``k(x1, x2)`` ``[..., n1, n2]`` (or its diagonal ``[..., n1]``)."""
        kernel = self.ensure_kernel(x1.shape[-1])
        x2 = x1 if x2 is None else x2
        if diag:
            return kernel(x1, x2, diag=True)
        return kernel(x1, x2).to_dense()

    # ------------------------------------------------------------------ hyperparameters
    def hyperparameter_paths(self) -> dict[str, tuple[torch.nn.Module, str]]:
        """All constrained hyperparameters: ``{"kernel.base_kernel.lengthscale": (module, "lengthscale")}``."""
        paths: dict[str, tuple[torch.nn.Module, str]] = {}
        if self.learn_noise:
            paths["noise"] = (self, "noise")
        if self.constant_mean is not None:
            paths["mean"] = (self, "constant_mean")
        if self.kernel is not None:
            for module_name, module in self.kernel.named_modules():
                for name in module._parameters:
                    if name.startswith("raw_"):
                        prefix = f"kernel.{module_name}." if module_name else "kernel."
                        paths[prefix + name[4:]] = (module, name[4:])
        return paths

    def _hyperprior_paths(self) -> dict[str, str]:
        """Map each hyperprior key to the full parameter path it names."""
        paths = self.hyperparameter_paths()
        resolved = {}
        for key in self.hyperpriors:
            matches = [p for p in paths if p == key or p.endswith("." + key)]
            if len(matches) != 1:
                raise InputError(
                    f"hyperpriors key {key!r} must name exactly one hyperparameter; matches {matches}; "
                    f"available: {sorted(paths)}")
            resolved[key] = matches[0]
        return resolved

    def get_hyperparameters(self) -> dict[str, torch.Tensor]:
        """Current constrained hyperparameter values by full path."""
        return {path: getattr(module, attribute).detach().clone()
                for path, (module, attribute) in self.hyperparameter_paths().items()}

    def set_hyperparameters(self, values: Mapping[str, torch.Tensor]) -> None:
        """Set constrained hyperparameter values by full path (inverse-transforming to raw values)."""
        paths = self.hyperparameter_paths()
        for path, value in values.items():
            module, attribute = paths[path]
            value = torch.as_tensor(value, dtype=DTYPE)
            if module is self and attribute == "noise":
                self.raw_noise.data = _inverse_softplus((value - MIN_NOISE).clamp_min(1e-12)).reshape(
                    self.raw_noise.shape)
            elif module is self and attribute == "constant_mean":
                self.constant_mean.data = value.reshape(self.constant_mean.shape)
            else:
                current = getattr(module, attribute)
                module.initialize(**{attribute: value.expand_as(current).clone()})

    def draw_hyperparameters(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One joint draw of every hyperparameter that has a hyperprior (independent per element)."""
        paths = self.hyperparameter_paths()
        draws = {}
        for key, path in self._hyperprior_paths().items():
            prior = self.hyperpriors[key]
            module, attribute = paths[path]
            shape = getattr(module, attribute).shape
            sample_shape = shape if prior.batch_shape == torch.Size() else torch.Size()
            draws[path] = sample_distribution(prior, sample_shape, generator).to(DTYPE).expand(shape)
        return draws

    def log_hyperprior(self) -> torch.Tensor:
        """``sum log p(theta)`` over hyperparameters with hyperpriors (0 without any)."""
        paths = self.hyperparameter_paths()
        total = torch.zeros((), dtype=DTYPE)
        for key, path in self._hyperprior_paths().items():
            module, attribute = paths[path]
            total = total + self.hyperpriors[key].log_prob(getattr(module, attribute)).sum()
        return total

    @contextlib.contextmanager
    def hyperparameters_set_to(self, values: Mapping[str, torch.Tensor]) -> Iterator[None]:
        """Temporarily set hyperparameters (restored on exit)."""
        saved = {key: value.detach().clone() for key, value in self.state_dict().items()}
        try:
            self.set_hyperparameters(values)
            yield
        finally:
            self.load_state_dict(saved)

    # ------------------------------------------------------------------ prior contract
    def _prior_covariances(self, x: torch.Tensor, count: int, generator: torch.Generator
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Means ``[count, n]``, covariances ``[count, n, n]`` and noise ``[count]`` of ``count`` prior
        draws on inputs ``x`` (``[n, d]`` shared, or ``[count, n, d]``), redrawing hyperparameters per
        draw when hyperpriors are set."""
        x = x.to(DTYPE)
        self.ensure_kernel(x.shape[-1])
        batched = x.ndim == 3
        with torch.no_grad():
            if not self.hyperpriors:
                covariance = self.kernel_matrix(x)
                mean = self.mean_function(x)
                if not batched:
                    covariance, mean = covariance.expand(count, -1, -1), mean.expand(count, -1)
                return mean, covariance, self.noise.expand(count)
            means, covariances, noises = [], [], []
            for index in range(count):
                inputs = x[index] if batched else x
                with self.hyperparameters_set_to(self.draw_hyperparameters(generator)):
                    covariances.append(self.kernel_matrix(inputs))
                    means.append(self.mean_function(inputs))
                    noises.append(self.noise)
            return torch.stack(means), torch.stack(covariances), torch.stack(noises)

    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        """``f_s = m + L z_s`` with ``L = chol(K(x, x))`` (jittered), ``z_s ~ N(0, I)``: ``[S, n, 1]``."""
        x = check_inputs(x, "x", dtype=DTYPE, num_features=self.num_features)
        generator = as_generator(generator)
        if not self.hyperpriors:  # one factor shared by all draws (not num_samples identical Cholesky factors)
            mean, covariance, _ = self._prior_covariances(x, 1, generator)
            factor, _ = cholesky_with_jitter(covariance[0], warn=False)
            z = torch.randn((num_samples, x.shape[0]), generator=generator, dtype=DTYPE)
            return (mean + z @ factor.T).unsqueeze(-1)
        mean, covariance, _ = self._prior_covariances(x, num_samples, generator)
        factor, _ = cholesky_with_jitter(covariance, warn=False)
        z = torch.randn(mean.shape, generator=generator, dtype=DTYPE)
        return (mean + (factor @ z.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)

    def sample_observations(self, f: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        """``y = f + sigma eps`` with the current noise variance."""
        generator = as_generator(generator)
        noise = torch.randn(f.shape, generator=generator, dtype=f.dtype)
        return f + self.noise.detach().to(f.dtype).sqrt() * noise

    def sample_prior_batch(self, x: torch.Tensor, *, generator: GeneratorLike = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched task draws: one (hyperparameters, function, noise) triple per task, one batched Cholesky."""
        if x.ndim != 3:
            raise InputError(f"x must have shape [batch, num_points, num_features]; got {tuple(x.shape)}")
        generator = as_generator(generator)
        mean, covariance, noise = self._prior_covariances(x, x.shape[0], generator)
        factor, _ = cholesky_with_jitter(covariance, warn=False)
        z = torch.randn(mean.shape, generator=generator, dtype=DTYPE)
        f = mean + (factor @ z.unsqueeze(-1)).squeeze(-1)
        eps = torch.randn(mean.shape, generator=generator, dtype=DTYPE)
        y = f + noise.unsqueeze(-1).sqrt() * eps
        return f.unsqueeze(-1), y.unsqueeze(-1)

    # ------------------------------------------------------------------ likelihood
    def log_marginal_likelihood(self, x: torch.Tensor, y: torch.Tensor, *,
                                max_relative_jitter: float = 1e-2) -> tuple[torch.Tensor, float]:
        """``log p(y | X, theta)`` (differentiable) and the jitter used."""
        covariance = self.kernel_matrix(x) + self.noise * torch.eye(x.shape[0], dtype=DTYPE)
        factor, jitter = cholesky_with_jitter(covariance, max_relative_jitter=max_relative_jitter, warn=False)
        return gaussian_log_marginal(factor, y - self.mean_function(x)), jitter

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.kernel is None:
            raise NotFittedError("the GP's default kernel is built when it first sees data; fit or sample first")
        config = {
            "kernel": kernel_to_config(self.kernel),
            "noise": "learned" if self.learn_noise else float(self.fixed_noise),
            "mean": self.mean_kind,
            "num_features": self.num_features,
            "default_kernel": self.default_kernel,
            "hyperpriors": {key: io.distribution_to_config(prior) for key, prior in self.hyperpriors.items()},
        }
        return config, {key: value.detach().clone() for key, value in self.state_dict().items()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> GP:
        model = cls(kernel=kernel_from_config(config["kernel"]), noise=config["noise"], mean=config["mean"],
                    num_features=config["num_features"],
                    hyperpriors={key: io.distribution_from_config(value)
                                 for key, value in config["hyperpriors"].items()})
        model.default_kernel = config["default_kernel"]
        model.load_state_dict(tensors)
        return model


def conditional_moments(model: GP, x_train: torch.Tensor, factor: torch.Tensor, alpha: torch.Tensor,
                        x: torch.Tensor, *, full_covariance: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent GP posterior moments at ``x`` from ``L = chol(K + sigma^2 I)`` and ``alpha = (K + sigma^2 I)^-1 r``.

    ``mean = m(x) + K(x, X) alpha`` and, with ``V = L^-1 K(X, x)``, ``cov = K(x, x) - V^T V`` (or its
    diagonal, floored at 1e-12 x the mean prior variance so round-off never gives a negative variance).
    Shared by every posterior that conditions a GP-type model on data (exact GP, Student-t process).
    Differentiable in ``x`` when ``x`` requires grad (acquisition optimisers use it); else no graph is built.
    """
    with torch.set_grad_enabled(torch.is_grad_enabled() and x.requires_grad):
        cross = model.kernel_matrix(x_train, x)
        mean = model.mean_function(x) + cross.T @ alpha
        v = torch.linalg.solve_triangular(factor, cross, upper=False)
        if full_covariance:
            return mean, model.kernel_matrix(x) - v.T @ v
        prior_variance = model.kernel_matrix(x, diag=True)
        variance = prior_variance - (v**2).sum(0)
        return mean, variance.clamp_min(1e-12 * float(prior_variance.detach().mean()))


class ExactGPPosterior(Posterior):
    """Closed-form GP posterior given training data; see the module docstring for the formulas."""

    method = "exact"

    def __init__(self, model: GP, x: torch.Tensor, y: torch.Tensor, *, fit_info: dict[str, Any] | None = None) -> None:
        super().__init__(model, num_features=x.shape[-1], fit_info=fit_info)
        self.x_train = x.to(DTYPE)
        self.y_train = y.to(DTYPE)
        with torch.no_grad():
            covariance = model.kernel_matrix(self.x_train) + model.noise * torch.eye(len(x), dtype=DTYPE)
            self.factor, self.jitter = cholesky_with_jitter(covariance)
            residual = self.y_train - model.mean_function(self.x_train)
            self.alpha = torch.cholesky_solve(residual.unsqueeze(-1), self.factor).squeeze(-1)
            self.fit_info["log_marginal_likelihood"] = float(gaussian_log_marginal(self.factor, residual))
        self.fit_info["jitter"] = self.jitter

    def _latent(self, x: torch.Tensor, full_covariance: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return conditional_moments(self.model, self.x_train, self.factor, self.alpha, x,
                                   full_covariance=full_covariance)

    def predict(self, x: torch.Tensor, *, observation_noise: bool = True) -> GaussianPredictive:
        """Gaussian predictive of ``y`` (or of ``f`` with ``observation_noise=False``) at ``x``."""
        x = self.check_inputs(x).to(DTYPE)
        mean, variance = self._latent(x, full_covariance=False)
        if observation_noise:
            variance = variance + self.model.noise.detach()
        return GaussianPredictive(mean, variance)

    def sample_functions(self, x: torch.Tensor, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        """Joint draws ``f ~ N(mean, K** - V^T V)``: ``[num_samples, n, 1]``."""
        x = self.check_inputs(x).to(DTYPE)
        generator = as_generator(generator)
        mean, covariance = self._latent(x, full_covariance=True)
        factor, _ = cholesky_with_jitter(0.5 * (covariance + covariance.T), warn=False)
        z = torch.randn((num_samples, len(mean)), generator=generator, dtype=DTYPE)
        return (mean + z @ factor.T).unsqueeze(-1)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors = {"x_train": self.x_train, "y_train": self.y_train}
        config = {"model": io.encode_child(self.model, "model", tensors), "fit_info": self.fit_info}
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> ExactGPPosterior:
        model = io.decode_child(config["model"], "model", tensors)
        posterior = cls(model, tensors["x_train"], tensors["y_train"], fit_info=config["fit_info"])
        posterior.fit_info = dict(config["fit_info"])
        return posterior


def _initialise_from_data(model: GP, x: torch.Tensor, y: torch.Tensor) -> None:
    """Data-based starting values for the default kernel: lengthscale = input std, scale = Var[y]."""
    values: dict[str, torch.Tensor] = {}
    paths = model.hyperparameter_paths()
    spread = y.var() if len(y) > 1 else torch.ones((), dtype=DTYPE)
    spread = spread.clamp_min(1e-6)
    if "kernel.base_kernel.lengthscale" in paths:
        values["kernel.base_kernel.lengthscale"] = x.std(0).clamp_min(1e-3) if len(x) > 1 else torch.ones(1)
    if "kernel.outputscale" in paths:
        values["kernel.outputscale"] = spread
    if "mean" in paths:
        values["mean"] = y.mean()
    if "noise" in paths:
        values["noise"] = 0.1 * spread
    model.set_hyperparameters(values)


def fit_exact(model: GP, x: torch.Tensor, y: torch.Tensor, *, optimize: bool = True, max_iterations: int = 200,
              max_relative_jitter: float = 1e-2, progress: bool | None = None) -> ExactGPPosterior:
    """Type-II maximum likelihood (or MAP with hyperpriors) with L-BFGS, then the exact posterior.

    Args:
        optimize: fit hyperparameters (``False`` keeps the model's current values).
        max_iterations: L-BFGS iterations (strong-Wolfe line search).
        max_relative_jitter: largest diagonal jitter (relative to the mean diagonal) the Cholesky may
            add before failing; jitter actually used is reported in ``posterior.fit_info["jitter"]``.
        progress: show a progress bar (``None`` follows :func:`probnn.set_quiet`).
    """
    if y.ndim != 1:
        raise InputError(f"GP regression takes a single output: y must be [num_points]; got {tuple(y.shape)}")
    x, y = x.to(DTYPE), y.to(DTYPE)
    model.ensure_kernel(x.shape[-1])
    if model.num_features is not None and model.num_features != x.shape[-1]:
        raise InputError(f"x has {x.shape[-1]} features but the GP was built for {model.num_features}")
    model.num_features = x.shape[-1]
    model.to(DTYPE)
    if model.default_kernel and optimize:
        # data-based starting point for the optimiser; with optimize=False the model's current
        # hyperparameters are used as they are
        _initialise_from_data(model, x, y)
    parameters = [p for p in model.parameters() if p.requires_grad]
    history: list[float] = []
    if optimize and parameters:
        optimizer = torch.optim.LBFGS(parameters, lr=1.0, max_iter=max_iterations, line_search_fn="strong_wolfe",
                                      tolerance_grad=1e-9, tolerance_change=1e-12, history_size=50)
        bar = progress_bar(total=max_iterations, desc="GP type-II ML", progress=progress)
        best: dict[str, Any] = {"loss": math.inf, "state": None}
        failures = {"count": 0}

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            try:
                log_marginal, _ = model.log_marginal_likelihood(x, y, max_relative_jitter=max_relative_jitter)
                loss = -(log_marginal + model.log_hyperprior()) / len(y)
            except NumericalError:
                loss = torch.full((), math.nan, dtype=DTYPE)
            value = float(loss.detach())
            if not math.isfinite(value):
                # A line-search trial reached hyperparameters where K + sigma^2 I cannot be factorised
                # (or the objective overflows). Report a large finite loss with zero gradient so the
                # strong-Wolfe search backtracks: +inf/NaN would poison its cubic interpolation.
                failures["count"] += 1
                for parameter in parameters:
                    parameter.grad = torch.zeros_like(parameter)
                start_loss = history[0] if history and math.isfinite(history[0]) else 0.0
                history.append(value)
                return torch.tensor(abs(start_loss) + _FAILED_TRIAL_PENALTY, dtype=DTYPE)
            if math.isfinite(value):
                loss.backward()
                if value < best["loss"]:
                    best["loss"] = value
                    best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history.append(value)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}")
            return loss

        try:
            optimizer.step(closure)
        finally:
            bar.close()
        if best["state"] is None:
            raise NumericalError("type-II maximum likelihood failed: the kernel matrix could not be factorised at "
                                 "any hyperparameter value tried (check the inputs' scale)")
        model.load_state_dict(best["state"])
    fit_info = {"objective_history": [v if math.isfinite(v) else None for v in history],
                "num_evaluations": len(history),
                "failed_trials": failures["count"] if optimize and parameters else 0}
    return ExactGPPosterior(model, x, y, fit_info=fit_info)
