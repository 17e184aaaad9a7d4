"""Priors over network weights and scales."""

from probnn.priors.distances import (  # noqa: F401
    NOTEBOOK_1D_CRITIC_OPTIONS,
    NOTEBOOK_CRITIC_OPTIONS,
    FunctionDistance,
    MMDDistance,
    SlicedWassersteinDistance,
    WassersteinDistance,
)
from probnn.priors.flow import FlowWeightPrior  # noqa: F401
from probnn.priors.functional import FunctionalPriorFit, fit_functional_prior, function_space_distance  # noqa: F401
from probnn.priors.local_basis import local_basis_prior  # noqa: F401
from probnn.priors.measurement import (  # noqa: F401
    BoxMeasurementSet,
    DataMeasurementSet,
    FixedMeasurementSet,
    GridMeasurementSet,
    MeasurementSet,
)
from probnn.priors.scale import BurrXII  # noqa: F401
from probnn.priors.weight import (  # noqa: F401
    GaussianWeightPrior,
    HierarchicalWeightPrior,
    ScaleMixtureLastLayerPrior,
    WeightPrior,
)
