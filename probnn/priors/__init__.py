"""Priors over network weights and scales."""

from probnn.priors.scale import BurrXII  # noqa: F401
from probnn.priors.weight import (  # noqa: F401
    GaussianWeightPrior,
    HierarchicalWeightPrior,
    ScaleMixtureLastLayerPrior,
    WeightPrior,
)
