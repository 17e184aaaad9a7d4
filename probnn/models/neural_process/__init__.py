"""Neural processes: CNP, attentive CNP, latent NP and martingale posterior NPs (MPNP, MPANP).

Every class here is both a probnn :class:`~probnn.models.Model` (condition on a context set with
``probnn.fit(model, x_context, y_context, method="condition")``) and an amortized module trained by
:func:`probnn.inference.pretrain.pretrain` on tasks from any prior (e.g. :class:`RandomKernelGP`).
See ``docs/neural_processes.md``.
"""

from probnn.models.neural_process.base import NeuralProcess
from probnn.models.neural_process.conditional import CNP, AttentiveCNP
from probnn.models.neural_process.generator import PseudoContextGenerator
from probnn.models.neural_process.latent import LatentNP
from probnn.models.neural_process.martingale import MPANP, MPNP
from probnn.models.neural_process.posterior import NeuralProcessPosterior, fit_condition
from probnn.models.neural_process.task_priors import RandomKernelGP

__all__ = ["CNP", "MPANP", "MPNP", "AttentiveCNP", "LatentNP", "NeuralProcess", "NeuralProcessPosterior",
           "PseudoContextGenerator", "RandomKernelGP", "fit_condition"]
