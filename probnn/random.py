"""Explicit randomness: turn a seed or generator argument into a :class:`torch.Generator`.

Every stochastic function in probnn takes ``generator: torch.Generator | int | None``:

* a ``torch.Generator`` is used as is (and advanced);
* an ``int`` seeds a fresh CPU generator, so the same seed gives the same result on every run;
* ``None`` draws a seed from torch's global generator, so ``torch.manual_seed(s)`` still makes a
  whole script reproducible.
"""

from __future__ import annotations

import torch

from probnn.errors import InputTypeError

GeneratorLike = torch.Generator | int | None


def as_generator(generator: GeneratorLike, *, name: str = "generator") -> torch.Generator:
    """Return a ``torch.Generator`` for ``generator`` (see the module docstring for the rules)."""
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
        return torch.Generator().manual_seed(seed)
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise InputTypeError(
            f"{name} must be a torch.Generator, an int seed or None; got {type(generator).__name__}"
        )
    if generator < 0:
        raise InputTypeError(f"{name} must be a non-negative int seed; got {generator}")
    return torch.Generator().manual_seed(generator)


def derive_seed(generator: torch.Generator) -> int:
    """Draw a fresh 62-bit seed from ``generator`` (for seeding JAX keys or child generators)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


def standard_gamma(concentration: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gamma(concentration, rate 1) draws from an explicit generator (Marsaglia & Tsang, 2000).

    ``torch._standard_gamma`` takes no generator, so this implements the squeeze method directly:
    for ``a >= 1``, ``d = a - 1/3``, ``c = 1/sqrt(9d)``, accept ``d v`` with ``v = (1 + c x)^3`` when
    ``log u < x^2/2 + d - d v + d log v``; for ``a < 1`` use ``G(a) = G(a + 1) U^(1/a)``.
    """
    alpha = concentration
    boost = alpha < 1
    a = torch.where(boost, alpha + 1, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    result = torch.empty_like(a)
    pending = torch.ones_like(a, dtype=torch.bool)
    for _ in range(100):  # acceptance rate is > 95 %, so 100 rounds leave nothing pending
        x = torch.randn(a.shape, generator=generator, dtype=a.dtype)
        u = torch.rand(a.shape, generator=generator, dtype=a.dtype)
        v = (1 + c * x) ** 3
        accept = (v > 0) & (torch.log(u) < 0.5 * x**2 + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        take = pending & accept
        result = torch.where(take, d * v, result)
        pending = pending & ~accept
        if not bool(pending.any()):
            break
    u = torch.rand(a.shape, generator=generator, dtype=a.dtype)
    return torch.where(boost, result * u ** (1.0 / alpha), result)


def sample_distribution(distribution: torch.distributions.Distribution, sample_shape: tuple[int, ...] | torch.Size,
                        generator: torch.Generator) -> torch.Tensor:
    """Draw from a ``torch.distributions`` object reproducibly from ``generator``.

    ``Distribution.sample`` only reads torch's global generator, so the draw runs inside
    :func:`torch.random.fork_rng` seeded from ``generator``: the global state is left untouched and
    the same generator state always gives the same draw.
    """
    seed = derive_seed(generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return distribution.sample(torch.Size(sample_shape))
