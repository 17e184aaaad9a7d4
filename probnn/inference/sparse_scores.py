"""Removal scores for sparse subspace VI (Li et al., ICLR 2024, Sec. 4.2).

For ``theta ~ N(mu, sigma^2)``, ``|theta|`` is folded-normal with

    E|theta| = mu erf(mu / (sigma sqrt 2)) + sigma sqrt(2 / pi) exp(-mu^2 / (2 sigma^2)),
    E[theta^2] = mu^2 + sigma^2,

and the default score is its signal-to-noise ratio

    SNR(|theta|) = E|theta| / sqrt(mu^2 + sigma^2 - (E|theta|)^2).

Weights with the lowest score are removed. Alternatives: ``"mean"`` (``|mu|``) and
``"mean_over_std"`` (``|mu| / sigma``).
"""

from __future__ import annotations

import math

import torch

from probnn.errors import InputError

REMOVAL_SCORES = ("snr", "mean", "mean_over_std")


def folded_normal_mean(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``E|theta|`` for ``theta ~ N(mu, sigma^2)`` (elementwise; ``sigma > 0``)."""
    return (mu * torch.erf(mu / (sigma * math.sqrt(2.0)))
            + sigma * math.sqrt(2.0 / math.pi) * torch.exp(-(mu**2) / (2 * sigma**2)))


def folded_normal_snr(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``E|theta| / sd|theta|``; the variance is clamped at a tiny fraction of ``E[theta^2]``
    (1e-12 relative) because it cancels catastrophically when ``|mu| >> sigma`` (the SNR is then
    huge and only its order matters for ranking)."""
    mean = folded_normal_mean(mu, sigma)
    second = mu**2 + sigma**2
    variance = (second - mean**2).clamp_min(1e-12 * second)
    return mean / variance.sqrt()


def removal_score(mu: torch.Tensor, sigma: torch.Tensor, kind: str = "snr") -> torch.Tensor:
    """Score of each weight (higher = keep). ``kind``: one of :data:`REMOVAL_SCORES`."""
    if kind == "snr":
        return folded_normal_snr(mu, sigma)
    if kind == "mean":
        return mu.abs()
    if kind == "mean_over_std":
        return mu.abs() / sigma
    raise InputError(f"removal_score must be one of {list(REMOVAL_SCORES)}; got {kind!r}")
