"""Distances between two distributions over function values, estimated from samples.

Functional-prior fitting (Tran et al., JMLR 2022, arXiv 2011.12829) compares the distribution of
function values ``f(X_M) in R^M`` at a measurement set ``X_M`` under a target process (a GP) and under a
BNN whose weight prior is being tuned. Every distance here takes two sample matrices,
``target [S_t, M]`` and ``model [S_m, M]`` (one row per function), and returns a scalar tensor that is
differentiable w.r.t. ``model`` (so the gradient reaches the weight prior through reparameterised
draws).

* :class:`WassersteinDistance` -- the paper's estimator. Kantorovich-Rubinstein duality,

      W1(p, q) = sup_{||phi||_L <= 1} E_p[phi(f)] - E_q[phi(f)],

  with ``phi`` an MLP critic (``M -> 200 -> 200 -> 1``, softplus activations, as in the paper) kept
  1-Lipschitz by the WGAN-GP gradient penalty (Gulrajani et al., 2017) of weight 10,
  ``lambda E[(||grad phi(f_hat)||_2 - 1)^2]`` at random interpolates ``f_hat``. By default the critic
  persists across outer steps (warm start) and takes ``num_critic_steps`` Adam steps per call;
  :data:`NOTEBOOK_CRITIC_OPTIONS` gives the official notebooks' schedule instead (a re-initialised
  critic per call, up to 200 Adagrad steps on an independent batch of functions).
* :class:`SlicedWassersteinDistance` -- critic free: the mean over random unit directions ``theta`` of
  the 1D 1-Wasserstein distance between the projections ``theta^T f``, which has the closed form
  ``mean_i |sort(a)_i - sort(b)_i|`` for equal sample sizes. No inner optimisation, so much faster.
* :class:`MMDDistance` -- critic free: the unbiased squared maximum mean discrepancy with a sum of RBF
  kernels whose bandwidths are multiples of the median pairwise distance (Gretton et al., 2012).

Helpers with closed forms: :func:`wasserstein_1d` (empirical 1D W1 by sorting) and
:func:`gaussian_wasserstein_1d` (``W1`` between two 1D Gaussians through their quantile
functions, in closed form) anchor the tests.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch

from probnn.errors import InputError
from probnn.random import GeneratorLike, as_generator

#: Weight of the WGAN-GP gradient penalty (Gulrajani et al., 2017; Tran et al. use the same value).
GRADIENT_PENALTY_WEIGHT = 10.0

#: The critic schedule of the official code (tranbahien/you-need-a-good-prior, ``MapperWasserstein`` as
#: the UCI and 1D notebooks configure it): at every prior step a critic with freshly drawn weights
#: (Xavier-normal weights, N(0, 1) biases) takes up to 200 Adagrad steps of learning rate 0.02 on an
#: independent batch of target and model functions, stopping early once the gradient norm of its loss
#: falls below 0.1; the optimizer (and so Adagrad's accumulated squared gradients) lives for the whole
#: fit. Use as ``fit_functional_prior(..., distance_options=NOTEBOOK_CRITIC_OPTIONS)``. It costs up to
#: 20x the critic steps of the default warm start (5 per step after the first).
NOTEBOOK_CRITIC_OPTIONS: dict[str, Any] = {
    "num_critic_steps": 200,
    "reinitialise_critic": True,
    "critic_optimizer": "adagrad",
    "learning_rate": 0.02,
    "critic_initialisation": "xavier_normal",
    "gradient_norm_threshold": 0.1,
    "independent_critic_samples": True,
}

#: The critic schedule of the official 1D-regression notebooks (``notebooks/1D_regression_gaussian_prior.ipynb``
#: and ``_hierarchical_prior.ipynb``: ``MapperWasserstein(..., wasserstein_steps=(0, 1000), wasserstein_lr=0.08)``
#: with the class's default stopping threshold 0.01): as :data:`NOTEBOOK_CRITIC_OPTIONS` but up to 1000
#: Adagrad steps of learning rate 0.08 per call, stopping once the loss gradient's norm is below 0.01.
NOTEBOOK_1D_CRITIC_OPTIONS: dict[str, Any] = {**NOTEBOOK_CRITIC_OPTIONS, "num_critic_steps": 1000,
                                              "learning_rate": 0.08, "gradient_norm_threshold": 0.01}

CRITIC_OPTIMIZERS = ("adam", "adagrad")
CRITIC_INITIALISATIONS = ("uniform", "xavier_normal")


def _check_samples(target: torch.Tensor, model: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten ``[S, ...]`` function samples to ``[S, M]`` and check the two sides agree on ``M``."""
    if target.ndim < 1 or model.ndim < 1:
        raise InputError("target and model samples must have a leading sample axis [S, ...]")
    target = target.reshape(target.shape[0], -1)
    model = model.reshape(model.shape[0], -1)
    if target.shape[1] != model.shape[1]:
        raise InputError(f"target samples have {target.shape[1]} values per function but model samples have "
                         f"{model.shape[1]}: both must be evaluated on the same measurement set")
    if target.shape[0] < 2 or model.shape[0] < 2:
        raise InputError("distances need at least 2 function samples on each side")
    return target, model.to(target.dtype)


def wasserstein_1d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Empirical 1-Wasserstein distance between 1D samples: ``int |F_a^-1(u) - F_b^-1(u)| du``.

    Shapes: ``a [..., n]``, ``b [..., m]``. For ``n == m`` this is ``mean_i |a_(i) - b_(i)|`` (sorted
    samples); otherwise both quantile functions are evaluated on the merged grid of jump points.
    """
    a_sorted, _ = torch.sort(a, dim=-1)
    b_sorted, _ = torch.sort(b, dim=-1)
    if a.shape[-1] == b.shape[-1]:
        return (a_sorted - b_sorted).abs().mean(-1)
    n, m = a.shape[-1], b.shape[-1]
    levels = torch.cat([torch.arange(1, n + 1, dtype=a.dtype) / n, torch.arange(1, m + 1, dtype=a.dtype) / m])
    levels, _ = torch.sort(torch.unique(levels))
    widths = torch.diff(levels, prepend=levels.new_zeros(1))
    index_a = torch.clamp(torch.ceil(levels * n - 1e-9).long() - 1, 0, n - 1)  # 1e-9: rounding guard
    index_b = torch.clamp(torch.ceil(levels * m - 1e-9).long() - 1, 0, m - 1)
    return ((a_sorted[..., index_a] - b_sorted[..., index_b]).abs() * widths).sum(-1)


def gaussian_wasserstein_1d(mean_a: float, std_a: float, mean_b: float, std_b: float) -> float:
    """``W1(N(mean_a, std_a^2), N(mean_b, std_b^2)) = int_0^1 |F_a^-1(u) - F_b^-1(u)| du``.

    With ``F^-1(u) = mean + std * Phi^-1(u)`` this is ``E_z |(mean_a - mean_b) + (std_a - std_b) z|``,
    ``z ~ N(0, 1)``: the mean of a folded normal, ``s sqrt(2/pi) exp(-d^2/(2 s^2)) + d (1 - 2 Phi(-d/s))``
    with ``d = |mean_a - mean_b|``, ``s = |std_a - std_b|``.
    """
    d = abs(mean_a - mean_b)
    s = abs(std_a - std_b)
    if s == 0:
        return d
    normal_cdf = 0.5 * (1 + math.erf(-d / (s * math.sqrt(2))))
    return s * math.sqrt(2 / math.pi) * math.exp(-d * d / (2 * s * s)) + d * (1 - 2 * normal_cdf)


class FunctionDistance(ABC):
    """A sample-based distance between two distributions of function values (see the module docstring)."""

    #: Short name used in histories and saved fits.
    name: str = "distance"

    @abstractmethod
    def __call__(self, target: torch.Tensor, model: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        """Estimate the distance (scalar, differentiable w.r.t. ``model``). Shapes ``[S_t, ...]``, ``[S_m, ...]``."""

    def config(self) -> dict[str, Any]:
        """JSON description (for ``fit_info`` and saved fits)."""
        return {"name": self.name}


class SlicedWassersteinDistance(FunctionDistance):
    """Sliced 1-Wasserstein distance: ``E_theta W1(theta^T f_target, theta^T f_model)``.

    ``theta`` are ``num_projections`` directions drawn uniformly on the unit sphere of ``R^M`` afresh on
    every call. Cost ``O(S M P + P S log S)``; no critic. Note ``SW1 <= W1`` and it shrinks like
    ``1/sqrt(M)`` for isotropic differences, so compare values of the same distance only.
    """

    name = "sliced_wasserstein"

    def __init__(self, num_projections: int = 256) -> None:
        if not isinstance(num_projections, int) or num_projections < 1:
            raise InputError(f"num_projections must be a positive int; got {num_projections!r}")
        self.num_projections = num_projections

    def __call__(self, target: torch.Tensor, model: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        target, model = _check_samples(target, model)
        generator = as_generator(generator)
        directions = torch.randn(target.shape[1], self.num_projections, generator=generator, dtype=target.dtype)
        directions = directions / directions.norm(dim=0, keepdim=True)
        projected_target = (target @ directions).T  # [P, S_t]
        projected_model = (model @ directions).T  # [P, S_m]
        return wasserstein_1d(projected_target, projected_model).mean()

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "num_projections": self.num_projections}


class MMDDistance(FunctionDistance):
    """Unbiased squared MMD with a mixture of RBF kernels (Gretton et al., 2012).

    ``k(f, g) = sum_j exp(-||f - g||^2 / (2 (c_j h)^2))`` with ``h`` the median pairwise distance of the
    pooled (detached) samples and ``c_j`` in ``bandwidth_multipliers``. The U-statistic

        MMD^2 = 1/(n(n-1)) sum_{i!=j} k(x_i, x_j) + 1/(m(m-1)) sum_{i!=j} k(y_i, y_j) - 2/(nm) sum k(x_i, y_j)

    has expectation exactly ``MMD^2`` (zero when the distributions agree), so it can be slightly
    negative. Returned as is (not clamped) so it stays unbiased and differentiable.
    """

    name = "mmd"

    def __init__(self, bandwidth_multipliers: tuple[float, ...] = (0.5, 1.0, 2.0)) -> None:
        if not bandwidth_multipliers or any(c <= 0 for c in bandwidth_multipliers):
            raise InputError(f"bandwidth_multipliers must be positive; got {bandwidth_multipliers!r}")
        self.bandwidth_multipliers = tuple(float(c) for c in bandwidth_multipliers)

    def __call__(self, target: torch.Tensor, model: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        target, model = _check_samples(target, model)
        pooled = torch.cat([target, model])
        squared = torch.cdist(pooled, pooled).pow(2)
        with torch.no_grad():
            off_diagonal = squared[~torch.eye(len(pooled), dtype=torch.bool)]
            median = off_diagonal.median().clamp_min(1e-12).sqrt()  # 1e-12: guards identical samples
        kernel = sum(torch.exp(-squared / (2 * (c * median) ** 2)) for c in self.bandwidth_multipliers)
        n = target.shape[0]
        m = model.shape[0]
        k_tt, k_mm, k_tm = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
        within_target = (k_tt.sum() - k_tt.diagonal().sum()) / (n * (n - 1))
        within_model = (k_mm.sum() - k_mm.diagonal().sum()) / (m * (m - 1))
        return within_target + within_model - 2 * k_tm.mean()

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "bandwidth_multipliers": list(self.bandwidth_multipliers)}


class LipschitzCritic(torch.nn.Module):
    """The critic ``phi: R^M -> R`` of Tran et al.: an MLP ``M -> 200 -> 200 -> 1`` with softplus."""

    def __init__(self, num_inputs: int, hidden_features: tuple[int, ...] = (200, 200), *,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        width = num_inputs
        for hidden in hidden_features:
            layers += [torch.nn.Linear(width, hidden), torch.nn.Softplus()]
            width = hidden
        layers.append(torch.nn.Linear(width, 1))
        self.network = torch.nn.Sequential(*layers)
        if generator is not None:  # reproducible initialisation (PyTorch's default uniform fan-in rule)
            self.initialise(generator)

    @property
    def num_inputs(self) -> int:
        """The number of function values ``M`` the critic reads."""
        return self.network[0].in_features

    def initialise(self, generator: torch.Generator, scheme: str = "uniform") -> None:
        """Redraw every weight and bias in place (optimizers holding the parameters stay valid).

        ``"uniform"``: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and biases, the distribution of
        PyTorch's default ``nn.Linear`` initialisation. ``"xavier_normal"``: weights
        ``N(0, 2 / (fan_in + fan_out))`` (Glorot & Bengio, 2010) and biases ``N(0, 1)``, the official
        code's ``weights_init``.
        """
        if scheme not in CRITIC_INITIALISATIONS:
            raise InputError(f"critic initialisation must be one of {CRITIC_INITIALISATIONS}; got {scheme!r}")
        with torch.no_grad():
            for module in self.network:
                if not isinstance(module, torch.nn.Linear):
                    continue
                if scheme == "uniform":
                    bound = 1 / math.sqrt(module.in_features)
                    module.weight.uniform_(-bound, bound, generator=generator)
                    module.bias.uniform_(-bound, bound, generator=generator)
                else:
                    std = math.sqrt(2.0 / (module.in_features + module.out_features))
                    module.weight.normal_(0.0, std, generator=generator)
                    module.bias.normal_(0.0, 1.0, generator=generator)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """``f [S, M] -> phi(f) [S]``."""
        return self.network(f).squeeze(-1)


def gradient_penalty(critic: torch.nn.Module, target: torch.Tensor, model: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad phi(f_hat)|| - 1)^2]`` at ``f_hat = u f_target + (1 - u) f_model``."""
    count = min(target.shape[0], model.shape[0])
    mixing = torch.rand(count, 1, generator=generator, dtype=target.dtype)
    interpolates = (mixing * target[:count] + (1 - mixing) * model[:count]).requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    return ((gradient.norm(dim=-1) - 1) ** 2).mean()


class WassersteinDistance(FunctionDistance):
    """1-Wasserstein distance through a gradient-penalised Lipschitz critic (WGAN-GP; Tran et al.).

    Each call first trains the critic on the penalised dual objective
    ``E_t[phi] - E_m[phi] - 10 * penalty`` with detached samples, then returns the dual estimate
    ``E_t[phi(f_t)] - E_m[phi(f_m)]``, whose gradient w.r.t. ``model`` is what the weight prior
    follows.

    Two critic schedules:

    * **warm start** (default): the critic is created on the first call (its input size is the number
      of function values), takes ``num_initial_critic_steps`` there and ``num_critic_steps`` on every
      later call, starting from where the previous call left it; Adam with betas (0.5, 0.9).
    * **re-initialised** (``reinitialise_critic=True``; the official code's, see
      :data:`NOTEBOOK_CRITIC_OPTIONS`): every call redraws the critic's weights and trains it for
      ``num_critic_steps`` from scratch (``num_initial_critic_steps`` is then unused). The optimizer is
      created once and keeps its state across calls unless ``reset_critic_optimizer=True``: with
      Adagrad, as in the official code, the accumulated squared gradients make the critic's steps
      shrink over a fit (after ``n`` calls of ``K`` steps each step is about ``1/sqrt(n K)`` of the first).

    Args:
        num_critic_steps: critic updates per call (after the first, for the warm start).
        num_initial_critic_steps: critic updates on the first call of the warm start.
        learning_rate: step size of the critic's optimizer (official: 0.02 with Adagrad).
        hidden_features: critic hidden widths (paper: 200, 200).
        reinitialise_critic: redraw the critic's weights at every call.
        reset_critic_optimizer: with ``reinitialise_critic``, also start a fresh optimizer state.
        critic_optimizer: ``"adam"`` (betas 0.5, 0.9: the usual WGAN-GP choice) or ``"adagrad"`` (the
            official code's; PyTorch's defaults, accumulator starting at 0).
        critic_initialisation: ``"uniform"`` (PyTorch's default rule) or ``"xavier_normal"`` (Xavier-normal
            weights, N(0, 1) biases: the official code's); see :meth:`LipschitzCritic.initialise`.
        gradient_norm_threshold: stop a call's critic training after the first step whose loss gradient
            (all critic parameters, Euclidean norm, measured before that step's update) is below this
            value (official: 0.1); ``None`` always takes every step.
        independent_critic_samples: train the critic on an independent batch of functions
            (``critic_target``, ``critic_model`` arguments of the call, which
            :func:`probnn.priors.fit_functional_prior` draws at the same measurement set) and evaluate the
            dual on the batch that carries the gradient, as the official code does. The prior's gradient
            then comes from a critic that has not seen those functions, so it does not chase the
            critic's fit to sampling noise.

    Attributes:
        num_critic_steps_taken: critic steps taken at each call so far (differs from
            ``num_critic_steps`` only with ``gradient_norm_threshold``).
    """

    name = "wasserstein"

    def __init__(self, num_critic_steps: int = 5, *, num_initial_critic_steps: int = 200,
                 learning_rate: float = 1e-3, hidden_features: tuple[int, ...] = (200, 200),
                 reinitialise_critic: bool = False, reset_critic_optimizer: bool = False,
                 critic_optimizer: str = "adam", critic_initialisation: str = "uniform",
                 gradient_norm_threshold: float | None = None, independent_critic_samples: bool = False) -> None:
        for label, value in (("num_critic_steps", num_critic_steps),
                             ("num_initial_critic_steps", num_initial_critic_steps)):
            if not isinstance(value, int) or value < 0:
                raise InputError(f"{label} must be a non-negative int; got {value!r}")
        if not learning_rate > 0:
            raise InputError(f"learning_rate must be positive; got {learning_rate!r}")
        if critic_optimizer not in CRITIC_OPTIMIZERS:
            raise InputError(f"critic_optimizer must be one of {CRITIC_OPTIMIZERS}; got {critic_optimizer!r}")
        if critic_initialisation not in CRITIC_INITIALISATIONS:
            raise InputError(f"critic_initialisation must be one of {CRITIC_INITIALISATIONS}; "
                             f"got {critic_initialisation!r}")
        if gradient_norm_threshold is not None and not gradient_norm_threshold > 0:
            raise InputError(f"gradient_norm_threshold must be positive or None; got {gradient_norm_threshold!r}")
        for label, flag in (("reinitialise_critic", reinitialise_critic),
                            ("reset_critic_optimizer", reset_critic_optimizer),
                            ("independent_critic_samples", independent_critic_samples)):
            if not isinstance(flag, bool):
                raise InputError(f"{label} must be True or False; got {flag!r}")
        self.num_critic_steps = num_critic_steps
        self.num_initial_critic_steps = num_initial_critic_steps
        self.learning_rate = float(learning_rate)
        self.hidden_features = tuple(hidden_features)
        self.reinitialise_critic = reinitialise_critic
        self.reset_critic_optimizer = reset_critic_optimizer
        self.critic_optimizer = critic_optimizer
        self.critic_initialisation = critic_initialisation
        self.gradient_norm_threshold = None if gradient_norm_threshold is None else float(gradient_norm_threshold)
        self.independent_critic_samples = independent_critic_samples
        self.critic: LipschitzCritic | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.num_critic_steps_taken: list[int] = []

    def reset(self) -> None:
        """Forget the critic and its optimizer (the next call starts fresh ones)."""
        self.critic = None
        self.optimizer = None

    def _make_optimizer(self) -> torch.optim.Optimizer:
        assert self.critic is not None
        if self.critic_optimizer == "adagrad":
            return torch.optim.Adagrad(self.critic.parameters(), lr=self.learning_rate)
        # Adam with beta1 = 0.5, beta2 = 0.9: the usual WGAN-GP choice (less momentum for a moving target).
        return torch.optim.Adam(self.critic.parameters(), lr=self.learning_rate, betas=(0.5, 0.9))

    def _new_critic(self, num_inputs: int, dtype: torch.dtype, generator: torch.Generator) -> None:
        self.critic = LipschitzCritic(num_inputs, self.hidden_features)
        self.critic.initialise(generator, self.critic_initialisation)
        self.critic = self.critic.to(dtype)
        self.optimizer = self._make_optimizer()

    def train_critic(self, target: torch.Tensor, model: torch.Tensor, num_steps: int,
                     generator: torch.Generator) -> int:
        """Up to ``num_steps`` optimizer steps on the penalised dual objective (samples are detached).

        Returns the number of steps taken (fewer than ``num_steps`` only when the loss gradient's norm
        fell below ``gradient_norm_threshold``).
        """
        target, model = target.detach(), model.detach()
        assert self.critic is not None and self.optimizer is not None
        for step in range(num_steps):
            self.optimizer.zero_grad(set_to_none=True)
            dual = self.critic(target).mean() - self.critic(model).mean()
            penalty = gradient_penalty(self.critic, target, model, generator)
            loss = -dual + GRADIENT_PENALTY_WEIGHT * penalty
            loss.backward()
            converged = False
            if self.gradient_norm_threshold is not None:
                norm = torch.cat([p.grad.reshape(-1) for p in self.critic.parameters() if p.grad is not None]).norm()
                converged = bool(norm < self.gradient_norm_threshold)
            self.optimizer.step()
            if converged:  # the official code also takes the step on which it stops
                return step + 1
        return num_steps

    def __call__(self, target: torch.Tensor, model: torch.Tensor, *, generator: GeneratorLike = None,
                 critic_target: torch.Tensor | None = None, critic_model: torch.Tensor | None = None) -> torch.Tensor:
        """The dual estimate on ``target [S_t, ...]``, ``model [S_m, ...]`` after training the critic.

        ``critic_target``, ``critic_model``: the independent batch the critic is trained on; required
        with ``independent_critic_samples=True`` and refused otherwise.
        """
        target, model = _check_samples(target, model)
        generator = as_generator(generator)
        if self.independent_critic_samples:
            if critic_target is None or critic_model is None:
                raise InputError("independent_critic_samples=True needs critic_target and critic_model: an "
                                 "independent batch of target and model functions at the same inputs")
            critic_target, critic_model = _check_samples(critic_target, critic_model)
            if critic_target.shape[1] != target.shape[1]:
                raise InputError(f"critic_target has {critic_target.shape[1]} values per function but target has "
                                 f"{target.shape[1]}: draw both batches at the same measurement set")
        elif critic_target is not None or critic_model is not None:
            raise InputError("critic_target / critic_model are only used with independent_critic_samples=True")
        else:
            critic_target, critic_model = target, model
        steps = self.num_critic_steps
        if self.critic is None or self.critic.num_inputs != target.shape[1]:
            self._new_critic(target.shape[1], target.dtype, generator)
            if not self.reinitialise_critic:
                steps = self.num_initial_critic_steps
        elif self.reinitialise_critic:
            assert self.critic is not None
            self.critic.initialise(generator, self.critic_initialisation)
            if self.reset_critic_optimizer:
                self.optimizer = self._make_optimizer()
        assert self.critic is not None
        with torch.enable_grad():
            self.num_critic_steps_taken.append(self.train_critic(critic_target, critic_model.to(target.dtype),
                                                                 steps, generator))
        for parameter in self.critic.parameters():
            parameter.requires_grad_(False)
        try:
            return self.critic(target).mean() - self.critic(model).mean()
        finally:
            for parameter in self.critic.parameters():
                parameter.requires_grad_(True)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "num_critic_steps": self.num_critic_steps,
                "num_initial_critic_steps": self.num_initial_critic_steps,
                "learning_rate": self.learning_rate, "hidden_features": list(self.hidden_features),
                "reinitialise_critic": self.reinitialise_critic,
                "reset_critic_optimizer": self.reset_critic_optimizer,
                "critic_optimizer": self.critic_optimizer, "critic_initialisation": self.critic_initialisation,
                "gradient_norm_threshold": self.gradient_norm_threshold,
                "independent_critic_samples": self.independent_critic_samples}


def make_distance(distance: str | FunctionDistance, **options: Any) -> FunctionDistance:
    """``"wasserstein"`` | ``"sliced_wasserstein"`` | ``"mmd"`` (with options) or a ready instance."""
    if isinstance(distance, FunctionDistance):
        if options:
            raise InputError("distance options can only be given with a distance name, not an instance")
        return distance
    classes = {"wasserstein": WassersteinDistance, "sliced_wasserstein": SlicedWassersteinDistance,
               "mmd": MMDDistance}
    if distance not in classes:
        raise InputError(f"distance must be one of {sorted(classes)} or a FunctionDistance; got {distance!r}")
    return classes[distance](**options)


def estimate_wasserstein(target: torch.Tensor, model: torch.Tensor, *, num_critic_steps: int = 1000,
                         learning_rate: float = 1e-3, batch_size: int | None = None,
                         target_held_out: torch.Tensor | None = None, model_held_out: torch.Tensor | None = None,
                         return_standard_error: bool = False,
                         generator: GeneratorLike = None) -> float | tuple[float, float]:
    """A standalone W1 estimate from a fresh critic (the same critic budget for every prior compared).

    The critic is trained for ``num_critic_steps`` Adam steps on the penalised dual objective, each step
    on ``batch_size`` rows drawn at random from the pools ``target [S_t, M]`` and ``model [S_m, M]``
    (the whole pools when ``batch_size`` is None). The returned value is the dual
    ``mean phi(target_held_out) - mean phi(model_held_out)`` on *held-out* samples when they are given,
    else on the training pools.

    Why held-out samples: a critic evaluated on the samples it was trained on also separates two
    finite sample sets of the *same* distribution (in ``M = 200`` dimensions, 256 functions per side
    give a spurious "distance" of several units), so the estimate has a floor well above zero and
    ratios between priors shrink towards 1. On fresh samples the dual of any fixed 1-Lipschitz critic
    is an unbiased estimate of a lower bound of W1, and two sample sets of one distribution give
    ``0 +- standard error`` (checked in tests and in ``bench_functional_prior_toy``).

    Returns:
        the estimate, or ``(estimate, standard_error)`` with ``return_standard_error`` (the standard
        error of the held-out dual: ``sqrt(var phi_t / S_t + var phi_m / S_m)``).
    """
    generator = as_generator(generator)
    target, model = _check_samples(target.detach(), model.detach())
    if (target_held_out is None) != (model_held_out is None):
        raise InputError("give both target_held_out and model_held_out, or neither")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 2):
        raise InputError(f"batch_size must be an int >= 2 or None; got {batch_size!r}")
    if not isinstance(num_critic_steps, int) or num_critic_steps < 1:
        raise InputError(f"num_critic_steps must be a positive int; got {num_critic_steps!r}")
    distance = WassersteinDistance(num_initial_critic_steps=0, learning_rate=learning_rate)
    distance._new_critic(target.shape[1], target.dtype, generator)
    with torch.enable_grad():
        if batch_size is None:
            distance.train_critic(target, model, num_critic_steps, generator)
        else:
            for _ in range(num_critic_steps):
                rows_target = torch.randint(0, target.shape[0], (batch_size,), generator=generator)
                rows_model = torch.randint(0, model.shape[0], (batch_size,), generator=generator)
                distance.train_critic(target[rows_target], model[rows_model], 1, generator)
    if target_held_out is not None and model_held_out is not None:
        target, model = _check_samples(target_held_out.detach(), model_held_out.detach())
    with torch.no_grad():
        values_target, values_model = distance.critic(target), distance.critic(model)
    estimate = float(values_target.mean() - values_model.mean())
    if not return_standard_error:
        return estimate
    standard_error = float((values_target.var() / len(values_target) + values_model.var() / len(values_model)).sqrt())
    return estimate, standard_error


def estimate_wasserstein_notebook(target_sampler: Callable[[int], torch.Tensor],
                                  model_sampler: Callable[[int], torch.Tensor], *, num_function_samples: int = 512,
                                  num_repeats: int = 10, critic_options: dict[str, Any] | None = None,
                                  generator: GeneratorLike = None) -> tuple[list[float], list[int]]:
    """The official code's W1 estimate, repeated: a re-initialised critic scored on functions it never saw.

    This is the number the official notebooks print at every prior step (``MapperWasserstein.optimize`` in
    tranbahien/you-need-a-good-prior), measured for a *fixed* pair of distributions. Each repeat ``r``:

    1. draws an independent bag of ``n = num_function_samples`` functions per side,
       ``target_sampler(n)``, ``model_sampler(n)`` (``[n, M]`` each);
    2. draws a critic with fresh weights (Xavier-normal weights, N(0, 1) biases) and a fresh optimizer,
       and trains it full-batch on the bag for up to ``num_critic_steps`` steps of the penalised dual
       ``E_t phi - E_m phi - 10 * penalty`` (Adagrad, stopping at the gradient-norm threshold);
    3. draws a fresh batch of ``n`` functions per side and returns the dual
       ``d_r = mean_i phi(f_t,i) - mean_i phi(f_m,i)`` on it.

    Because the critic is independent of the batch it scores, ``E[d_r] = E_t phi_r - E_m phi_r``, a lower
    bound of ``W1`` for a 1-Lipschitz ``phi_r`` (the penalty keeps it only approximately 1-Lipschitz), and
    ``E[d_r] = 0`` when the two distributions agree: no in-sample floor. It is weaker than
    :func:`estimate_wasserstein` with held-out samples (its critic sees ``n`` functions per side instead
    of minibatches from large pools), so it reads lower for distributions that differ. Report
    ``mean(d)`` with the standard error ``std(d) / sqrt(R)`` over the ``R = num_repeats`` repeats, which
    covers both the critic's randomness and the sampling noise.

    One difference from the printout of a fit: within ``fit_functional_prior`` the official code keeps
    the critic's Adagrad accumulators for the whole fit, so late critics take ever smaller steps; here
    every repeat starts a fresh optimizer (like the first prior step of a fit), so repeats are
    independent and identically distributed.

    Args:
        target_sampler, model_sampler: ``count -> [count, M]`` function values at one measurement set
            (drawn without gradient; each call must return fresh functions).
        num_function_samples: ``n``, the bag size and the scored batch size per side (1D notebooks:
            512; UCI notebook: 128).
        num_repeats: ``R >= 2`` independent repeats.
        critic_options: :class:`WassersteinDistance` options; default
            :data:`NOTEBOOK_CRITIC_OPTIONS` (200 Adagrad steps, lr 0.02, stop at 0.1: the UCI notebook's);
            :data:`NOTEBOOK_1D_CRITIC_OPTIONS` is the 1D notebooks'. The critic is always re-initialised
            with a fresh optimizer and trained on the independent bag.
        generator: seed or ``torch.Generator`` for the critic's initialisation and penalty interpolates;
            the samplers should draw from it too, so that one seed fixes the estimate.

    Returns:
        ``(values, critic_steps_taken)``: the ``R`` duals ``d_r`` and the critic steps each repeat took.
    """
    num_function_samples = int(num_function_samples)
    if num_function_samples < 2:
        raise InputError(f"num_function_samples must be >= 2; got {num_function_samples!r}")
    if not isinstance(num_repeats, int) or isinstance(num_repeats, bool) or num_repeats < 2:
        raise InputError(f"num_repeats must be an int >= 2 (the standard error needs two repeats); got {num_repeats!r}")
    options = {**NOTEBOOK_CRITIC_OPTIONS, **(critic_options or {}), "reinitialise_critic": True,
               "reset_critic_optimizer": True, "independent_critic_samples": True}
    try:
        distance = WassersteinDistance(**options)
    except TypeError as error:
        raise InputError(f"critic_options must be WassersteinDistance options; got {sorted(critic_options or {})}: "
                         f"{error}") from error
    generator = as_generator(generator)
    values: list[float] = []
    with torch.no_grad():
        for _ in range(num_repeats):
            critic_target, critic_model = target_sampler(num_function_samples), model_sampler(num_function_samples)
            target, model = target_sampler(num_function_samples), model_sampler(num_function_samples)
            values.append(float(distance(target, model, generator=generator, critic_target=critic_target,
                                         critic_model=critic_model)))
    return values, list(distance.num_critic_steps_taken)
