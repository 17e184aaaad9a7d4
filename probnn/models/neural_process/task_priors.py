"""The task priors of the standard 1D neural-process protocol (the bnp code of Lee et al.).

:class:`RandomKernelGP` is a GP prior whose kernel hyperparameters are redrawn per task, with
Gaussian or Student-t observation noise; it implements the prior contract with a *batched*
:meth:`~RandomKernelGP.sample_prior_batch` (one batched Cholesky), so neural-process and PFN
pre-training draw fresh tasks cheaply. Kernels (``l`` lengthscale, ``s`` output scale, ``r = |x - x'|``):

* ``"rbf"``:        ``s^2 exp(-r^2 / (2 l^2))``
* ``"matern52"``:   ``s^2 (1 + sqrt5 r/l + 5 r^2 / (3 l^2)) exp(-sqrt5 r / l)``
* ``"periodic"``:   ``s^2 exp(-2 sin^2(pi r / p) / l^2)``

with ``l ~ U(0.1, 0.6)``, ``s ~ U(0.1, 1)`` and, for the periodic kernel, period ``p ~ U(0.1, 0.5)``
(the bnp settings; inputs ``x ~ U[-2, 2]``). Observations: ``y = f + 0.02 eps`` (noise standard
deviation 0.02, the bnp ``sigma_eps``), plus, with ``noise="student_t"``, ``gamma t`` with
``t ~ StudentT(2.1)`` and ``gamma ~ U(0, 0.15)`` per task (the bnp "t-noise" setting: heavy tails with
a finite variance, 2.1 degrees of freedom).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from probnn import io
from probnn.errors import InputError
from probnn.gp.linalg import cholesky_with_jitter
from probnn.models.base import Model
from probnn.random import GeneratorLike, as_generator, standard_gamma

KERNELS = ("rbf", "matern52", "periodic")


@io.register
class RandomKernelGP(Model):
    """GP prior with per-task random hyperparameters and Gaussian or Student-t noise (prior contract only).

    Args:
        kernel: ``"rbf"``, ``"matern52"`` or ``"periodic"``.
        lengthscale_range, scale_range, period_range: uniform ranges of the hyperparameters.
        noise_std: Gaussian noise standard deviation (0.02).
        noise: ``"gaussian"`` or ``"student_t"``.
        student_t_df: degrees of freedom of the extra Student-t noise (2.1).
        student_t_scale_range: uniform range of its per-task scale ``gamma`` ((0, 0.15)).

    Example:
        >>> prior = RandomKernelGP("matern52")
        >>> x = torch.rand(4, 10, 1, dtype=torch.float64) * 4 - 2
        >>> f, y = prior.sample_prior_batch(x, generator=0)
        >>> f.shape, y.shape
        (torch.Size([4, 10, 1]), torch.Size([4, 10, 1]))
    """

    backends: ClassVar[dict[str, str]] = {}

    def __init__(self, kernel: str = "rbf", *, lengthscale_range: tuple[float, float] = (0.1, 0.6),
                 scale_range: tuple[float, float] = (0.1, 1.0), period_range: tuple[float, float] = (0.1, 0.5),
                 noise_std: float = 0.02, noise: str = "gaussian", student_t_df: float = 2.1,
                 student_t_scale_range: tuple[float, float] = (0.0, 0.15)) -> None:
        if kernel not in KERNELS:
            raise InputError(f"kernel must be one of {list(KERNELS)}; got {kernel!r}")
        if noise not in ("gaussian", "student_t"):
            raise InputError(f"noise must be 'gaussian' or 'student_t'; got {noise!r}")
        for name, (low, high) in (("lengthscale_range", lengthscale_range), ("scale_range", scale_range),
                                  ("period_range", period_range)):
            if not 0 < low <= high:
                raise InputError(f"{name} must satisfy 0 < low <= high; got {(low, high)}")
        if not noise_std > 0:
            raise InputError(f"noise_std must be > 0; got {noise_std}")
        if not student_t_df > 0 or not 0 <= student_t_scale_range[0] <= student_t_scale_range[1]:
            raise InputError("student_t_df must be > 0 and student_t_scale_range must satisfy 0 <= low <= high")
        self.kernel = kernel
        self.lengthscale_range = tuple(float(v) for v in lengthscale_range)
        self.scale_range = tuple(float(v) for v in scale_range)
        self.period_range = tuple(float(v) for v in period_range)
        self.noise_std = float(noise_std)
        self.noise = noise
        self.student_t_df = float(student_t_df)
        self.student_t_scale_range = tuple(float(v) for v in student_t_scale_range)

    @staticmethod
    def _uniform(bounds: tuple[float, float], count: int, generator: torch.Generator) -> torch.Tensor:
        low, high = bounds
        return low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)

    def covariance(self, x: torch.Tensor, lengthscale: torch.Tensor, scale: torch.Tensor,
                   period: torch.Tensor) -> torch.Tensor:
        """Kernel matrices ``[B, n, n]`` for inputs ``x [B, n, d]`` and per-task hyperparameters ``[B]``."""
        difference = x.unsqueeze(-2) - x.unsqueeze(-3)                      # [B, n, n, d]
        distance = difference.pow(2).sum(-1).clamp_min(0).sqrt()
        lengthscale, variance = lengthscale[:, None, None], scale[:, None, None] ** 2
        if self.kernel == "rbf":
            return variance * torch.exp(-0.5 * (distance / lengthscale) ** 2)
        if self.kernel == "matern52":
            scaled = math.sqrt(5.0) * distance / lengthscale
            return variance * (1 + scaled + scaled**2 / 3) * torch.exp(-scaled)
        sine = torch.sin(math.pi * distance / period[:, None, None])
        return variance * torch.exp(-2 * (sine / lengthscale) ** 2)

    def _functions(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        count = x.shape[0]
        lengthscale = self._uniform(self.lengthscale_range, count, generator)
        scale = self._uniform(self.scale_range, count, generator)
        period = self._uniform(self.period_range, count, generator)
        factor, _ = cholesky_with_jitter(self.covariance(x, lengthscale, scale, period), warn=False)
        z = torch.randn(x.shape[:2], generator=generator, dtype=torch.float64)
        return (factor @ z.unsqueeze(-1))                                   # [B, n, 1]

    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *,
                               generator: GeneratorLike = None) -> torch.Tensor:
        """``[S, n, 1]`` draws at shared inputs ``x [n, d]``, each with its own hyperparameters."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.ndim != 2:
            raise InputError(f"x must have shape [num_points, num_features]; got {tuple(x.shape)}")
        return self._functions(x.expand(num_samples, -1, -1), as_generator(generator))

    def sample_observations(self, f: torch.Tensor, *, generator: GeneratorLike = None) -> torch.Tensor:
        """``y = f + noise_std eps`` (+ ``gamma t`` with Student-t noise, one ``gamma`` per leading index)."""
        generator = as_generator(generator)
        y = f + self.noise_std * torch.randn(f.shape, generator=generator, dtype=f.dtype)
        if self.noise == "student_t":
            gamma = self._uniform(self.student_t_scale_range, f.shape[0], generator).to(f.dtype)
            gamma = gamma.reshape(-1, *[1] * (f.ndim - 1))
            # t = z / sqrt(G / df) with G ~ Gamma(df / 2, rate 1/2), i.e. chi-square(df).
            chi_square = 2 * standard_gamma(torch.full(f.shape, self.student_t_df / 2, dtype=f.dtype), generator)
            z = torch.randn(f.shape, generator=generator, dtype=f.dtype)
            y = y + gamma * z / torch.sqrt(chi_square / self.student_t_df)
        return y

    def sample_prior_batch(self, x: torch.Tensor, *, generator: GeneratorLike = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """One task per row of ``x [B, n, d]``: ``(f, y)`` each ``[B, n, 1]`` (batched Cholesky)."""
        if x.ndim != 3:
            raise InputError(f"x must have shape [batch, num_points, num_features]; got {tuple(x.shape)}")
        generator = as_generator(generator)
        f = self._functions(x.to(torch.float64), generator)
        return f, self.sample_observations(f, generator=generator)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config = {"kernel": self.kernel, "lengthscale_range": list(self.lengthscale_range),
                  "scale_range": list(self.scale_range), "period_range": list(self.period_range),
                  "noise_std": self.noise_std, "noise": self.noise, "student_t_df": self.student_t_df,
                  "student_t_scale_range": list(self.student_t_scale_range)}
        return config, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> RandomKernelGP:
        config = dict(config)
        kernel = config.pop("kernel")
        for key in ("lengthscale_range", "scale_range", "period_range", "student_t_scale_range"):
            config[key] = tuple(config[key])
        return cls(kernel, **config)

    def __repr__(self) -> str:
        return f"RandomKernelGP(kernel={self.kernel!r}, noise={self.noise!r})"
