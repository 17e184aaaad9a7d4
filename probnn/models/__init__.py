"""probnn models: each is a prior over functions plus a likelihood, fitted with :func:`probnn.fit`."""

from probnn.gp.regression import GP
from probnn.models.base import Model

__all__ = ["GP", "Model"]
from probnn.models.conv_bnn import ConvBNN  # noqa: E402

__all__ += ["ConvBNN"]
