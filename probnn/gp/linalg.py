"""Numerically careful linear algebra for Gaussian processes."""

from __future__ import annotations

import math
import warnings

import torch

from probnn.errors import NumericalError

#: First jitter tried, relative to the mean diagonal of the matrix. 1e-8 is ~100 float64 ulps of
#: a unit-scale diagonal: invisible in predictions, enough for round-off-level indefiniteness.
INITIAL_RELATIVE_JITTER = 1e-8
#: Largest relative jitter before giving up: beyond 1e-2 the matrix is changed materially.
MAX_RELATIVE_JITTER = 1e-2


class JitterWarning(UserWarning):
    """Jitter had to be added to the diagonal before a Cholesky factorisation succeeded."""


def cholesky_with_jitter(matrix: torch.Tensor, *, max_relative_jitter: float = MAX_RELATIVE_JITTER,
                         warn: bool = True) -> tuple[torch.Tensor, float]:
    """Cholesky factor of a symmetric PSD ``matrix`` ``[..., n, n]``, adding diagonal jitter if needed.

    Tries the plain factorisation first, then adds ``eps * mean(diag(matrix))`` to the diagonal for
    ``eps = 1e-8, 1e-7, ...`` up to ``max_relative_jitter``, escalating tenfold each time.

    Returns:
        ``(L, jitter)`` with ``L L^T = matrix + jitter I`` and ``jitter`` the absolute value added
        (0.0 when none was needed). A :class:`JitterWarning` reports any jitter; a
        :class:`probnn.errors.NumericalError` is raised if even the largest jitter fails.
    """
    if not bool(torch.isfinite(matrix).all()):
        raise NumericalError("cannot factorise a matrix holding NaN or inf (check kernel hyperparameters)")
    factor, info = torch.linalg.cholesky_ex(matrix)
    if not bool((info > 0).any()):
        return factor, 0.0
    scale = float(matrix.detach().diagonal(dim1=-2, dim2=-1).abs().mean().clamp_min(1e-300))
    identity = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    steps = round(math.log10(max_relative_jitter / INITIAL_RELATIVE_JITTER)) + 1
    for step in range(steps):
        jitter = scale * INITIAL_RELATIVE_JITTER * 10**step
        factor, info = torch.linalg.cholesky_ex(matrix + jitter * identity)
        if not bool((info > 0).any()):
            if warn:
                warnings.warn(f"added jitter {jitter:.3g} ({INITIAL_RELATIVE_JITTER * 10**step:.0e} x mean "
                              "diagonal) to make the kernel matrix positive definite", JitterWarning,
                              stacklevel=2)
            return factor, jitter
    raise NumericalError(
        f"Cholesky failed even with jitter {max_relative_jitter:.0e} x mean diagonal; the kernel matrix "
        "is far from positive definite (duplicate inputs with zero noise, or extreme hyperparameters?)")


def gaussian_log_marginal(factor: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``log N(r; 0, K)`` from ``L = chol(K)``: ``-r^T K^-1 r / 2 - sum log diag L - n log(2 pi) / 2``."""
    alpha = torch.cholesky_solve(residual.unsqueeze(-1), factor).squeeze(-1)
    n = residual.shape[-1]
    return (-0.5 * (residual * alpha).sum(-1) - factor.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            - 0.5 * n * math.log(2 * math.pi))
