"""Reusing one compiled numpyro sampler across many NUTS / HMC fits of the same model.

A numpyro fit compiles its sampler for the shapes of the data, and (on the collecting loop numpyro
jits without a progress bar) again for every new ``MCMC`` object: with a small BNN on tens of points
compilation is ~95 % of a fit (``benchmarks/results/bo.md``: 100 warm-up + 100 draws take ~3 s of which
the transitions are ~0.1 s). Fits in a loop (Bayesian optimisation refits after every evaluation, so
the data grow by one point each time) pay it every time.

:func:`reusable_sampler` keeps one ``MCMC`` object (``jit_model_args=True``: the data are arguments of the
compiled code, not constants in it) per model, settings and *padded* data size, and feeds it data padded
to the next power of two (at least :data:`MIN_BUCKET`) with a mask on the likelihood:

    log p(theta) + sum_i m_i log p(y_i | x_i, theta),   m_i = 1 for the n real rows, 0 for the padding,

which is exactly the unpadded log density (masked rows add 0; padded rows repeat the first real row,
so every term stays finite and its gradient, multiplied by the mask, is exactly 0). Padding is used only
when the model passes :func:`padding_is_exact`: its observation site has one batch dimension of size
``n`` and the masked, padded log density at a prior draw equals the unpadded one (to float32
round-off, :data:`PADDING_TOLERANCE`); otherwise the data are used as they are (still reusing the
compiled sampler across fits with the same ``n``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io as python_io
import math
from collections import OrderedDict
from typing import Any

import numpy as np

from probnn.inference.jax_bridge import OBSERVATION_SITE

#: Smallest padded data size: below it, buckets would change with every point added.
MIN_BUCKET = 8
#: Relative tolerance for the padded-vs-unpadded log-density check (float32 arithmetic with a
#: different summation order: ~1e-7 per term; 1e-5 leaves room for ~100 terms).
PADDING_TOLERANCE = 1e-5

#: Cached samplers kept (least recently used dropped first): each holds compiled code for one model
#: configuration, settings and padded data size.
MAX_CACHED_SAMPLERS = 16
_SAMPLERS: OrderedDict[tuple, Any] = OrderedDict()
#: :func:`padding_is_exact` answers per (model fingerprint, trailing data shapes, target dtype).
_PADDING_CHECKS: dict[tuple, bool] = {}


def bucket_size(num_points: int) -> int:
    """The padded data size: the next power of two ``>= num_points``, at least :data:`MIN_BUCKET`."""
    return max(MIN_BUCKET, 1 << max(0, math.ceil(math.log2(max(num_points, 1)))))


def model_fingerprint(model: Any) -> str | None:
    """A hash of the model's class and ``get_state()`` (configuration and tensors), or ``None`` if it has
    none. ``probnn.fit`` fits a deep copy of the model, so cached samplers are keyed by this
    fingerprint, not by the object: two models with the same fingerprint define the same log density."""
    try:
        config, tensors = model.get_state()
    except Exception:  # a model without a serialisable state: no reuse
        return None
    digest = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}:{config!r}".encode())
    for name in sorted(tensors or {}):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensors[name].detach().cpu().numpy()).tobytes())
    return digest.hexdigest()


def masked_model(model_function: Any) -> Any:
    """``model_function(x, y)`` as ``f(x, y, mask)``: the observation site's log-likelihood is multiplied
    by ``mask`` (``[n]``, bool); no other site is touched."""
    from numpyro.primitives import Messenger

    class _MaskObservations(Messenger):
        def __init__(self, mask: Any) -> None:
            self.mask = mask
            super().__init__()

        def process_message(self, msg: dict[str, Any]) -> None:
            if msg["type"] == "sample" and msg["name"] == OBSERVATION_SITE:
                msg["fn"] = msg["fn"].mask(self.mask)

    def model(x: Any, y: Any, mask: Any) -> None:
        with _MaskObservations(mask):
            model_function(x, y)

    return model


def pad(x: Any, y: Any, size: int) -> tuple[Any, Any, Any]:
    """JAX ``x [n, ...]``, ``y [n, ...]`` padded to ``size`` rows by repeating row 0, and the mask ``[size]``."""
    import jax.numpy as jnp

    n = x.shape[0]
    index = jnp.concatenate([jnp.arange(n), jnp.zeros(size - n, dtype=jnp.int32)])
    mask = jnp.arange(size) < n
    return x[index], y[index], mask


def log_density(model_function: Any, args: tuple, params: dict[str, Any]) -> float:
    from numpyro.infer.util import log_density as numpyro_log_density

    value, _ = numpyro_log_density(model_function, args, {}, params)
    return float(value)


def padding_is_exact(model: Any, x: Any, y: Any, key: Any) -> bool:
    """Whether padding + mask leaves ``model.numpyro_model``'s log density unchanged (see the module
    docstring): the observation site has batch shape ``[n]`` and the two log densities agree at a
    prior draw of the latent sites."""
    from numpyro import handlers

    n = x.shape[0]
    try:
        trace = handlers.trace(handlers.seed(model.numpyro_model, key)).get_trace(x, y)
    except Exception:
        return False
    site = trace.get(OBSERVATION_SITE)
    if site is None or tuple(site["fn"].batch_shape) != (n,):
        return False
    params = {name: entry["value"] for name, entry in trace.items()
              if entry["type"] == "sample" and not entry.get("is_observed", False)}
    size = bucket_size(n)
    if size == n:
        size = 2 * n  # check with real padding even when n already is a power of two
    try:
        plain = log_density(model.numpyro_model, (x, y), params)
        padded = log_density(masked_model(model.numpyro_model), pad(x, y, size), params)
    except Exception:
        return False
    return math.isfinite(plain) and abs(padded - plain) <= PADDING_TOLERANCE * max(1.0, abs(plain))


def padding_is_exact_cached(fingerprint: str | None, model: Any, x: Any, y: Any, key: Any) -> bool:
    """:func:`padding_is_exact`, remembered per model fingerprint and trailing data shapes (the answer
    does not depend on ``n``); a model without a fingerprint is checked at every call."""
    cache_key = (fingerprint, tuple(x.shape[1:]), tuple(y.shape[1:]), str(y.dtype))
    if fingerprint is None or cache_key not in _PADDING_CHECKS:
        answer = padding_is_exact(model, x, y, key)
        if fingerprint is None:
            return answer
        _PADDING_CHECKS[cache_key] = answer
    return _PADDING_CHECKS[cache_key]


def reusable_sampler(model: Any, fingerprint: str | None, kernel_factory: Any, settings: tuple, padded: bool,
                     data_shape: tuple, num_warmup: int, num_samples: int, num_chains: int, thinning: int) -> Any:
    """The cached ``MCMC`` for ``(fingerprint, settings, padded, data_shape, ...)``, ``fingerprint`` being
    :func:`model_fingerprint` of ``model`` (created on first use; a model without a fingerprint gets a
    fresh one, which still runs correctly)."""
    from numpyro.infer import MCMC

    key = (fingerprint, settings, padded, data_shape, num_warmup, num_samples, num_chains, thinning)
    if fingerprint is not None and key in _SAMPLERS:
        _SAMPLERS.move_to_end(key)
        return _SAMPLERS[key]
    function = masked_model(model.numpyro_model) if padded else model.numpyro_model
    # progress_bar=True selects numpyro's Python-level loop over one jitted transition, whose compiled
    # code is shared by every run of this MCMC object; without a bar numpyro jits the whole loop around
    # a fresh closure each run, i.e. recompiles at every fit.
    sampler = MCMC(kernel_factory(function), num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                   chain_method="vectorized", thinning=thinning, progress_bar=True, jit_model_args=True)
    if fingerprint is not None:
        _SAMPLERS[key] = sampler
        while len(_SAMPLERS) > MAX_CACHED_SAMPLERS:
            _SAMPLERS.popitem(last=False)
    return sampler


def quiet_unless(show: bool) -> Any:
    """numpyro's tqdm bar goes to stderr: swallow it unless progress is wanted."""
    return contextlib.nullcontext() if show else contextlib.redirect_stderr(python_io.StringIO())


def clear() -> None:
    """Forget every cached sampler and padding check."""
    _SAMPLERS.clear()
    _PADDING_CHECKS.clear()
