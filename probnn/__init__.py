"""probnn: Bayesian deep learning with one probabilistic-model API.

Functional priors, scale-mixture NNGPs, martingale-posterior neural processes, prior-data fitted
networks and sparse subspace VI share one model contract (:class:`probnn.models.Model`), one entry
point (:func:`probnn.fit`), one posterior type (:class:`probnn.Posterior`) and one predictive
interface (:class:`probnn.predictive.Predictive`).
"""

__version__ = "0.1.0"

# models first: probnn.gp.regression imports probnn.models.base, and probnn.models imports probnn.gp
# (plus bnn -> inference -> pretrain -> datasets); initialising probnn.models first resolves both cycles.
from probnn import models  # noqa: I001
from probnn import datasets, errors, gp, predictive
from probnn.api import fit
from probnn.errors import (
    CheckpointError,
    InputError,
    InputTypeError,
    MethodError,
    NotFittedError,
    ProbnnError,
    UnsupportedOperationError,
)
from probnn.io import load, save
from probnn.posterior import Posterior
from probnn.predictive import Predictive
from probnn.progress import set_quiet

__all__ = [
    "CheckpointError",
    "InputError",
    "InputTypeError",
    "MethodError",
    "NotFittedError",
    "Posterior",
    "Predictive",
    "ProbnnError",
    "UnsupportedOperationError",
    "__version__",
    "datasets",
    "errors",
    "fit",
    "gp",
    "load",
    "metrics",
    "models",
    "predictive",
    "save",
    "set_quiet",
]
