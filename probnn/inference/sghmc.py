"""``method="sghmc"``: minibatch scale-adapted stochastic-gradient HMC (Springenberg et al., 2016).

The sampler Tran et al. (2022) use for functional-prior BNNs. With the minibatch potential

    U_B(theta) = -(N / B) sum_{i in batch} log p(y_i | x_i, theta) - log p(theta)

(unconstrained space, Jacobians included) and per-parameter statistics, each step does

    g      <- (1 - r) g + r grad U_B           r = 1 / (tau + 1)        (burn-in only)
    v_hat  <- (1 - r) v_hat + r (grad U_B)^2
    tau    <- tau (1 - g^2 / v_hat) + 1
    m_inv  =  1 / sqrt(v_hat)                                           (preconditioner)
    v      <- v - eps^2 m_inv grad U_B - C v + N(0, 2 eps^2 C m_inv)
    theta  <- theta + v

with step size ``eps = learning_rate / sqrt(N)`` and friction ``C = momentum_decay``. During the
``num_burnin`` steps the preconditioner adapts (and the draws are discarded); afterwards it is frozen
and every ``thinning``-th state is kept. ``num_chains`` chains run vectorised (``vmap``) with
independent initialisations and minibatch streams. The gradient-noise correction term of
Springenberg et al. is set to zero, as in their reference implementation.

Defaults: batch 32 and friction 0.05 as in Tran et al. (2022). Learning rate 0.25 and 10000 burn-in
steps: with ``eps = learning_rate / sqrt(N)`` the chains move slowly, and the former defaults (0.1,
2000 burn-in; the UCI benchmark used 1000) left a 1-50-1 BNN near its initialisation (yacht split 0:
test RMSE 5.0 against 0.30 for NUTS). Measured on yacht / energy split 0 with 10000 burn-in steps and
100 draws thinned by 100 (4 chains): learning rate 0.1 gives RMSE 0.44 / 0.49 but function-space R-hat
1.45 / 1.74; 0.25 gives 0.59 / 0.37 with R-hat 1.13 / 1.20; 0.5 and 1.0 mix faster but inflate the
learned noise std (discretisation and minibatch-noise bias: RMSE 0.66 and 0.97 on yacht). Tran et al.
use 0.01 with 2000 steps between kept draws, which costs ~20x more steps.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from probnn.errors import InputError, MethodError
from probnn.inference import diagnostics
from probnn.inference.jax_bridge import draws_to_torch, prng_key, to_jax_data, to_torch
from probnn.inference.protocols import has_numpyro_model
from probnn.inference.sample_posterior import SamplePosterior
from probnn.progress import progress_bar
from probnn.random import GeneratorLike, as_generator
from probnn.validation import check_positive_int

#: Added to the squared-gradient average before the square root (avoids dividing by zero).
_EPSILON = 1e-8
#: Steps per compiled chunk (one progress-bar update each).
_CHUNK = 500


def fit_sghmc(model: Any, x: torch.Tensor, y: torch.Tensor, *, num_samples: int = 100, num_burnin: int = 10000,
              thinning: int = 100, num_chains: int = 4, batch_size: int = 32, learning_rate: float = 0.25,
              momentum_decay: float = 0.05, generator: GeneratorLike = None,
              progress: bool | None = None) -> SamplePosterior:
    """Adaptive SGHMC; returns draws ``[num_chains, num_samples, ...]``.

    Args:
        model: a parametric model with ``numpyro_model``.
        num_samples: kept draws per chain.
        num_burnin: adaptation steps per chain (discarded).
        thinning: steps between kept draws.
        num_chains: independent chains.
        batch_size: minibatch size ``B`` (capped at ``N``), drawn uniformly with replacement each step
            (an unbiased estimate of the full-data potential at O(B) cost; drawing without replacement
            costs a sort of all N indices per step).
        learning_rate: ``eps * sqrt(N)``.
        momentum_decay: friction ``C`` in ``(0, 1)``.
    """
    import jax
    import jax.numpy as jnp
    from numpyro.infer.initialization import init_to_median
    from numpyro.infer.util import constrain_fn, initialize_model, potential_energy

    from probnn.inference.handlers import ScaleObserved

    if not has_numpyro_model(model):
        raise MethodError(f"{type(model).__name__} has no numpyro_model, which method='sghmc' needs")
    num_samples = check_positive_int(num_samples, "num_samples")
    num_burnin = check_positive_int(num_burnin, "num_burnin", minimum=0)
    thinning = check_positive_int(thinning, "thinning")
    num_chains = check_positive_int(num_chains, "num_chains")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not learning_rate > 0 or not 0 < momentum_decay < 1:
        raise InputError(f"learning_rate must be > 0 and momentum_decay in (0, 1); got {learning_rate}, "
                         f"{momentum_decay}")
    generator = as_generator(generator)
    key = prng_key(generator)
    x_jax, y_jax = to_jax_data(model, x, y)
    num_data = x_jax.shape[0]
    batch = min(batch_size, num_data)
    data_scale = num_data / batch
    step_size = learning_rate / math.sqrt(num_data)

    def scaled_model(inputs: Any, targets: Any, scale: Any) -> None:
        with ScaleObserved(scale=scale):
            model.numpyro_model(inputs, targets)

    inits = []
    for chain in range(num_chains):
        info = initialize_model(jax.random.fold_in(key, 1000 + chain), scaled_model,
                                model_args=(x_jax[:batch], y_jax[:batch], data_scale),
                                init_strategy=init_to_median(num_samples=15))
        inits.append(info.param_info.z)
    theta0 = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *inits)

    # The data are arguments of the compiled functions, not constants baked into them, so that fits
    # on data of the same shapes (e.g. the splits of a benchmark) share one XLA executable (and hit
    # JAX's persistent compilation cache when it is enabled).
    def potential(theta: Any, rng: Any, data: tuple[Any, Any]) -> Any:
        inputs, targets = data
        index = jax.random.randint(rng, (batch,), 0, num_data)  # with replacement: O(B), unbiased
        return potential_energy(scaled_model, (inputs[index], targets[index], data_scale), {}, theta)

    grad_fn = jax.value_and_grad(potential)

    def step(state: tuple, rng: Any, adapt: bool, data: tuple[Any, Any]) -> tuple:
        theta, velocity, tau, mean_grad, mean_square = state
        rng_batch, rng_noise = jax.random.split(rng)
        energy, grad = grad_fn(theta, rng_batch, data)
        if adapt:
            rate = jax.tree_util.tree_map(lambda t: 1.0 / (t + 1.0), tau)
            mean_grad = jax.tree_util.tree_map(lambda m, r, g: (1 - r) * m + r * g, mean_grad, rate, grad)
            mean_square = jax.tree_util.tree_map(lambda s, r, g: (1 - r) * s + r * g**2, mean_square, rate, grad)
            tau = jax.tree_util.tree_map(lambda t, m, s: t * (1 - m**2 / (s + _EPSILON)) + 1, tau, mean_grad,
                                         mean_square)
        leaves, treedef = jax.tree_util.tree_flatten(theta)
        noise_keys = jax.tree_util.tree_unflatten(treedef, list(jax.random.split(rng_noise, len(leaves))))

        def update(v: Any, s: Any, g: Any, k: Any) -> Any:
            m_inv = 1.0 / jnp.sqrt(s + _EPSILON)
            noise_std = jnp.sqrt(2.0 * step_size**2 * momentum_decay * m_inv)
            return (v - step_size**2 * m_inv * g - momentum_decay * v
                    + noise_std * jax.random.normal(k, v.shape, v.dtype))

        velocity = jax.tree_util.tree_map(update, velocity, mean_square, grad, noise_keys)
        theta = jax.tree_util.tree_map(lambda t, v: t + v, theta, velocity)
        return (theta, velocity, tau, mean_grad, mean_square), energy

    def init_state(theta: Any, rng: Any, data: tuple[Any, Any]) -> tuple:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, theta)
        ones = jax.tree_util.tree_map(jnp.ones_like, theta)
        _, grad = grad_fn(theta, rng, data)
        square = jax.tree_util.tree_map(lambda g: g**2 + _EPSILON, grad)
        return (theta, zeros, ones, zeros, square)

    def burn(state: tuple, keys: Any, data: tuple[Any, Any]) -> tuple:
        return jax.lax.scan(lambda s, k: step(s, k, True, data), state, keys)[0]

    def sample(state: tuple, keys: Any, data: tuple[Any, Any]) -> tuple:
        def keep(s: tuple, block: Any) -> tuple:
            s, energies = jax.lax.scan(lambda c, k: step(c, k, False, data), s, block)
            return s, (s[0], energies[-1])
        return jax.lax.scan(keep, state, keys)

    burn_chains = jax.jit(jax.vmap(burn, in_axes=(0, 0, None)))
    sample_chains = jax.jit(jax.vmap(sample, in_axes=(0, 0, None)))
    data = (x_jax, y_jax)
    chain_keys = jax.random.split(jax.random.fold_in(key, 1), num_chains)
    state = jax.jit(jax.vmap(init_state, in_axes=(0, 0, None)))(theta0, chain_keys, data)
    start = time.perf_counter()
    bar = progress_bar(total=num_burnin + num_samples * thinning, desc="sghmc", progress=progress)
    done = 0
    while done < num_burnin:
        size = min(_CHUNK, num_burnin - done)
        keys = jax.vmap(lambda k, d=done, n=size: jax.random.split(jax.random.fold_in(k, 2 + d), n))(chain_keys)
        state = burn_chains(state, keys, data)
        done += size
        bar.update(size)
    kept_theta, kept_energy = [], []
    blocks_per_chunk = max(_CHUNK // thinning, 1)
    kept = 0
    while kept < num_samples:
        count = min(blocks_per_chunk, num_samples - kept)
        keys = jax.vmap(lambda k, d=kept, n=count: jax.random.split(jax.random.fold_in(k, 10**9 + d), n * thinning)
                        .reshape(n, thinning, -1))(chain_keys)
        state, (theta, energy) = sample_chains(state, keys, data)
        kept_theta.append(theta)
        kept_energy.append(energy)
        kept += count
        bar.update(count * thinning)
    bar.close()
    theta = jax.tree_util.tree_map(lambda *parts: jnp.concatenate(parts, 1), *kept_theta)
    energy = jnp.concatenate(kept_energy, 1)

    def constrain(z: Any) -> Any:
        return constrain_fn(scaled_model, (x_jax[:batch], y_jax[:batch], data_scale), {}, z,
                            return_deterministic=True)

    constrained = jax.vmap(jax.vmap(constrain))(theta)
    draws = draws_to_torch(constrained)
    if not all(bool(torch.isfinite(value).all()) for value in draws.values()):
        raise InputError("sghmc diverged (NaN/inf draws); lower learning_rate or raise momentum_decay")
    stats = {"potential_energy": to_torch(energy)}
    info = {"sampling_seconds": time.perf_counter() - start, "num_samples": num_samples, "num_burnin": num_burnin,
            "thinning": thinning, "num_chains": num_chains, "batch_size": batch, "learning_rate": learning_rate,
            "momentum_decay": momentum_decay}
    posterior = SamplePosterior(model, draws, stats, x, y, method="sghmc", fit_info=info)
    diagnostics.warn_if_unconverged(posterior.diagnostics(), method="sghmc", num_chains=num_chains)
    return posterior


__all__ = ["fit_sghmc"]
