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


#: Fraction of the kernel's per-process memory-map limit at which JAX's caches are cleared.
MEMORY_MAP_FRACTION = 0.5


def _memory_map_usage() -> tuple[int, int] | None:
    """``(maps held by this process, vm.max_map_count)`` on Linux; ``None`` where that cannot be read."""
    try:
        with open("/proc/sys/vm/max_map_count") as stream:
            limit = int(stream.read().strip())
        with open("/proc/self/maps", "rb") as stream:
            held = sum(1 for _ in stream)
    except (OSError, ValueError):
        return None
    return held, limit


def release_compiled_code_if_needed(fraction: float = MEMORY_MAP_FRACTION) -> bool:
    """Clear JAX's compilation caches when this process holds more than ``fraction`` of its memory-map limit.

    Every numpyro fit builds new model closures, so XLA compiles new executables for it and JAX keeps
    them for the life of the process: on CPU about 1,000 memory maps per NUTS fit of a small BNN. Linux
    refuses new maps past ``vm.max_map_count`` (65,530 by default) and LLVM then aborts the whole
    process ("Unable to allocate section memory") after ~60 fits, e.g. inside a Bayesian-optimisation
    loop or a benchmark over many datasets. Clearing only when the count nears the limit keeps the
    in-memory reuse of compiled code between fits (clearing after every fit doubled a small fit's
    time) while bounding the maps. Returns whether the caches were cleared.
    """
    usage = _memory_map_usage()
    if usage is None:
        return False
    held, limit = usage
    if held <= fraction * limit:
        return False
    import jax

    jax.clear_caches()
    return True
