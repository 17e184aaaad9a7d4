"""numpyro effect handlers shared by the SVI and SGHMC backends."""

from __future__ import annotations

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
