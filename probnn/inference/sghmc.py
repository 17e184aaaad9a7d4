"""``method="sghmc"``: minibatch scale-adapted stochastic-gradient HMC (Springenberg et al., 2016).

The sampler Tran et al. (2022) use for functional-prior BNNs. With the minibatch potential

    U_B(theta) = -sum_{i in batch} w_i log p(y_i | x_i, theta) - log p(theta)      (w_i = N / B)

(unconstrained space, Jacobians included) and per-parameter statistics, each step does

    g      <- (1 - r) g + r grad U_B           r = 1 / (tau + 1)        (adaptation steps only)
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

**The official sampler of Tran et al. (2022)** (``optbnn/samplers/adaptive_sghmc.py`` driven by
``optbnn/sgmcmc_bayes_net/bayes_net.py`` in tranbahien/you-need-a-good-prior) differs from the defaults
in the points below; each has a keyword that reproduces it (the defaults keep probnn's behaviour):

* ``step_size_scaling="none"``: the official step is ``eps = lr`` itself (its ``scale_grad = N``
  multiplies the gradient of the per-datum loss, so ``grad U_B`` is the same as here, but ``lr`` is not
  divided by ``sqrt(N)``): the notebook's ``lr = 0.01`` on boston (N = 455) is probnn's
  ``learning_rate = 0.01 * sqrt(455) = 0.21``, not 0.01.
* ``parameter_scale={"w0": 1 / sqrt(fan_in_0), ...}``: the official network samples *raw* weights
  ``W_raw = sqrt(fan_in) W`` (its layers divide by ``sqrt(fan_in)`` in the forward pass). The
  RMS-preconditioned update moves every coordinate by ~``eps`` per step whatever its scale, so the
  coordinates matter: the sampler runs on ``z = theta / parameter_scale`` (per site, in unconstrained
  space), i.e. ``U_z(z) = U(parameter_scale * z)``, ``grad_z = parameter_scale * grad_theta``.
* ``num_adaptation=2000``: the official preconditioner adapts during its first ``num_burn_in_steps``
  steps only and stays fixed for the rest of the run, including the discarded draws (probnn's default
  adapts for the whole ``num_burnin``).
* ``init=`` a callable: the official chains start at the network's own initialisation, raw weights
  ``~ N(0, 1)`` and zero biases, redrawn per chain (probnn: the prior's median, ``init_to_median``).
* ``gradient_clip=100 * N``: the official code clips the global L2 norm of the gradient of its loss
  ``U_B / N`` at 100 (``clip_grad_norm_``) before multiplying by ``N``; here ``grad U_B`` (all sites
  jointly, per chain, in the sampling coordinates) is rescaled to norm at most ``gradient_clip``.
* ``minibatch="epochs"``: the official minibatches come from a shuffled ``DataLoader``: epochs without
  replacement, the last batch of an epoch smaller (see :mod:`probnn.inference.minibatch`).
* ``update_form="tran2022"``: the official statistics start at ``g = v_hat = tau = 1`` (no gradient
  evaluated at the start); ``tau`` is updated from the *previous* ``g, v_hat`` (before them, with
  ``v_hat + 1e-10`` in the ratio); ``m_inv = 1 / (sqrt(v_hat) + 1e-10)``; and the injected noise has
  variance ``max(2 eps^2 C m_inv - eps^4, 1e-16)`` (the ``- eps^4`` term of Springenberg et al.'s
  reference code, which switches the noise off where ``sqrt(v_hat) > 2 C / eps^2``; the floor keeps the
  square root real, as in the official code).

The official code (and so these options) keep the step, friction, batch and likelihood scaling
otherwise the same: its loss ``sum_B nll / B + (-log p(theta)) / N`` times ``N`` is ``U_B`` above.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from probnn.errors import InputError, MethodError
from probnn.inference import diagnostics, minibatch
from probnn.inference.jax_bridge import draws_to_torch, prng_key, to_jax_data, to_torch
from probnn.inference.protocols import has_numpyro_model
from probnn.inference.sample_posterior import SamplePosterior
from probnn.progress import progress_bar
from probnn.random import GeneratorLike, as_generator, derive_seed
from probnn.validation import check_positive_int

#: Added to the squared-gradient average before the square root (avoids dividing by zero).
_EPSILON = 1e-8
#: ``update_form="tran2022"``: the official code's epsilon (``sample_multi_chains(epsilon=1e-10)``), added
#: to ``sqrt(v_hat)`` in the preconditioner and to ``v_hat`` in the ``tau`` update.
_TRAN2022_EPSILON = 1e-10
#: ``update_form="tran2022"``: floor of the noise variance before the square root (the official code's).
_TRAN2022_NOISE_FLOOR = 1e-16
#: Steps per compiled chunk (one progress-bar update each).
_CHUNK = 500
_STEP_SIZE_SCALINGS = ("inverse_sqrt_num_data", "none")
_UPDATE_FORMS = ("default", "tran2022")
_INITS = ("median", "prior")

InitLike = str | Mapping[str, Any] | Callable[[torch.Generator], Mapping[str, Any]]


def fit_sghmc(model: Any, x: torch.Tensor, y: torch.Tensor, *, num_samples: int = 100, num_burnin: int = 10000,
              thinning: int = 100, num_chains: int = 4, batch_size: int = 32, learning_rate: float = 0.25,
              momentum_decay: float = 0.05, num_adaptation: int | None = None, init: InitLike = "median",
              gradient_clip: float | None = None, minibatch_schedule: str = "with_replacement",
              step_size_scaling: str = "inverse_sqrt_num_data", parameter_scale: Mapping[str, float] | None = None,
              update_form: str = "default", generator: GeneratorLike = None,
              progress: bool | None = None) -> SamplePosterior:
    """Adaptive SGHMC; returns draws ``[num_chains, num_samples, ...]``.

    Args:
        model: a parametric model with ``numpyro_model``.
        num_samples: kept draws per chain.
        num_burnin: steps per chain before the first kept draw (discarded).
        thinning: steps between kept draws.
        num_chains: independent chains.
        batch_size: minibatch size ``B`` (capped at ``N``).
        learning_rate: ``eps * sqrt(N)`` (``eps`` itself with ``step_size_scaling="none"``).
        momentum_decay: friction ``C`` in ``(0, 1)``.
        num_adaptation: steps (from the start, ``<= num_burnin``) during which the preconditioner adapts;
            it is constant afterwards. Default ``num_burnin``. Tran et al.'s code: 2000.
        init: where each chain starts: ``"median"`` (the prior's median, default), ``"prior"`` (a draw
            from the prior per chain), a mapping ``{site: constrained value}`` (the same start for every
            chain), or a callable ``init(generator) -> {site: value}``
            called once per chain with its own ``torch.Generator`` (derived from ``generator``). Sites a
            mapping leaves out start uniformly in ``(-2, 2)`` in unconstrained space (numpyro's default).
        gradient_clip: if set, ``grad U_B`` (all sites jointly, per chain, sampling coordinates) is
            rescaled to L2 norm at most ``gradient_clip`` before the update. Tran et al.'s code: ``100 N``.
        minibatch_schedule: ``"with_replacement"`` (default: ``B`` uniform indices per step, O(B)) or
            ``"epochs"`` (shuffled epochs without replacement, as a ``DataLoader``; one sort of ``N``
            keys per step); see :mod:`probnn.inference.minibatch`.
        step_size_scaling: ``"inverse_sqrt_num_data"`` (``eps = learning_rate / sqrt(N)``, default) or
            ``"none"`` (``eps = learning_rate``, as Tran et al.'s code).
        parameter_scale: ``{site: s}``: sample ``z = theta_site / s`` instead of ``theta_site``
            (unconstrained space; unnamed sites keep ``s = 1``). ``s = 1 / sqrt(fan_in)`` for a BNN's
            weight sites gives the raw-weight coordinates of Tran et al.'s code.
        update_form: ``"default"`` or ``"tran2022"`` (the official statistics' start values, update order,
            epsilons and ``- eps^4`` noise term; see the module docstring).
    """
    import jax
    import jax.numpy as jnp
    from numpyro.infer.initialization import init_to_median, init_to_sample, init_to_value
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
    num_adaptation = num_burnin if num_adaptation is None else check_positive_int(
        num_adaptation, "num_adaptation", minimum=0)
    if num_adaptation > num_burnin:
        raise InputError(f"num_adaptation must be <= num_burnin ({num_burnin}); got {num_adaptation}")
    if gradient_clip is not None and not (isinstance(gradient_clip, int | float) and gradient_clip > 0):
        raise InputError(f"gradient_clip must be a positive number or None; got {gradient_clip!r}")
    if minibatch_schedule not in minibatch.SCHEDULES:
        raise InputError(f"minibatch_schedule must be one of {minibatch.SCHEDULES}; got {minibatch_schedule!r}")
    if step_size_scaling not in _STEP_SIZE_SCALINGS:
        raise InputError(f"step_size_scaling must be one of {_STEP_SIZE_SCALINGS}; got {step_size_scaling!r}")
    if update_form not in _UPDATE_FORMS:
        raise InputError(f"update_form must be one of {_UPDATE_FORMS}; got {update_form!r}")
    if isinstance(init, str) and init not in _INITS:
        raise InputError(f"init must be one of {_INITS}, a mapping or a callable; got {init!r}")
    if not isinstance(init, str | Mapping) and not callable(init):
        raise InputError(f"init must be one of {_INITS}, a mapping or a callable; got {type(init).__name__}")
    generator = as_generator(generator)
    key = prng_key(generator)
    x_jax, y_jax = to_jax_data(model, x, y)
    num_data = x_jax.shape[0]
    batch = min(batch_size, num_data)
    data_scale = num_data / batch
    step_size = learning_rate / math.sqrt(num_data) if step_size_scaling == "inverse_sqrt_num_data" else learning_rate
    official = update_form == "tran2022"
    epochs = minibatch_schedule == "epochs"

    def scaled_model(inputs: Any, targets: Any, scale: Any) -> None:
        with ScaleObserved(scale=scale):
            model.numpyro_model(inputs, targets)

    init_args = (x_jax[:batch], y_jax[:batch], data_scale)
    inits = []
    for chain in range(num_chains):
        if isinstance(init, str):
            strategy = init_to_median(num_samples=15) if init == "median" else init_to_sample()
        else:
            values = init(torch.Generator().manual_seed(derive_seed(generator))) if callable(init) else init
            strategy = init_to_value(values=_init_values(values))
        info = initialize_model(jax.random.fold_in(key, 1000 + chain), scaled_model, model_args=init_args,
                                init_strategy=strategy)
        inits.append(info.param_info.z)
    theta0 = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *inits)
    scales = _site_scales(parameter_scale, theta0)

    def to_theta(z: Any) -> Any:  # sampling coordinates -> unconstrained parameters
        return z if scales is None else {site: value * scales.get(site, 1.0) for site, value in z.items()}

    z0 = theta0 if scales is None else {site: value / scales.get(site, 1.0) for site, value in theta0.items()}

    # The data are arguments of the compiled functions, not constants baked into them, so that fits
    # on data of the same shapes (e.g. the splits of a benchmark) share one XLA executable (and hit
    # JAX's persistent compilation cache when it is enabled).
    def potential(z: Any, rng: Any, step: Any, batch_key: Any, data: tuple[Any, Any]) -> Any:
        inputs, targets = data
        if epochs:
            index, scale = minibatch.epochs(step, batch_key, batch, num_data)
        else:
            index, scale = jax.random.randint(rng, (batch,), 0, num_data), data_scale  # with replacement: O(B)
        return potential_energy(scaled_model, (inputs[index], targets[index], scale), {}, to_theta(z))

    grad_fn = jax.value_and_grad(potential)

    def clipped(grad: Any) -> Any:
        if gradient_clip is None:
            return grad
        norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grad)))
        factor = jnp.minimum(1.0, gradient_clip / jnp.maximum(norm, 1e-30))  # 1e-30: no 0/0 at a zero gradient
        return jax.tree_util.tree_map(lambda g: g * factor, grad)

    tau_epsilon = _TRAN2022_EPSILON if official else _EPSILON

    def adapted(tau: Any, mean_grad: Any, mean_square: Any, grad: Any) -> tuple:
        def updated_tau(m: Any, s: Any) -> Any:
            return jax.tree_util.tree_map(lambda t, mm, ss: t * (1 - mm**2 / (ss + tau_epsilon)) + 1, tau, m, s)

        rate = jax.tree_util.tree_map(lambda t: 1.0 / (t + 1.0), tau)
        if official:  # tau from the previous statistics, before they move
            tau_next = updated_tau(mean_grad, mean_square)
        mean_grad = jax.tree_util.tree_map(lambda m, r, g: (1 - r) * m + r * g, mean_grad, rate, grad)
        mean_square = jax.tree_util.tree_map(lambda s, r, g: (1 - r) * s + r * g**2, mean_square, rate, grad)
        if not official:
            tau_next = updated_tau(mean_grad, mean_square)
        return tau_next, mean_grad, mean_square

    def step(state: tuple, rng: Any, adapt: bool, data: tuple[Any, Any]) -> tuple:
        z, velocity, tau, mean_grad, mean_square, count, batch_key = state
        rng_batch, rng_noise = jax.random.split(rng)
        energy, grad = grad_fn(z, rng_batch, count, batch_key, data)
        grad = clipped(grad)
        if adapt:
            tau, mean_grad, mean_square = adapted(tau, mean_grad, mean_square, grad)
        leaves, treedef = jax.tree_util.tree_flatten(z)
        noise_keys = jax.tree_util.tree_unflatten(treedef, list(jax.random.split(rng_noise, len(leaves))))

        def update(v: Any, s: Any, g: Any, k: Any) -> Any:
            if official:
                m_inv = 1.0 / (jnp.sqrt(s) + _TRAN2022_EPSILON)
                noise_std = jnp.sqrt(jnp.maximum(2.0 * step_size**2 * momentum_decay * m_inv - step_size**4,
                                                 _TRAN2022_NOISE_FLOOR))
            else:
                m_inv = 1.0 / jnp.sqrt(s + _EPSILON)
                noise_std = jnp.sqrt(2.0 * step_size**2 * momentum_decay * m_inv)
            return (v - step_size**2 * m_inv * g - momentum_decay * v
                    + noise_std * jax.random.normal(k, v.shape, v.dtype))

        velocity = jax.tree_util.tree_map(update, velocity, mean_square, grad, noise_keys)
        z = jax.tree_util.tree_map(lambda t, v: t + v, z, velocity)
        return (z, velocity, tau, mean_grad, mean_square, count + 1, batch_key), energy

    def init_state(z: Any, rng: Any, data: tuple[Any, Any]) -> tuple:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, z)
        ones = jax.tree_util.tree_map(jnp.ones_like, z)
        batch_key = jax.random.fold_in(rng, 7)  # the chain's epoch-permutation stream
        count = jnp.zeros((), jnp.int32)
        if official:  # the official start values: g = v_hat = tau = 1
            return (z, zeros, ones, ones, ones, count, batch_key)
        _, grad = grad_fn(z, rng, count, batch_key, data)
        square = jax.tree_util.tree_map(lambda g: g**2 + _EPSILON, clipped(grad))
        return (z, zeros, ones, zeros, square, count, batch_key)

    def burn(adapt: bool) -> Callable:
        def run(state: tuple, keys: Any, data: tuple[Any, Any]) -> tuple:
            return jax.lax.scan(lambda s, k: step(s, k, adapt, data), state, keys)[0]
        return run

    def sample(state: tuple, keys: Any, data: tuple[Any, Any]) -> tuple:
        def keep(s: tuple, block: Any) -> tuple:
            s, energies = jax.lax.scan(lambda c, k: step(c, k, False, data), s, block)
            return s, (s[0], energies[-1])
        return jax.lax.scan(keep, state, keys)

    burn_chains = {adapt: jax.jit(jax.vmap(burn(adapt), in_axes=(0, 0, None))) for adapt in (True, False)}
    sample_chains = jax.jit(jax.vmap(sample, in_axes=(0, 0, None)))
    data = (x_jax, y_jax)
    chain_keys = jax.random.split(jax.random.fold_in(key, 1), num_chains)
    state = jax.jit(jax.vmap(init_state, in_axes=(0, 0, None)))(z0, chain_keys, data)
    start = time.perf_counter()
    bar = progress_bar(total=num_burnin + num_samples * thinning, desc="sghmc", progress=progress)
    done = 0
    for adapt, end in ((True, num_adaptation), (False, num_burnin)):
        while done < end:
            size = min(_CHUNK, end - done)
            keys = jax.vmap(lambda k, d=done, n=size: jax.random.split(jax.random.fold_in(k, 2 + d), n))(chain_keys)
            state = burn_chains[adapt](state, keys, data)
            done += size
            bar.update(size)
    preconditioner = state[4]  # v_hat, constant from here on
    kept_theta, kept_energy = [], []
    blocks_per_chunk = max(_CHUNK // thinning, 1)
    kept = 0
    while kept < num_samples:
        count = min(blocks_per_chunk, num_samples - kept)
        keys = jax.vmap(lambda k, d=kept, n=count: jax.random.split(jax.random.fold_in(k, 10**9 + d), n * thinning)
                        .reshape(n, thinning, -1))(chain_keys)
        state, (z, energy) = sample_chains(state, keys, data)
        kept_theta.append(to_theta(z))
        kept_energy.append(energy)
        kept += count
        bar.update(count * thinning)
    bar.close()
    theta = jax.tree_util.tree_map(lambda *parts: jnp.concatenate(parts, 1), *kept_theta)
    energy = jnp.concatenate(kept_energy, 1)

    def constrain(value: Any) -> Any:
        return constrain_fn(scaled_model, init_args, {}, value, return_deterministic=True)

    constrained = jax.vmap(jax.vmap(constrain))(theta)
    draws = draws_to_torch(constrained)
    if not all(bool(torch.isfinite(value).all()) for value in draws.values()):
        raise InputError("sghmc diverged (NaN/inf draws); lower learning_rate or raise momentum_decay")
    stats = {"potential_energy": to_torch(energy)}
    info = {"sampling_seconds": time.perf_counter() - start, "num_samples": num_samples, "num_burnin": num_burnin,
            "thinning": thinning, "num_chains": num_chains, "batch_size": batch, "learning_rate": learning_rate,
            "momentum_decay": momentum_decay, "num_adaptation": num_adaptation, "step_size": step_size,
            "gradient_clip": gradient_clip, "minibatch_schedule": minibatch_schedule,
            "update_form": update_form, "init": init if isinstance(init, str) else "given",
            "parameter_scale": None if scales is None else dict(scales),
            "preconditioner": {site: to_torch(value).tolist() for site, value in preconditioner.items()}
            if _small(preconditioner) else None}
    posterior = SamplePosterior(model, draws, stats, x, y, method="sghmc", fit_info=info)
    diagnostics.warn_if_unconverged(posterior.diagnostics(), method="sghmc", num_chains=num_chains)
    return posterior


def _init_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{site: float32 jax array}`` from an ``init`` mapping of constrained values."""
    import jax.numpy as jnp
    import numpy as np

    if not isinstance(values, Mapping):
        raise InputError(f"init must give a mapping {{site: value}}; got {type(values).__name__}")
    return {site: jnp.asarray(np.asarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value,
                                         dtype=np.float32)) for site, value in values.items()}


def _site_scales(parameter_scale: Mapping[str, float] | None, theta0: Mapping[str, Any]) -> dict[str, float] | None:
    """Validated ``{site: scale}`` (``None`` when no rescaling is asked for)."""
    if parameter_scale is None:
        return None
    if not isinstance(parameter_scale, Mapping):
        raise InputError(f"parameter_scale must be a mapping {{site: positive float}}; got "
                         f"{type(parameter_scale).__name__}")
    unknown = sorted(set(parameter_scale) - set(theta0))
    if unknown:
        raise InputError(f"parameter_scale names sites the model does not have: {unknown}; sites: {sorted(theta0)}")
    scales = {site: float(value) for site, value in parameter_scale.items()}
    if not all(math.isfinite(value) and value > 0 for value in scales.values()):
        raise InputError(f"parameter_scale values must be positive and finite; got {scales}")
    return scales


def _small(tree: Mapping[str, Any]) -> bool:
    """Whether the preconditioner is small enough (<= 10^4 numbers) to keep in ``fit_info``."""
    return sum(int(value.size) for value in tree.values()) <= 10**4


__all__ = ["fit_sghmc"]
