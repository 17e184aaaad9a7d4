"""Minibatch schedules for stochastic-gradient samplers (JAX, traceable under ``jit`` / ``vmap``).

A schedule returns, for one step, the ``B`` data indices of the minibatch and a weight per index, so that
the minibatch log likelihood ``sum_i weight_i log p(y_{index_i} | theta)`` is an unbiased estimate of the
full-data one ``sum_{n=1}^{N} log p(y_n | theta)``.

* ``"with_replacement"`` (drawn inline by the sampler): ``B`` indices uniform with replacement, weight
  ``N / B`` each (O(B) per step).
* ``"epochs"``, :func:`epochs`: the data are visited in epochs without replacement, as a shuffled PyTorch
  ``DataLoader`` with ``drop_last=False`` does (the official code of Tran et al., 2022). Epoch ``e`` uses a
  fresh random permutation of the ``N`` points, cut into ``K = ceil(N / B)`` consecutive batches; step
  ``t`` takes batch ``t mod K`` of epoch ``t // K``. The last batch of an epoch holds ``N - (K - 1) B``
  points; it is padded to ``B`` indices with weight 0, the others get ``N / (its size)``, so every batch is
  an unbiased estimate and every point is used exactly once per epoch. Cost: one permutation (a sort of
  ``N`` keys) per step.
"""

from __future__ import annotations

import math
from typing import Any

#: Minibatch schedules understood by :func:`probnn.inference.sghmc.fit_sghmc`.
SCHEDULES = ("with_replacement", "epochs")


def epochs(step: Any, key: Any, batch_size: int, num_data: int) -> tuple[Any, Any]:
    """``(indices [B] int32, weights [B])`` of step ``step`` (int scalar) of the epoch schedule.

    ``key`` is the chain's minibatch key (fixed over the run); epoch ``e`` permutes with
    ``fold_in(key, e)``, so the schedule is a pure function of ``(step, key)``.
    """
    import jax
    import jax.numpy as jnp

    num_batches = math.ceil(num_data / batch_size)
    epoch, position = step // num_batches, step % num_batches
    order = jax.random.permutation(jax.random.fold_in(key, epoch), num_data)
    padded = jnp.concatenate([order, jnp.zeros(num_batches * batch_size - num_data, order.dtype)])
    start = position * batch_size
    indices = jax.lax.dynamic_slice(padded, (start,), (batch_size,))
    valid = start + jnp.arange(batch_size) < num_data
    count = jnp.minimum(batch_size, num_data - start)
    weights = jnp.where(valid, num_data / count, 0.0).astype(jnp.float32)
    return indices, weights


__all__ = ["SCHEDULES", "epochs"]
