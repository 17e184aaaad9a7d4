"""numpyro effect handlers shared by the SVI and SGHMC backends, and SVI's start-point strategy."""

from __future__ import annotations

from functools import partial
from typing import Any

from numpyro.primitives import Messenger


class ScaleLatent(Messenger):
    """Multiply the log density of every *latent* sample site by ``scale`` (observed sites untouched).

    SVI uses it for KL annealing: with the guide scaled by the same ``beta`` the objective is
    ``E_q[log p(y | theta)] - beta KL(q || p)``.
    """

    def __init__(self, fn: Any = None, scale: Any = 1.0) -> None:
        self.scale = scale
        super().__init__(fn)

    def process_message(self, msg: dict[str, Any]) -> None:
        if msg["type"] == "sample" and not msg["is_observed"]:
            msg["scale"] = self.scale if msg.get("scale") is None else self.scale * msg["scale"]


class ScaleObserved(Messenger):
    """Multiply the log likelihood of every *observed* site by ``scale`` (minibatch ``N / B`` scaling)."""

    def __init__(self, fn: Any = None, scale: Any = 1.0) -> None:
        self.scale = scale
        super().__init__(fn)

    def process_message(self, msg: dict[str, Any]) -> None:
        if msg["type"] == "sample" and msg["is_observed"]:
            msg["scale"] = self.scale if msg.get("scale") is None else self.scale * msg["scale"]


#: Key of a sample site's ``infer`` dict under which a prior suggests a start value for its site.
INIT_HINT = "init_value"


def init_to_median_or_hint(site: dict[str, Any] | None = None, num_samples: int = 15) -> Any:
    """numpyro init strategy: a latent site's own hint, else the prior median.

    Priors whose sites are improper (``FlowWeightPrior`` declares flat sites plus a density factor) cannot
    be sampled by ``init_to_median``, which then falls back to uniform values in ``(-2, 2)``: far from a
    concentrated prior, where the prior's gradient is huge. Such priors put a start value in the site's
    ``infer[INIT_HINT]`` (for a flow: the image of the base distribution's mode). Every other site starts
    at numpyro's ``init_to_median``, so models without hints start exactly as before. SVI's guides use it
    (a flow-prior BNN fits sin(2x) to RMSE 0.17 in 3000 steps from the hint, 0.31 from the uniform start);
    SGHMC keeps ``init_to_median``: from the hint its preconditioner, adapted where the prior's gradient
    vanishes, mixed worse on the same problem (RMSE 0.35 after 3000 steps, against 0.10 from the uniform
    start of ``init="prior"``).
    """
    from numpyro.infer.initialization import init_to_median

    if site is None:
        return partial(init_to_median_or_hint, num_samples=num_samples)
    hint = (site.get("infer") or {}).get(INIT_HINT)
    if site["type"] == "sample" and not site["is_observed"] and hint is not None:
        return hint
    return init_to_median(site, num_samples=num_samples)
