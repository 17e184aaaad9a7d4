"""``method="nuts"`` and ``method="hmc"``: Hamiltonian Monte Carlo for parametric models.

Two engines behind one backend:

* ``engine="numpyro"`` (the default for models with ``numpyro_model``): numpyro's NUTS / HMC,
  compiled by XLA. Warm-up adapts the step size (dual averaging, Hoffman & Gelman 2014) and a
  diagonal (or dense) mass matrix (Stan's windowed scheme). Chains run vectorised (``vmap``) or in
  parallel over host devices (``chain_method="parallel"``, with
  ``XLA_FLAGS=--xla_force_host_platform_device_count=K`` set before JAX is imported).
* ``engine="pyro"``: pyro's NUTS over torch, for any model with ``pyro_model`` (e.g. a user-written
  pyro model wrapped by :class:`probnn.models.PyroModel`). Chains run one after another.

Long numpyro runs can be split into segments (``checkpoint_every`` draws each): after warm-up and
after each segment the sampler state (adapted step size, mass matrix, position, RNG key) and the
draws so far are written atomically to ``checkpoint_path``; ``resume=True`` continues from it.

Every transition records ``diverging``, ``tree_depth`` (``ceil(log2(num_leapfrog_steps + 1))``),
``num_steps``, ``accept_prob``, ``energy``, ``step_size``; ``posterior.summary()`` reports R-hat, bulk /
tail ESS and divergence counts, and a :class:`probnn.inference.diagnostics.ConvergenceWarning` is
emitted if R-hat > 1.01 or any transition diverged.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from probnn import io
from probnn.errors import CheckpointError, InputError, MethodError
from probnn.inference import diagnostics
from probnn.inference.jax_bridge import (
    draws_to_torch,
    prng_key,
    release_compiled_code_if_needed,
    to_jax_data,
    to_torch,
)
from probnn.inference.protocols import has_numpyro_model, has_pyro_model
from probnn.inference.sample_posterior import SamplePosterior
from probnn.progress import progress_bar, progress_enabled
from probnn.random import GeneratorLike, as_generator
from probnn.validation import check_positive_int

CHAIN_METHODS = ("vectorized", "parallel", "sequential")
_EXTRA_FIELDS = ("num_steps", "accept_prob", "energy", "adapt_state.step_size")


def _check_common(num_warmup: int, num_samples: int, num_chains: int, thinning: int, chain_method: str,
                  engine: str, model: Any) -> str:
    check_positive_int(num_warmup, "num_warmup", minimum=0)
    check_positive_int(num_samples, "num_samples")
    check_positive_int(num_chains, "num_chains")
    check_positive_int(thinning, "thinning")
    if chain_method not in CHAIN_METHODS:
        raise InputError(f"chain_method must be one of {CHAIN_METHODS}; got {chain_method!r}")
    if engine == "auto":
        engine = "numpyro" if has_numpyro_model(model) else "pyro"
    if engine not in ("numpyro", "pyro"):
        raise InputError(f"engine must be 'auto', 'numpyro' or 'pyro'; got {engine!r}")
    if engine == "numpyro" and not has_numpyro_model(model):
        raise MethodError(f"{type(model).__name__} has no numpyro_model; use engine='pyro'")
    if engine == "pyro" and not has_pyro_model(model):
        raise MethodError(f"{type(model).__name__} has no pyro_model; use engine='numpyro'")
    return engine


def _stats_to_torch(extra: dict[str, Any], max_tree_depth: int | None) -> dict[str, torch.Tensor]:
    stats: dict[str, torch.Tensor] = {}
    for name, value in extra.items():
        key = "step_size" if name == "adapt_state.step_size" else name
        stats[key] = to_torch(value)
    if "num_steps" in stats:
        stats["tree_depth"] = torch.ceil(torch.log2(stats["num_steps"].double() + 1)).long()
        if max_tree_depth is not None:
            stats["max_tree_depth"] = torch.full_like(stats["tree_depth"], max_tree_depth)
    return stats


def _concat(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.cat([part[key] for part in parts], 1) for key in parts[0]}


def _run_reused(kernel_factory: Any, model: Any, x_jax: Any, y_jax: Any, key: Any, *, num_warmup: int,
                num_samples: int, num_chains: int, thinning: int, progress: bool | None, settings: dict[str, Any],
                max_tree_depth: int | None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """One fit on a cached, already compiled sampler (``reuse_compiled=True``; :mod:`probnn.inference.nuts_reuse`)."""
    import jax

    from probnn.inference import nuts_reuse

    n = int(x_jax.shape[0])
    fingerprint = nuts_reuse.model_fingerprint(model)
    padded = nuts_reuse.padding_is_exact_cached(fingerprint, model, x_jax, y_jax, jax.random.fold_in(key, 2**20))
    args = nuts_reuse.pad(x_jax, y_jax, nuts_reuse.bucket_size(n)) if padded else (x_jax, y_jax)
    settings_key = tuple(sorted((name, value) for name, value in settings.items()
                                if name not in ("num_warmup", "num_chains", "thinning")))
    mcmc = nuts_reuse.reusable_sampler(model, fingerprint, kernel_factory, settings_key, padded,
                                       tuple(tuple(a.shape) for a in args), num_warmup, num_samples, num_chains,
                                       thinning)
    info: dict[str, Any] = {"padded_size": int(args[0].shape[0]) if padded else None}
    start = time.perf_counter()
    with nuts_reuse.quiet_unless(progress_enabled(progress)):
        mcmc.warmup(jax.random.fold_in(key, 0), *args, extra_fields=_EXTRA_FIELDS, collect_warmup=False)
        info["warmup_seconds"] = time.perf_counter() - start
        sample_start = time.perf_counter()
        mcmc.run(jax.random.fold_in(key, 1), *args, extra_fields=("diverging", *_EXTRA_FIELDS))
    draws = draws_to_torch(mcmc.get_samples(group_by_chain=True))
    stats = _stats_to_torch(mcmc.get_extra_fields(group_by_chain=True), max_tree_depth)
    info["sampling_seconds"] = time.perf_counter() - sample_start
    return draws, stats, info


def _run_numpyro(kernel: Any, model: Any, x: torch.Tensor, y: torch.Tensor, *, num_warmup: int,
                 num_samples: int, num_chains: int, chain_method: str, thinning: int, generator: torch.Generator,
                 progress: bool | None, checkpoint_path: str | Path | None, checkpoint_every: int | None,
                 resume: bool, settings: dict[str, Any], max_tree_depth: int | None,
                 kernel_factory: Any = None, reuse_compiled: bool = False,
                 ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    import jax
    from numpyro.infer import MCMC

    # many fits in one process: bound the memory maps held by compiled executables (see the helper)
    release_compiled_code_if_needed()
    x_jax, y_jax = to_jax_data(model, x, y)
    key = prng_key(generator)
    if reuse_compiled:
        if checkpoint_path is not None or resume or (chain_method != "vectorized" and num_chains > 1):
            raise InputError("reuse_compiled=True needs chain_method='vectorized' (or one chain) and no "
                             "checkpoint_path / resume")
        return _run_reused(kernel_factory, model, x_jax, y_jax, key, num_warmup=num_warmup, num_samples=num_samples,
                           num_chains=num_chains, thinning=thinning, progress=progress, settings=settings,
                           max_tree_depth=max_tree_depth)
    segment = num_samples if checkpoint_every is None else check_positive_int(checkpoint_every, "checkpoint_every")
    # Counted in transitions from here on: num_samples and checkpoint_every are kept draws, and numpyro
    # keeps one transition in ``thinning``.
    segment = min(segment, num_samples) * thinning
    total = num_samples * thinning
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=segment, num_chains=num_chains,
                chain_method=chain_method, thinning=thinning, progress_bar=False)
    info: dict[str, Any] = {}
    draws_parts: list[dict[str, torch.Tensor]] = []
    stats_parts: list[dict[str, torch.Tensor]] = []
    done = 0
    start = time.perf_counter()
    if resume:
        if checkpoint_path is None:
            raise InputError("resume=True needs checkpoint_path")
        state, done, draws_parts, stats_parts = _load_checkpoint(kernel, checkpoint_path, x_jax, y_jax, key,
                                                                 num_chains, settings)
        mcmc.post_warmup_state = state
    else:
        mcmc.warmup(jax.random.fold_in(key, 0), x_jax, y_jax, extra_fields=_EXTRA_FIELDS,
                    collect_warmup=False)
        info["warmup_seconds"] = time.perf_counter() - start
        if checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, mcmc.post_warmup_state, 0, [], [], settings)
    bar = progress_bar(total=num_samples, desc=f"{settings['method']} draws", progress=progress)
    bar.update(done // thinning)
    sample_start = time.perf_counter()
    while done < total:
        size = min(segment, total - done)
        if size != mcmc.num_samples:
            mcmc.num_samples = size
        mcmc.run(jax.random.fold_in(key, 1 + done), x_jax, y_jax, extra_fields=("diverging", *_EXTRA_FIELDS))
        draws_parts.append(draws_to_torch(mcmc.get_samples(group_by_chain=True)))
        stats_parts.append(_stats_to_torch(mcmc.get_extra_fields(group_by_chain=True), max_tree_depth))
        mcmc.post_warmup_state = mcmc.last_state
        done += size
        bar.update(size // thinning)
        if checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, mcmc.last_state, done, draws_parts, stats_parts, settings)
    bar.close()
    info["sampling_seconds"] = time.perf_counter() - sample_start
    return _concat(draws_parts), _concat(stats_parts), info


# ---------------------------------------------------------------------- checkpoints
def _save_checkpoint(path: str | Path, state: Any, done: int, draws_parts: list[dict[str, torch.Tensor]],
                     stats_parts: list[dict[str, torch.Tensor]], settings: dict[str, Any]) -> None:
    import jax

    leaves = jax.tree_util.tree_leaves(state)
    tensors = {f"state.{index}": torch.from_numpy(np.array(leaf)) for index, leaf in enumerate(leaves)}
    if draws_parts:
        for name, value in _concat(draws_parts).items():
            tensors[f"draws.{name}"] = value
        for name, value in _concat(stats_parts).items():
            tensors[f"stats.{name}"] = value
    config = {"settings": settings, "done": done, "num_leaves": len(leaves),
              "sites": list(draws_parts[0]) if draws_parts else [],
              "stats": list(stats_parts[0]) if stats_parts else []}
    io.save_state(config, tensors, "probnn.inference.nuts:Checkpoint", path)


def _load_checkpoint(kernel: Any, path: str | Path, x_jax: Any, y_jax: Any, key: Any, num_chains: int,
                     settings: dict[str, Any]) -> tuple[Any, int, list, list]:
    import jax
    import jax.numpy as jnp

    type_, config, tensors = io.read_state(path)
    if type_ != "probnn.inference.nuts:Checkpoint":
        raise CheckpointError(f"{path} is not a NUTS/HMC checkpoint (it holds {type_})")
    if config["settings"] != settings:
        changed = sorted(k for k in settings if config["settings"].get(k) != settings[k])
        raise CheckpointError(f"the checkpoint at {path} was written with different settings: {changed}")
    keys = jax.random.split(key, num_chains) if num_chains > 1 else key
    template = kernel.init(keys, 0, None, model_args=(x_jax, y_jax), model_kwargs={})
    treedef = jax.tree_util.tree_structure(template)
    leaves = [jnp.asarray(tensors[f"state.{index}"].numpy()) for index in range(config["num_leaves"])]
    state = jax.tree_util.tree_unflatten(treedef, leaves)
    draws_parts, stats_parts = [], []
    if config["sites"]:
        draws_parts = [{name: tensors[f"draws.{name}"] for name in config["sites"]}]
        stats_parts = [{name: tensors[f"stats.{name}"] for name in config["stats"]}]
    return state, int(config["done"]), draws_parts, stats_parts


# ---------------------------------------------------------------------- pyro engine
def _run_pyro(model: Any, x: torch.Tensor, y: torch.Tensor, *, kernel_options: dict[str, Any], use_nuts: bool,
              num_warmup: int, num_samples: int, num_chains: int, thinning: int, generator: torch.Generator,
              progress: bool | None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    import pyro
    from pyro.infer import HMC, MCMC, NUTS

    target = y.long() if getattr(model, "target_kind", "real") == "categorical" else y.float()
    chains_draws, chains_stats = [], []
    start = time.perf_counter()
    for _ in range(num_chains):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pyro.clear_param_store()
            kernel = (NUTS if use_nuts else HMC)(model.pyro_model, **kernel_options)
            mcmc = MCMC(kernel, num_samples=num_samples * thinning, warmup_steps=num_warmup, num_chains=1,
                        disable_progbar=not progress_enabled(progress))
            mcmc.run(x.float(), target)
        samples = {name: value[0, ::thinning].detach().float()
                   for name, value in mcmc.get_samples(group_by_chain=True).items()}
        diverging = torch.zeros(num_samples * thinning, dtype=torch.bool)
        for index in mcmc.diagnostics()["divergences"].get("chain 0", []):
            diverging[int(index)] = True
        chains_draws.append(samples)
        chains_stats.append({"diverging": diverging[::thinning]})
    draws = {name: torch.stack([chain[name] for chain in chains_draws]) for name in chains_draws[0]}
    stats = {name: torch.stack([chain[name] for chain in chains_stats]) for name in chains_stats[0]}
    return draws, stats, {"sampling_seconds": time.perf_counter() - start}


def _finish(model: Any, x: torch.Tensor, y: torch.Tensor, draws: dict[str, torch.Tensor],
            stats: dict[str, torch.Tensor], info: dict[str, Any], method: str, num_chains: int) -> SamplePosterior:
    posterior = SamplePosterior(model, draws, stats, x, y, method=method, fit_info=info)
    summary = posterior.diagnostics()
    diagnostics.warn_if_unconverged(summary, method=method, num_chains=num_chains)
    return posterior


def fit_nuts(model: Any, x: torch.Tensor, y: torch.Tensor, *, num_warmup: int = 500, num_samples: int = 500,
             num_chains: int = 4, chain_method: str = "vectorized", target_accept_prob: float = 0.8,
             max_tree_depth: int = 10, dense_mass: bool = False, thinning: int = 1, engine: str = "auto",
             checkpoint_path: str | Path | None = None, checkpoint_every: int | None = None, resume: bool = False,
             reuse_compiled: bool = False, generator: GeneratorLike = None,
             progress: bool | None = None) -> SamplePosterior:
    """No-U-Turn sampler (Hoffman & Gelman, 2014) with warm-up adaptation and several chains.

    Args:
        model: a parametric model (:class:`probnn.inference.protocols.ParametricModel`).
        x, y: training data ``[n, d]``, ``[n]``.
        num_warmup: adaptation transitions per chain (discarded).
        num_samples: kept draws per chain (after thinning).
        num_chains: independent chains (R-hat needs at least 2).
        chain_method: ``vectorized`` (vmap on one device), ``parallel`` (pmap over host devices), or
            ``sequential``.
        target_accept_prob: dual-averaging target (raise towards 0.95 to remove divergences).
        max_tree_depth: cap on the trajectory doubling (at most ``2^depth - 1`` leapfrog steps).
        dense_mass: adapt a dense mass matrix instead of a diagonal one.
        thinning: keep every ``thinning``-th draw.
        engine: ``auto`` (numpyro when the model has ``numpyro_model``), ``numpyro`` or ``pyro``.
        checkpoint_path: file for segment checkpoints (numpyro engine).
        checkpoint_every: draws per segment between checkpoints.
        resume: continue from ``checkpoint_path`` instead of starting anew.
        reuse_compiled: for many fits in one process (a Bayesian-optimisation loop refitting after every
            evaluation): keep the compiled sampler of this model (keyed by a hash of its
            ``get_state()``) and settings and reuse it, with the data padded to the next power of two
            and the padded rows masked out of the likelihood when that is exact
            (:mod:`probnn.inference.nuts_reuse`). A fit then costs its transitions instead of a
            compilation (~3 s for a small BNN). numpyro engine, ``chain_method="vectorized"``, no
            checkpoints.
        generator: seed / ``torch.Generator``; the JAX key is derived from it.
        progress: show a progress bar (``None``: global setting).

    Returns:
        A :class:`SamplePosterior` with draws ``[num_chains, num_samples, ...]``.
    """
    engine = _check_common(num_warmup, num_samples, num_chains, thinning, chain_method, engine, model)
    if reuse_compiled and engine != "numpyro":
        raise InputError("reuse_compiled=True needs the numpyro engine")
    if not 0 < target_accept_prob < 1:
        raise InputError(f"target_accept_prob must be in (0, 1); got {target_accept_prob}")
    check_positive_int(max_tree_depth, "max_tree_depth")
    generator = as_generator(generator)
    if engine == "pyro":
        draws, stats, info = _run_pyro(model, x, y, kernel_options={
            "target_accept_prob": target_accept_prob, "max_tree_depth": max_tree_depth,
            "full_mass": dense_mass, "jit_compile": False}, use_nuts=True, num_warmup=num_warmup,
            num_samples=num_samples, num_chains=num_chains, thinning=thinning, generator=generator,
            progress=progress)
    else:
        from numpyro.infer import NUTS

        def kernel_factory(model_function: Any) -> Any:
            return NUTS(model_function, target_accept_prob=target_accept_prob, max_tree_depth=max_tree_depth,
                        dense_mass=dense_mass)

        kernel = kernel_factory(model.numpyro_model)
        settings = {"method": "nuts", "num_warmup": num_warmup,
                    "num_chains": num_chains, "target_accept_prob": target_accept_prob,
                    "max_tree_depth": max_tree_depth, "dense_mass": dense_mass, "thinning": thinning}
        draws, stats, info = _run_numpyro(
            kernel, model, x, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
            chain_method=chain_method, thinning=thinning, generator=generator, progress=progress,
            checkpoint_path=checkpoint_path, checkpoint_every=checkpoint_every, resume=resume, settings=settings,
            max_tree_depth=max_tree_depth, kernel_factory=kernel_factory, reuse_compiled=reuse_compiled)
    info.update(engine=engine, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains)
    return _finish(model, x, y, draws, stats, info, "nuts", num_chains)


def fit_hmc(model: Any, x: torch.Tensor, y: torch.Tensor, *, num_warmup: int = 500, num_samples: int = 500,
            num_chains: int = 4, chain_method: str = "vectorized", trajectory_length: float = 2 * math.pi,
            step_size: float = 0.1, adapt_step_size: bool = True, target_accept_prob: float = 0.8,
            dense_mass: bool = False, thinning: int = 1, engine: str = "auto",
            checkpoint_path: str | Path | None = None, checkpoint_every: int | None = None, resume: bool = False,
            generator: GeneratorLike = None, progress: bool | None = None) -> SamplePosterior:
    """Hamiltonian Monte Carlo with a fixed trajectory length (Neal, 2011).

    Each transition integrates ``ceil(trajectory_length / step_size)`` leapfrog steps; warm-up adapts
    the step size (dual averaging towards ``target_accept_prob``) and the mass matrix. The default
    trajectory length ``2 pi`` is one full period of a unit-variance Gaussian coordinate under the
    adapted (whitening) mass matrix, numpyro's default. Other arguments as :func:`fit_nuts`.
    """
    engine = _check_common(num_warmup, num_samples, num_chains, thinning, chain_method, engine, model)
    if not trajectory_length > 0 or not step_size > 0:
        raise InputError(f"trajectory_length and step_size must be positive; got {trajectory_length}, {step_size}")
    generator = as_generator(generator)
    if engine == "pyro":
        draws, stats, info = _run_pyro(model, x, y, kernel_options={
            "trajectory_length": trajectory_length, "step_size": step_size, "adapt_step_size": adapt_step_size,
            "target_accept_prob": target_accept_prob, "full_mass": dense_mass}, use_nuts=False,
            num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains, thinning=thinning,
            generator=generator, progress=progress)
    else:
        from numpyro.infer import HMC

        kernel = HMC(model.numpyro_model, trajectory_length=trajectory_length, step_size=step_size,
                     adapt_step_size=adapt_step_size, target_accept_prob=target_accept_prob, dense_mass=dense_mass)
        settings = {"method": "hmc", "num_warmup": num_warmup,
                    "num_chains": num_chains, "trajectory_length": trajectory_length, "step_size": step_size,
                    "target_accept_prob": target_accept_prob, "dense_mass": dense_mass, "thinning": thinning}
        draws, stats, info = _run_numpyro(
            kernel, model, x, y, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
            chain_method=chain_method, thinning=thinning, generator=generator, progress=progress,
            checkpoint_path=checkpoint_path, checkpoint_every=checkpoint_every, resume=resume, settings=settings,
            max_tree_depth=None)
        stats.pop("tree_depth", None)
    info.update(engine=engine, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                trajectory_length=trajectory_length)
    return _finish(model, x, y, draws, stats, info, "hmc", num_chains)
