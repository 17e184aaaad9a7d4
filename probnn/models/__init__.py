"""probnn models: each is a prior over functions plus a likelihood, fitted with :func:`probnn.fit`."""

from probnn.gp.regression import GP
from probnn.models.base import Model
from probnn.models.bnn import BNN
from probnn.models.conv_bnn import ConvBNN
from probnn.models.neural_process import CNP, MPANP, MPNP, AttentiveCNP, LatentNP, RandomKernelGP
from probnn.models.pfn import PFN
from probnn.models.pyro_model import PyroModel

__all__ = [
    "BNN",
    "CNP",
    "ConvBNN",
    "GP",
    "MPANP",
    "MPNP",
    "PFN",
    "AttentiveCNP",
    "LatentNP",
    "Model",
    "PyroModel",
    "RandomKernelGP",
]
