"""probnn: Bayesian deep learning with one probabilistic-model API.

Functional priors, scale-mixture NNGPs, martingale-posterior neural processes, prior-data fitted
networks and sparse subspace VI share one model contract (:class:`probnn.models.Model`), one entry
point (:func:`probnn.fit`), one posterior type (:class:`probnn.Posterior`) and one predictive
interface (:class:`probnn.predictive.Predictive`).
"""

__version__ = "0.1.0"

# isort: off
# Import order matters: ``models`` first, because ``probnn.gp.regression`` (imported by
# ``probnn.models``) needs ``probnn.models.base`` while ``probnn.models`` re-exports ``GP``.
from probnn import models
from probnn import datasets, errors, gp, metrics, predictive
# isort: on
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


def __getattr__(name: str) -> object:
    """Import the heavier subpackages (``bo``, ``evaluation``) on first attribute access."""
    if name in ("bo", "evaluation"):
        import importlib

        return importlib.import_module(f"probnn.{name}")
    raise AttributeError(f"module 'probnn' has no attribute {name!r}")
