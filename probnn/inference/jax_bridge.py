"""Moving data, seeds and draws between torch (probnn's API) and JAX (the compiled backends)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from probnn.inference.protocols import OBSERVATION_SITE
from probnn.random import derive_seed

#: JAX's default PRNG takes a 32-bit seed.
_SEED_MODULUS = 2**31 - 1


def prng_key(generator: torch.Generator) -> Any:
    """A ``jax.random.PRNGKey`` seeded from ``generator`` (same generator state -> same key)."""
    import jax

    return jax.random.PRNGKey(derive_seed(generator) % _SEED_MODULUS)


def to_jax_data(model: Any, x: torch.Tensor, y: torch.Tensor | None) -> tuple[Any, Any]:
    """``x`` as float32 and ``y`` as float32 (regression) or int32 (class labels) JAX arrays."""
    import jax.numpy as jnp

    inputs = jnp.asarray(x.detach().cpu().numpy().astype(np.float32))
    if y is None:
        return inputs, None
    if getattr(model, "target_kind", "real") == "categorical":
        return inputs, jnp.asarray(y.detach().cpu().numpy().astype(np.int32))
    return inputs, jnp.asarray(y.detach().cpu().numpy().astype(np.float32))


def to_torch(value: Any) -> torch.Tensor:
    """A JAX (or NumPy) array as a torch tensor (copied; bool stays bool, ints become int64)."""
    array = np.asarray(value)
    if array.dtype == np.bool_:
        return torch.from_numpy(array.copy())
    if np.issubdtype(array.dtype, np.integer):
        return torch.from_numpy(array.astype(np.int64))
    return torch.from_numpy(array.astype(np.float32))


def draws_to_torch(samples: dict[str, Any]) -> dict[str, torch.Tensor]:
    """numpyro samples ``{site: [chains, draws, ...]}`` as torch, dropping the observation site."""
    return {name: to_torch(value) for name, value in samples.items() if name != OBSERVATION_SITE}
