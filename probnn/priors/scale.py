"""Positive-support priors for the last-layer variance of scale-mixture NNGPs (Lee et al. 2022).

:class:`BurrXII` is the Burr type XII distribution used in the paper as a heavier-tailed
alternative to the inverse gamma; half-Cauchy, log-normal and inverse-gamma priors come from
``torch.distributions``.
"""

from __future__ import annotations

import torch
from torch.distributions import Distribution, constraints

from probnn.errors import InputError


class BurrXII(Distribution):
    """Burr type XII distribution on ``(0, inf)`` with shape parameters ``c, k > 0`` and ``scale > 0``.

    Density and CDF (with ``t = x / scale``)::

        p(x) = (c k / scale) t^(c-1) (1 + t^c)^(-(k+1)),      F(x) = 1 - (1 + t^c)^(-k).

    Sampling inverts the CDF: ``x = scale ((1 - u)^(-1/k) - 1)^(1/c)``, ``u ~ U(0, 1)``. The tail is
    a power law ``p(x) ~ x^(-c k - 1)``: moments of order ``>= c k`` are infinite.

    Args:
        concentration: ``c`` (first shape).
        tail: ``k`` (second shape).
        scale: scale (default 1).
    """

    arg_constraints = {  # noqa: RUF012 (torch.distributions convention)
        "concentration": constraints.positive, "tail": constraints.positive, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, concentration: torch.Tensor | float, tail: torch.Tensor | float,
                 scale: torch.Tensor | float = 1.0, validate_args: bool | None = None) -> None:
        concentration, tail, scale = torch.broadcast_tensors(
            *(torch.as_tensor(value, dtype=torch.get_default_dtype()) if not torch.is_tensor(value) else value
              for value in (concentration, tail, scale)))
        for value, name in ((concentration, "concentration"), (tail, "tail"), (scale, "scale")):
            if bool((value <= 0).any()):
                raise InputError(f"BurrXII {name} must be > 0; got {value.tolist()}")
        self.concentration, self.tail, self.scale = concentration, tail, scale
        super().__init__(batch_shape=concentration.shape, validate_args=validate_args)

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        # u in (tiny, 1): keeps (1 - u)^(-1/k) - 1 strictly positive and finite.
        tiny = torch.finfo(self.scale.dtype).tiny
        u = torch.rand(shape, dtype=self.scale.dtype).clamp(tiny, 1 - torch.finfo(self.scale.dtype).eps)
        return self.scale * torch.expm1(-torch.log1p(-u) / self.tail) ** (1 / self.concentration)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        t = value / self.scale
        log_t = torch.log(t)
        return (torch.log(self.concentration * self.tail / self.scale) + (self.concentration - 1) * log_t
                - (self.tail + 1) * torch.nn.functional.softplus(self.concentration * log_t))

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        t = value / self.scale
        return -torch.expm1(-self.tail * torch.nn.functional.softplus(self.concentration * torch.log(t)))

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.expm1(-torch.log1p(-value) / self.tail) ** (1 / self.concentration)

    @property
    def mean(self) -> torch.Tensor:
        """``scale k B(k - 1/c, 1 + 1/c)`` for ``c k > 1`` (else inf)."""
        c, k = self.concentration, self.tail
        log_beta = torch.lgamma(k - 1 / c) + torch.lgamma(1 + 1 / c) - torch.lgamma(k + 1)
        value = self.scale * k * torch.exp(log_beta)
        return torch.where(c * k > 1, value, torch.full_like(value, float("inf")))
