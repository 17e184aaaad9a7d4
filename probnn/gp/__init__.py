"""Gaussian processes: kernels, exact GP regression, scale-mixture NNGPs."""

from probnn.gp.linalg import JitterWarning, cholesky_with_jitter
from probnn.gp.regression import GP, ExactGPPosterior

__all__ = ["GP", "ExactGPPosterior", "JitterWarning", "cholesky_with_jitter"]
