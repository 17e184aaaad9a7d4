"""Bayesian optimisation with probnn surrogates.

* :func:`minimize` (:mod:`probnn.bo.loop`): a BO loop over any probnn model and backend.
* :mod:`probnn.bo.botorch_adapter`: any probnn posterior as a BoTorch ``Model`` (needs the
  ``botorch`` extra; imported only when used, so ``import probnn`` stays fast).
"""

from probnn.bo.loop import BOResult, minimize

__all__ = ["BOResult", "minimize"]
