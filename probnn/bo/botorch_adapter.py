"""Any probnn posterior as a BoTorch ``Model``, so BoTorch's acquisition functions and optimisers work.

``ProbnnModel(posterior)`` wraps a fitted :class:`probnn.Posterior`. ``model.posterior(X)`` with
``X`` of shape ``batch x q x d`` returns a :class:`ProbnnBoTorchPosterior` with

* ``mean`` and ``variance`` of shape ``batch x q x 1`` (``num_outputs = 1``): the predictive of
  the latent function ``f`` when the probnn posterior can leave out observation noise
  (``predict(x, observation_noise=False)``, e.g. the exact GP, matching BoTorch's default), else
  the predictive of ``y`` (e.g. the PFN's bar distribution, which is a predictive of observations);
* ``rsample(sample_shape)`` of shape ``sample_shape x batch x q x 1``: joint draws over the ``q``
  points from :meth:`probnn.Posterior.sample_functions` where the posterior has it; otherwise
  draws from the marginal :class:`probnn.predictive.Predictive`, **independent across the q
  points** (an approximation for ``q > 1``: batch acquisition then ignores the posterior
  correlation between the points of a batch; for ``q = 1`` it is exact).

Gradients. probnn predictives are computed without autograd (MCMC draws, PFN forward passes), so
the adapter differentiates ``mean`` and ``stddev`` w.r.t. ``X`` by central finite differences
(step ``h = 1e-4`` times the coordinate's scale, one extra pair of predict calls per input
dimension; the predictive is independent per point, so all points are perturbed at once and the
Jacobian is diagonal over points). ``rsample`` is reparameterised as ``mean(X) + stddev(X) * Z``
with ``Z`` the standardised draw, so MC acquisition gradients hold the posterior correlation fixed
locally (first-order exact for location-scale posteriors). With this, ``optimize_acqf`` runs
unchanged with its default gradient-based L-BFGS-B.

BoTorch is an optional dependency (``pip install probnn[botorch]``); importing this module
without it raises an ``ImportError`` that says so.
"""

from __future__ import annotations

from typing import Any

import torch

try:
    from botorch.models.model import Model as _BoTorchModel
    from botorch.posteriors.posterior import Posterior as _BoTorchPosterior
    from botorch.sampling.base import MCSampler
    from botorch.sampling.get_sampler import GetSampler
except ImportError as error:  # pragma: no cover - exercised only without botorch
    raise ImportError(
        "probnn.bo.botorch_adapter needs BoTorch: install it with `pip install probnn[botorch]` "
        "(or `pip install botorch`)") from error

from probnn.bo.surrogate import predict_latent
from probnn.errors import InputError, InputTypeError
from probnn.posterior import Posterior
from probnn.predictive import Predictive

#: Relative finite-difference step: ``h = 1e-4 * max(1, |x|)``. Central differences have error
#: ``O(h^2)``; with float64 predictions the rounding error ``eps / h ~ 1e-12`` is negligible.
FINITE_DIFFERENCE_STEP = 1e-4
#: Floor on the standard deviation when standardising draws (avoids 0/0 at training points).
_MIN_STDDEV = 1e-12


def predict_marginals(posterior: Posterior, x: torch.Tensor, *, observation_noise: bool = False) -> Predictive:
    """The probnn predictive at ``x`` ``[n, d]``: latent ``f`` if the posterior allows, else ``y``."""
    return predict_latent(posterior, x, observation_noise=observation_noise)


def _mean_stddev(posterior: Posterior, x: torch.Tensor, observation_noise: bool) -> tuple[torch.Tensor, torch.Tensor]:
    predictive = predict_marginals(posterior, x, observation_noise=observation_noise)
    return (predictive.mean.detach().to(torch.float64),
            predictive.stddev.detach().to(torch.float64).clamp_min(_MIN_STDDEV))


class _MeanStddev(torch.autograd.Function):
    """``(mean, stddev)`` of independent marginals at ``x [n, d]`` with finite-difference gradients."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, posterior: Posterior, observation_noise: bool
                ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.posterior, ctx.observation_noise = posterior, observation_noise
        ctx.save_for_backward(x)
        return _mean_stddev(posterior, x.detach(), observation_noise)

    @staticmethod
    def backward(ctx: Any, grad_mean: torch.Tensor, grad_stddev: torch.Tensor) -> tuple[Any, None, None]:
        (x,) = ctx.saved_tensors
        x = x.detach().to(torch.float64)
        step = FINITE_DIFFERENCE_STEP * x.abs().clamp_min(1.0)
        grad = torch.zeros_like(x)
        for dim in range(x.shape[-1]):
            shift = torch.zeros_like(x)
            shift[:, dim] = step[:, dim]
            mean_up, std_up = _mean_stddev(ctx.posterior, x + shift, ctx.observation_noise)
            mean_down, std_down = _mean_stddev(ctx.posterior, x - shift, ctx.observation_noise)
            width = 2 * step[:, dim]
            grad[:, dim] = (grad_mean * (mean_up - mean_down) / width
                            + grad_stddev * (std_up - std_down) / width)
        return grad, None, None


class ProbnnBoTorchPosterior(_BoTorchPosterior):
    """BoTorch posterior over ``batch x q x 1`` built from a probnn posterior at inputs ``X``."""

    def __init__(self, posterior: Posterior, X: torch.Tensor, *, observation_noise: bool = False) -> None:
        if X.ndim < 2:
            raise InputError(f"X must have shape [..., q, d]; got {tuple(X.shape)}")
        self.probnn_posterior = posterior
        self.X = X
        self.observation_noise = observation_noise
        self._batch_shape = X.shape[:-1]
        flat = X.reshape(-1, X.shape[-1])
        mean, stddev = _MeanStddev.apply(flat.to(torch.float64), posterior, observation_noise)
        self._mean = mean.reshape(*self._batch_shape, 1).to(X.dtype)
        self._stddev = stddev.reshape(*self._batch_shape, 1).to(X.dtype)

    @property
    def mean(self) -> torch.Tensor:
        """Posterior mean ``batch x q x 1``."""
        return self._mean

    @property
    def variance(self) -> torch.Tensor:
        """Posterior (marginal) variance ``batch x q x 1``."""
        return self._stddev**2

    @property
    def device(self) -> torch.device:
        return self.X.device

    @property
    def dtype(self) -> torch.dtype:
        return self.X.dtype

    @property
    def base_sample_shape(self) -> torch.Size:
        return torch.Size([*self._batch_shape, 1])

    @property
    def batch_range(self) -> tuple[int, int]:
        return (0, -2)

    def _extended_shape(self, sample_shape: torch.Size = torch.Size()) -> torch.Size:  # noqa: B008
        return torch.Size(sample_shape) + self._mean.shape

    @property
    def joint(self) -> bool:
        """Whether draws are joint over the q points (the posterior has ``sample_functions``)."""
        return type(self.probnn_posterior).sample_functions is not Posterior.sample_functions

    def standardised_draws(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """``Z = (F - mean) / stddev``: ``[num_samples, *batch, q]``, joint over q where possible."""
        flat_x = self.X.detach().reshape(-1, self.X.shape[-2], self.X.shape[-1]).to(torch.float64)
        mean = self._mean.detach().reshape(flat_x.shape[0], -1).to(torch.float64)
        stddev = self._stddev.detach().reshape(flat_x.shape[0], -1).to(torch.float64)
        if self.joint and not self.observation_noise:
            if flat_x.shape[1] == 1:
                # q = 1: only marginals matter; one joint call over all batches is cheaper and exact.
                draws = self.probnn_posterior.sample_functions(flat_x[:, 0], num_samples, generator=generator)
                draws = draws[..., 0].reshape(num_samples, flat_x.shape[0], 1)
            else:
                draws = torch.stack([self.probnn_posterior.sample_functions(points, num_samples,
                                                                            generator=generator)[..., 0]
                                     for points in flat_x], dim=1)
        else:
            predictive = predict_marginals(self.probnn_posterior, flat_x.reshape(-1, flat_x.shape[-1]),
                                           observation_noise=self.observation_noise)
            draws = predictive.sample(num_samples, generator=generator).reshape(num_samples, *mean.shape)
        standardised = (draws.to(torch.float64) - mean) / stddev
        return standardised.reshape(num_samples, *self._batch_shape).to(self.X.dtype)

    def rsample(self, sample_shape: torch.Size | None = None, *, seed: int | None = None) -> torch.Tensor:
        """Reparameterised draws ``mean + stddev * Z``: ``sample_shape x batch x q x 1``.

        ``seed`` fixes ``Z`` (common random numbers, what :class:`ProbnnSampler` uses).
        """
        sample_shape = torch.Size(sample_shape or torch.Size([1]))
        count = int(torch.Size(sample_shape).numel())
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else torch.Generator().manual_seed(
            int(torch.randint(0, 2**62, (1,)).item()))
        z = self.standardised_draws(count, generator).reshape(*sample_shape, *self._batch_shape, 1)
        return self._mean + self._stddev * z


class ProbnnSampler(MCSampler):
    """MC sampler with fixed ``Z`` per sampler (common random numbers), so acquisition values are
    deterministic in ``X`` as sample-average-approximation optimisation requires."""

    def forward(self, posterior: ProbnnBoTorchPosterior) -> torch.Tensor:
        return posterior.rsample(self.sample_shape, seed=self.seed)


@GetSampler.register(ProbnnBoTorchPosterior)
def _get_probnn_sampler(posterior: ProbnnBoTorchPosterior, sample_shape: torch.Size, *, seed: int | None = None
                        ) -> ProbnnSampler:
    return ProbnnSampler(sample_shape=sample_shape, seed=seed)


class ProbnnModel(_BoTorchModel):
    """A fitted probnn posterior as a single-output BoTorch model.

    Args:
        posterior: any fitted :class:`probnn.Posterior` of a real-valued regression model.

    Example:
        >>> from botorch.acquisition import LogExpectedImprovement
        >>> model = ProbnnModel(probnn.fit(probnn.models.GP(), x, y, method="exact"))
        >>> acquisition = LogExpectedImprovement(model, best_f=y.max())
    """

    num_outputs = 1
    _num_outputs = 1

    def __init__(self, posterior: Posterior) -> None:
        super().__init__()
        if not isinstance(posterior, Posterior):
            raise InputTypeError(f"posterior must be a probnn.Posterior; got {type(posterior).__name__}")
        self.probnn_posterior = posterior

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()

    def posterior(self, X: torch.Tensor, output_indices: list[int] | None = None, observation_noise: Any = False,
                  posterior_transform: Any = None, **kwargs: Any) -> Any:
        """BoTorch posterior at ``X`` (``batch x q x d``, or ``q x d``)."""
        if output_indices not in (None, [0]):
            raise InputError(f"a probnn model has one output; output_indices must be None or [0]; got {output_indices}")
        if X.shape[-1] != self.probnn_posterior.num_features:
            raise InputError(f"X must have {self.probnn_posterior.num_features} features in its last dimension; "
                             f"got shape {tuple(X.shape)}")
        result = ProbnnBoTorchPosterior(self.probnn_posterior, X, observation_noise=bool(observation_noise is True))
        if posterior_transform is not None:
            return posterior_transform(result)
        return result


def as_botorch_model(posterior: Posterior) -> ProbnnModel:
    """Wrap a fitted probnn posterior as a BoTorch model (see :class:`ProbnnModel`)."""
    return ProbnnModel(posterior)
