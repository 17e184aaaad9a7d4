"""Gaussian processes: kernels, exact GP regression, scale-mixture NNGPs."""

from probnn.gp.linalg import JitterWarning, cholesky_with_jitter
from probnn.gp.regression import GP, ExactGPPosterior

__all__ = ["GP", "ExactGPPosterior", "JitterWarning", "cholesky_with_jitter"]
from probnn.gp.nngp import NNGPKernel
from probnn.gp.ntk import NTKKernel
from probnn.gp.scale_mixture import ScaleMixtureNNGP

__all__ += ["NNGPKernel", "NTKKernel", "ScaleMixtureNNGP"]
from probnn.gp.classification import ScaleMixtureNNGPClassifier  # noqa: E402

__all__ += ["ScaleMixtureNNGPClassifier"]
