"""Student-t predictive: ``y_i ~ t_nu(loc_i, scale_i)`` (Student-t processes, scale-mixture NNGPs)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from probnn.errors import InputError
from probnn.predictive.base import Predictive, check_num_samples, sample_generator
from probnn.random import GeneratorLike, standard_gamma
from probnn.validation import check_finite


class StudentTPredictive(Predictive):
    """Independent Student-t marginals with degrees of freedom ``df``, location ``loc`` and ``scale``.

    The density is ``Gamma((nu+1)/2) / (Gamma(nu/2) sqrt(nu pi) s) (1 + ((y-m)/s)^2 / nu)^(-(nu+1)/2)``.
    The mean exists for ``nu > 1`` and the variance ``s^2 nu / (nu - 2)`` for ``nu > 2``; otherwise
    they are reported as NaN / inf, as for the distribution itself.

    Args:
        df: degrees of freedom (> 0), broadcastable to ``loc``.
        loc: locations, shape ``[*batch]``.
        scale: scales (> 0), broadcastable to ``loc``.
    """

    def __init__(self, df: torch.Tensor | float, loc: torch.Tensor, scale: torch.Tensor) -> None:
        loc = torch.as_tensor(loc)
        df, loc, scale = torch.broadcast_tensors(torch.as_tensor(df, dtype=loc.dtype), loc,
                                                 torch.as_tensor(scale, dtype=loc.dtype))
        for value, name in ((df, "df"), (loc, "loc"), (scale, "scale")):
            check_finite(value, name)
        if bool((df <= 0).any()):
            raise InputError(f"df must be > 0; got minimum {float(df.min())}")
        if bool((scale <= 0).any()):
            raise InputError(f"scale must be > 0; got minimum {float(scale.min())}")
        self.df, self.loc, self.scale = df, loc, scale

    @property
    def batch_shape(self) -> torch.Size:
        return self.loc.shape

    @property
    def mean(self) -> torch.Tensor:
        return torch.where(self.df > 1, self.loc, torch.full_like(self.loc, math.nan))

    @property
    def variance(self) -> torch.Tensor:
        var = self.scale**2 * self.df / (self.df - 2).clamp_min(1e-300)
        return torch.where(self.df > 2, var, torch.full_like(var, math.inf))

    def sample(self, num_samples: int, *, generator: GeneratorLike = None) -> torch.Tensor:
        num_samples = check_num_samples(num_samples)
        generator = sample_generator(generator)
        shape = (num_samples, *self.batch_shape)
        # t = z / sqrt(g / nu) with z ~ N(0, 1) and g ~ chi2(nu) = Gamma(nu/2, rate 1/2).
        normal = torch.randn(shape, generator=generator, dtype=self.loc.dtype)
        gamma = standard_gamma(self.df.expand(shape) / 2, generator)
        return self.loc + self.scale * normal / torch.sqrt(2.0 * gamma / self.df)

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_value(y, "y")
        nu, z = self.df, (y - self.loc) / self.scale
        return (torch.lgamma((nu + 1) / 2) - torch.lgamma(nu / 2) - 0.5 * torch.log(nu * math.pi)
                - torch.log(self.scale) - (nu + 1) / 2 * torch.log1p(z**2 / nu))

    def cdf(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_value(y, "y")
        z = ((y - self.loc) / self.scale).detach()
        z, df = torch.broadcast_tensors(z, self.df.detach())
        return torch.as_tensor(stats.t.cdf(z.cpu().numpy(), df.cpu().numpy()), dtype=self.loc.dtype)

    def quantile(self, q: float | torch.Tensor) -> torch.Tensor:
        levels, scalar = self._check_levels(q)
        ppf = stats.t.ppf(levels.numpy().reshape(-1, *[1] * len(self.batch_shape)),
                          self.df.detach().cpu().numpy())
        result = self.loc + self.scale * torch.as_tensor(np.asarray(ppf), dtype=self.loc.dtype)
        return result[0] if scalar else result

    def crps(self, y: torch.Tensor) -> torch.Tensor:
        """Closed form for ``nu > 1`` (Jordan, Krueger & Lerch 2019, scoringRules), else ``inf``.

        ``CRPS = s [ z (2 F(z) - 1) + 2 f(z) (nu + z^2)/(nu - 1)
        - 2 sqrt(nu) B(1/2, nu - 1/2) / ((nu - 1) B(1/2, nu/2)^2) ]`` with ``z = (y - m)/s`` and
        ``F, f`` the standard t CDF and density.
        """
        y = self._check_value(y, "y")
        nu = self.df
        z = (y - self.loc) / self.scale
        cdf = self.cdf(y)
        log_pdf = (torch.lgamma((nu + 1) / 2) - torch.lgamma(nu / 2) - 0.5 * torch.log(nu * math.pi)
                   - (nu + 1) / 2 * torch.log1p(z**2 / nu))
        safe_nu = torch.where(nu > 1, nu, torch.full_like(nu, 2.0))

        def log_beta(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)

        half = torch.full_like(nu, 0.5)
        constant = 2 * torch.sqrt(safe_nu) * torch.exp(
            log_beta(half, safe_nu - 0.5) - 2 * log_beta(half, safe_nu / 2)) / (safe_nu - 1)
        score = self.scale * (z * (2 * cdf - 1) + 2 * torch.exp(log_pdf) * (nu + z**2) / (safe_nu - 1)
                              - constant)
        return torch.where(nu > 1, score, torch.full_like(score, math.inf))

    def select(self, index: torch.Tensor) -> StudentTPredictive:
        """Index the leading batch dimension (used by mixtures)."""
        return StudentTPredictive(self.df[index], self.loc[index], self.scale[index])
