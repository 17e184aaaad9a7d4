"""Priors over network weights and scales."""

from probnn.priors.weight import (  # noqa: F401
    GaussianWeightPrior,
    HierarchicalWeightPrior,
    ScaleMixtureLastLayerPrior,
    WeightPrior,
)
