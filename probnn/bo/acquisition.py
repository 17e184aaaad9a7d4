"""Acquisition functions on a probnn :class:`~probnn.predictive.Predictive`, for *minimisation*.

Every function takes the predictive at candidate points (batch ``[m]``) and returns a score ``[m]``
to *maximise*. Closed forms are used whenever the predictive kind has one:

* :class:`~probnn.predictive.BarPredictive` (PFN): its own exact ``expected_improvement``,
  ``probability_of_improvement`` and ``upper_confidence_bound``.
* Gaussian ``N(mu, s^2)``: with ``z = (f* - mu) / s``, ``EI = s (z Phi(z) + phi(z))``
  (Jones et al., 1998), evaluated in log space (``log EI``) so that far-from-incumbent candidates
  are still ranked (BoTorch's LogEI idea, Ament et al., 2023).
* Student-t ``t_nu(mu, s)``: ``EI = (f* - mu) T_nu(z) + s (nu + z^2) / (nu - 1) t_nu(z)`` for
  ``nu > 1`` (the t analogue of Jones' formula; Shah, Wilson & Ghahramani, 2014).
* Mixtures of Gaussian / Student-t components: ``EI = sum_s w_s EI_s`` exactly (EI is linear in
  the distribution), computed with a log-sum-exp over components.
* Anything else: Monte Carlo ``EI ~ mean_j (f* - Y_j)_+`` from :data:`MONTE_CARLO_SAMPLES` draws
  with a fixed seed (common random numbers across candidates).

``PI = P(Y < f*) = cdf(f*)`` and ``UCB = -(mean - sqrt(beta) stddev)`` (a lower confidence bound,
since we minimise) only need the generic interface.
"""

from __future__ import annotations

import math

import torch
from scipy import special

from probnn.errors import InputError
from probnn.predictive import GaussianPredictive, MixturePredictive, Predictive, StudentTPredictive

#: Draws for the Monte Carlo EI fallback: the relative MC error of EI is about 1/sqrt(1024) = 3 %.
MONTE_CARLO_SAMPLES = 1024
ACQUISITIONS = ("ei", "pi", "ucb")
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _log_h(z: torch.Tensor) -> torch.Tensor:
    """``log(z Phi(z) + phi(z))`` stably; for ``z < -5`` the asymptotic
    ``phi(z) / z^2 (1 - 3/z^2 + 15/z^4)`` (Mills-ratio series, relative error < 1e-3 there)."""
    direct_z = z.clamp_min(-5.0)
    direct = torch.log((direct_z * torch.special.ndtr(direct_z)
                        + torch.exp(-0.5 * direct_z**2 - _LOG_SQRT_2PI)).clamp_min(1e-300))
    tail_z = z.clamp_max(-5.0)
    series = 1 - 3 / tail_z**2 + 15 / tail_z**4
    tail = -0.5 * tail_z**2 - _LOG_SQRT_2PI - 2 * torch.log(-tail_z) + torch.log(series)
    return torch.where(z > -5.0, direct, tail)


def _log_ei_gaussian(mean: torch.Tensor, stddev: torch.Tensor, best: float) -> torch.Tensor:
    return torch.log(stddev) + _log_h((best - mean) / stddev)


def _log_ei_student_t(df: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, best: float) -> torch.Tensor:
    if bool((df <= 1).any()):
        raise InputError("expected improvement needs a finite mean: Student-t df must be > 1")
    z = ((best - loc) / scale).detach()
    numpy_z, numpy_df = z.numpy(), df.detach().numpy()
    cdf = torch.as_tensor(special.stdtr(numpy_df, numpy_z), dtype=loc.dtype)
    log_pdf = (torch.lgamma((df + 1) / 2) - torch.lgamma(df / 2) - 0.5 * torch.log(df * math.pi)
               - (df + 1) / 2 * torch.log1p(z**2 / df))
    value = scale * (z * cdf + (df + z**2) / (df - 1) * torch.exp(log_pdf))
    return torch.log(value.clamp_min(1e-300))


def log_expected_improvement(predictive: Predictive, best: float, *, generator: int = 0) -> torch.Tensor:
    """``log E[(best - Y)_+]`` per candidate (see the module docstring for the forms used)."""
    if isinstance(predictive, GaussianPredictive):
        return _log_ei_gaussian(predictive.mean, predictive.stddev, best)
    if isinstance(predictive, StudentTPredictive):
        return _log_ei_student_t(predictive.df, predictive.loc, predictive.scale, best)
    if isinstance(predictive, MixturePredictive) and isinstance(
            predictive.components, (GaussianPredictive, StudentTPredictive)):
        per_component = log_expected_improvement(predictive.components, best)
        weights = predictive.log_weights.reshape(-1, *[1] * len(predictive.batch_shape))
        return torch.logsumexp(per_component + weights, 0)
    if hasattr(predictive, "expected_improvement"):
        value = predictive.expected_improvement(best, maximize=False)
        return torch.log(value.clamp_min(1e-300))
    draws = predictive.sample(MONTE_CARLO_SAMPLES, generator=generator)
    return torch.log((best - draws).clamp_min(0).mean(0).clamp_min(1e-300))


def acquisition_scores(predictive: Predictive, best: float, kind: str, *, beta: float = 2.0) -> torch.Tensor:
    """Score ``[m]`` to maximise for ``kind`` in ``"ei"`` (as log EI), ``"pi"`` (as log PI), ``"ucb"``."""
    if kind == "ei":
        return log_expected_improvement(predictive, best)
    if kind == "pi":
        if hasattr(predictive, "probability_of_improvement"):
            value = predictive.probability_of_improvement(best, maximize=False)
        else:
            value = predictive.cdf(torch.full(predictive.batch_shape, best, dtype=predictive.mean.dtype))
        return torch.log(value.clamp_min(1e-300))
    if kind == "ucb":
        if hasattr(predictive, "upper_confidence_bound"):
            return -predictive.upper_confidence_bound(beta, maximize=False)
        return -(predictive.mean - math.sqrt(beta) * predictive.stddev)
    raise InputError(f"acquisition must be one of {list(ACQUISITIONS)}; got {kind!r}")
