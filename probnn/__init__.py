"""probnn: Bayesian deep learning with one probabilistic-model API.

Functional priors, scale-mixture NNGPs, martingale-posterior neural processes, prior-data fitted
networks and sparse subspace VI share one model contract (:class:`probnn.models.Model`), one entry
point (:func:`probnn.fit`), one posterior type (:class:`probnn.Posterior`) and one predictive
interface (:class:`probnn.predictive.Predictive`).
"""

__version__ = "0.1.0"

from probnn import errors, predictive  # noqa: E402
from probnn.api import fit  # noqa: E402
from probnn.errors import (  # noqa: E402
    CheckpointError,
    InputError,
    InputTypeError,
    MethodError,
    NotFittedError,
    ProbnnError,
    UnsupportedOperationError,
)
from probnn.io import load, save  # noqa: E402
from probnn.posterior import Posterior  # noqa: E402
from probnn.predictive import Predictive  # noqa: E402
from probnn.progress import set_quiet  # noqa: E402
from probnn import models, gp, datasets  # noqa: E402
from probnn import metrics  # noqa: E402

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
