"""The evaluation zoo: every (model, method) pair that ``probnn demo`` and ``probnn evaluate`` fit.

An entry says how to build a fresh model for ``num_features`` inputs, which inference method to
use, and the backend options for a quick smoke run and a full run. Each family adds its entries
here (or calls :func:`register_entry` from its own module, imported lazily by ``make_model``), so
the CLI never branches on the model.

Keep ``make_model`` cheap and its imports lazy: building the zoo must not import jax or numpyro.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from probnn.errors import InputError
from probnn.models.base import Model


@dataclass(frozen=True)
class ZooEntry:
    """One model + inference method to evaluate.

    Attributes:
        name: unique short name, e.g. ``"gp-exact"``, ``"bnn-nuts"``.
        task: ``"regression"`` or ``"classification"``.
        make_model: ``num_features -> Model`` (a fresh, unfitted model).
        method: the ``method=`` passed to :func:`probnn.fit`.
        quick_options: backend options for ``--quick`` runs (seconds, not minutes).
        options: backend options for full runs.
        description: one line for tables and ``--help``.
    """

    name: str
    task: str
    make_model: Callable[[int], Model]
    method: str
    quick_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def fit_options(self, quick: bool) -> dict[str, Any]:
        """The options for a quick or a full run."""
        return dict(self.quick_options if quick else self.options)


ZOO: dict[str, ZooEntry] = {}


def register_entry(entry: ZooEntry, *, replace: bool = False) -> ZooEntry:
    """Add ``entry`` to :data:`ZOO` (``replace=True`` to overwrite an existing name)."""
    if entry.task not in ("regression", "classification"):
        raise InputError(f"task must be 'regression' or 'classification'; got {entry.task!r}")
    if entry.name in ZOO and not replace:
        raise InputError(f"zoo entry {entry.name!r} already exists")
    ZOO[entry.name] = entry
    return entry


def get_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name``, with a clear error listing the available ones."""
    if name not in ZOO:
        import difflib

        close = difflib.get_close_matches(name, list(ZOO), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown zoo entry {name!r}; available: {sorted(ZOO)}.{hint}")
    return ZOO[name]


def entries(task: str | None = None) -> list[ZooEntry]:
    """All entries (for one task if given), in registration order."""
    return [entry for entry in ZOO.values() if task is None or entry.task == task]


# ---------------------------------------------------------------------------- entries
def _gp_rbf_ard(num_features: int) -> Model:
    from probnn.gp.regression import GP

    return GP(num_features=num_features)


register_entry(ZooEntry(
    name="gp-exact", task="regression", make_model=_gp_rbf_ard, method="exact",
    quick_options={"max_iterations": 50}, options={"max_iterations": 200},
    description="exact GP, RBF-ARD kernel, type-II maximum likelihood (L-BFGS)"))


def _nngp_gp(num_features: int) -> Model:
    from probnn.gp.nngp import NNGPKernel
    from probnn.gp.regression import GP

    return GP(NNGPKernel(depth=2, activation="relu", weight_std=1.5, bias_std=0.2), mean="zero",
              num_features=num_features)


def _nngp_student_t(num_features: int) -> Model:
    import torch

    from probnn.gp.nngp import NNGPKernel
    from probnn.gp.scale_mixture import ScaleMixtureNNGP

    prior = torch.distributions.InverseGamma(torch.tensor(2.0, dtype=torch.float64),
                                             torch.tensor(2.0, dtype=torch.float64))
    return ScaleMixtureNNGP(NNGPKernel(depth=2, activation="relu", weight_std=1.5, bias_std=0.2), prior,
                            num_features=num_features)


register_entry(ZooEntry(
    name="nngp-exact", task="regression", make_model=_nngp_gp, method="exact",
    quick_options={"max_iterations": 20}, options={"max_iterations": 100},
    description="exact GP with a depth-2 ReLU NNGP kernel, type-II maximum likelihood"))
register_entry(ZooEntry(
    name="nngp-student-t", task="regression", make_model=_nngp_student_t, method="exact",
    quick_options={"max_iterations": 20}, options={"max_iterations": 100},
    description="Student-t process: NNGP with an inverse-gamma last-layer variance (Lee et al. 2022), type-II ML"))


def _bnn_50_tanh(num_features: int) -> Model:
    from probnn.models.bnn import BNN

    return BNN(num_features, hidden=(50,), activation="tanh", noise="learned")


register_entry(ZooEntry(
    name="bnn-nuts", task="regression", make_model=_bnn_50_tanh, method="nuts",
    quick_options={"num_warmup": 50, "num_samples": 50, "num_chains": 2, "max_tree_depth": 6},
    options={"num_warmup": 500, "num_samples": 500, "num_chains": 4},
    description="BNN 1x50 tanh, NT Gaussian prior, learned noise; NUTS (numpyro), 4 chains"))
register_entry(ZooEntry(
    name="bnn-svi", task="regression", make_model=_bnn_50_tanh, method="svi",
    quick_options={"num_steps": 500, "num_predictive_draws": 200},
    options={"num_steps": 5000, "kl_annealing_steps": 1000},
    description="BNN 1x50 tanh; mean-field Gaussian SVI with KL annealing"))
register_entry(ZooEntry(
    name="bnn-sghmc", task="regression", make_model=_bnn_50_tanh, method="sghmc",
    quick_options={"num_samples": 20, "num_burnin": 200, "thinning": 10, "num_chains": 2},
    options={"num_samples": 100, "num_burnin": 10000, "thinning": 100, "num_chains": 4},
    description="BNN 1x50 tanh; adaptive minibatch SGHMC (Springenberg et al. 2016), 4 chains"))


def _bnn_ssvi_regression(num_features: int) -> Model:
    from probnn.models.bnn import BNN

    return BNN(num_features, hidden=(200, 200), out_features=1, activation="relu", noise="learned")


# kl_weight=1.0 (the untempered ELBO): the paper's 0.01 tempering suits large classification sets; on a
# few hundred noisy regression points it overfits (diabetes: test NLL 12.7, 90% coverage 0.24 at 0.01,
# against 5.51 / 0.78 at 1.0).
# learning_rate_schedule="constant": annealing the learning rate to 0 (the paper's cosine schedule, the
# library default) lets this small-data fit run on into overconfidence (diabetes, seed 0: test NLL 6.06,
# 90% coverage 0.56 with cosine, against 5.51 / 0.78 with a constant rate).
_SSVI_OPTIONS = {"density": 0.1, "num_steps": 2500, "batch_size": 128, "learning_rate": 3e-3, "kl_weight": 1.0,
                 "learning_rate_schedule": "constant"}
_SSVI_QUICK = {"density": 0.1, "num_steps": 500, "batch_size": 128, "learning_rate": 1e-2, "kl_weight": 1.0,
               "learning_rate_schedule": "constant"}
register_entry(ZooEntry(
    name="bnn-ssvi", task="regression", make_model=_bnn_ssvi_regression, method="ssvi",
    quick_options=_SSVI_QUICK, options=_SSVI_OPTIONS,
    description="ReLU BNN 200-200, sparse subspace VI at density 0.1 (Li et al. 2024)"))
