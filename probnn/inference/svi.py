"""``method="svi"``: stochastic variational inference with Gaussian families.

Maximises the (annealed) evidence lower bound

    ELBO_beta(phi) = E_{q_phi(theta)}[log p(y | x, theta)] - beta_t KL(q_phi(theta) || p(theta))

with reparameterised Monte Carlo gradients (``num_particles`` draws per step), compiled by JAX
over the model's ``numpyro_model``. ``beta_t`` rises linearly from ``kl_annealing_start`` to 1 over
the first ``kl_annealing_steps`` steps (KL annealing / "warm-up", Bowman et al., 2016; Sønderby
et al., 2016), then stays 1 so the final objective is the true ELBO.

Families (``family=``), all over the unconstrained latent space:

* ``mean_field``: ``q = prod_i N(mu_i, sigma_i^2)`` (numpyro ``AutoNormal``);
* ``low_rank``: ``N(mu, W W^T + diag(d))`` with ``W`` of ``rank`` columns
  (``AutoLowRankMultivariateNormal``; default rank ``ceil(sqrt(dim))``);
* ``full_rank``: ``N(mu, L L^T)`` (``AutoMultivariateNormal``; only for small models: ``O(dim^2)``).

Gradient estimator: with ``mean_field`` on a model whose layers support it (a BNN with a Gaussian
weight prior), the expected log likelihood is estimated with the *local reparameterisation trick*
(Kingma, Salimans & Welling, 2015; :mod:`probnn.inference.local_reparameterization`): pre-activations
are drawn per data point from their Gaussian marginals, and the KL of the weight sites is in closed
form. Same ELBO in expectation, much lower gradient variance (its noise is independent across data
points). ``local_reparameterization=False`` switches to the plain weight-sampling estimator
(numpyro ``Trace_ELBO``), which every other family/model uses.

Optimiser: Adam, the step size decaying exponentially from ``learning_rate`` to
``learning_rate * learning_rate_decay`` over the run (a decaying step size makes the final iterate
settle instead of jittering at the scale of the gradient noise). Convergence is reported from the
ELBO history: the relative change between the means of the last two windows of 10% of the steps.

The posterior holds ``num_predictive_draws`` draws from the fitted guide (``[1, draws, ...]``),
predicts the model's mixture over them, exports to ArviZ, and keeps the guide's parameters.
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
from probnn.inference.jax_bridge import draws_to_torch, prng_key, to_jax_data
from probnn.inference.protocols import has_numpyro_model
from probnn.inference.sample_posterior import SamplePosterior
from probnn.progress import progress_bar
from probnn.random import GeneratorLike, as_generator
from probnn.validation import check_positive_int

FAMILIES = ("mean_field", "low_rank", "full_rank")
#: Steps per compiled ``lax.scan`` chunk (one progress-bar update and checkpoint opportunity each).
_CHUNK = 250
#: Initial std of the guide (numpyro's ``init_scale``): small, so early steps start near the init point.
_INIT_SCALE = 0.1


def make_guide(family: str, model_fn: Any, rank: int | None = None) -> Any:
    """The numpyro autoguide of ``family`` over ``model_fn`` (initialised at the prior median, or at a
    prior's own start hint for improper sites: :func:`~probnn.inference.handlers.init_to_median_or_hint`)."""
    from numpyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoMultivariateNormal, AutoNormal

    from probnn.inference.handlers import init_to_median_or_hint

    init = init_to_median_or_hint(num_samples=15)
    if family == "mean_field":
        return AutoNormal(model_fn, init_loc_fn=init, init_scale=_INIT_SCALE)
    if family == "low_rank":
        return AutoLowRankMultivariateNormal(model_fn, init_loc_fn=init, init_scale=_INIT_SCALE, rank=rank)
    return AutoMultivariateNormal(model_fn, init_loc_fn=init, init_scale=_INIT_SCALE)


def make_objective(model: Any, family: str, *, local_reparameterization: bool | None = None,
                   num_particles: int = 1) -> tuple[Any, bool]:
    """The ELBO estimator for ``family`` on ``model``; returns ``(numpyro ELBO object, uses the trick)``.

    ``local_reparameterization=None`` uses the local reparameterisation trick whenever it applies
    (``mean_field`` and a model declaring its layers); ``True`` demands it (``InputError`` otherwise);
    ``False`` samples weights (``Trace_ELBO``).
    """
    from numpyro.infer import Trace_ELBO

    from probnn.inference import local_reparameterization as trick

    applicable = family == "mean_field" and trick.supports_local_reparameterization(model)
    if local_reparameterization and not applicable:
        raise InputError("local_reparameterization=True needs family='mean_field' and a model that declares its "
                         f"layers (a BNN with a GaussianWeightPrior); got family={family!r} and "
                         f"{type(model).__name__} with {type(getattr(model, 'prior', None)).__name__}")
    use = applicable if local_reparameterization is None else bool(local_reparameterization)
    if use:
        return trick.LocalReparameterizationELBO(model, num_particles=num_particles), True
    return Trace_ELBO(num_particles=num_particles), False


def convergence_report(elbo: np.ndarray, tolerance: float) -> dict[str, Any]:
    """Relative change of the mean ELBO between the last two windows of 10% of the steps."""
    window = max(len(elbo) // 10, 1)
    if len(elbo) < 2 * window:
        return {"relative_change": float("nan"), "converged": False}
    last = float(np.mean(elbo[-window:]))
    previous = float(np.mean(elbo[-2 * window:-window]))
    change = abs(last - previous) / max(abs(previous), 1.0)
    return {"relative_change": change, "converged": bool(change < tolerance), "final_elbo": last}


@io.register
class SVIPosterior(SamplePosterior):
    """Posterior of ``method="svi"``: guide draws ``[1, num_draws, ...]`` plus the fitted guide parameters."""

    def __init__(self, model: Any, draws: dict[str, torch.Tensor], sample_stats: dict[str, torch.Tensor],
                 x_train: torch.Tensor, y_train: torch.Tensor, *, guide_params: dict[str, torch.Tensor],
                 elbo_history: torch.Tensor, method: str = "svi", fit_info: dict[str, Any] | None = None) -> None:
        super().__init__(model, draws, sample_stats, x_train, y_train, method=method, fit_info=fit_info)
        self.guide_params = dict(guide_params)
        self.elbo_history = elbo_history

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        config, tensors = super().get_state()
        tensors["elbo_history"] = self.elbo_history
        for name, value in self.guide_params.items():
            tensors[f"guide.{name}"] = value
        config["guide_params"] = list(self.guide_params)
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> SVIPosterior:
        model = io.decode_child(config["model"], "model", tensors)
        draws = {name: tensors[f"draws.{name}"] for name in config["sites"]}
        stats = {name: tensors[f"stats.{name}"] for name in config["stats"]}
        params = {name: tensors[f"guide.{name}"] for name in config["guide_params"]}
        return cls(model, draws, stats, tensors["x_train"], tensors["y_train"], guide_params=params,
                   elbo_history=tensors["elbo_history"], method=config["method"], fit_info=config["fit_info"])


def fit_svi(model: Any, x: torch.Tensor, y: torch.Tensor, *, family: str = "mean_field", rank: int | None = None,
            num_steps: int = 5000, learning_rate: float = 1e-2, learning_rate_decay: float = 0.1,
            num_particles: int = 1, local_reparameterization: bool | None = None,
            kl_annealing_steps: int = 0, kl_annealing_start: float = 0.0,
            num_predictive_draws: int = 1000, convergence_tolerance: float = 1e-3,
            checkpoint_path: str | Path | None = None, resume: bool = False,
            generator: GeneratorLike = None, progress: bool | None = None) -> SVIPosterior:
    """Fit a Gaussian variational posterior (see the module docstring for the maths).

    Args:
        model: a parametric model with ``numpyro_model``.
        family: ``mean_field``, ``low_rank`` or ``full_rank``.
        rank: columns of the low-rank factor (``low_rank`` only).
        num_steps: optimisation steps.
        learning_rate: initial Adam step size; ``learning_rate_decay`` is the factor reached at the end.
        num_particles: Monte Carlo draws per ELBO gradient.
        local_reparameterization: ``None`` (default) uses the local reparameterisation trick for
            ``mean_field`` on a model that supports it (a BNN with a Gaussian prior); ``False`` samples
            weights; ``True`` requires the trick.
        kl_annealing_steps: steps over which ``beta`` rises linearly from ``kl_annealing_start`` to 1.
        num_predictive_draws: guide draws kept for prediction / ArviZ.
        convergence_tolerance: relative ELBO change below which the run is reported converged.
        checkpoint_path: after every chunk of 250 steps, the optimiser state and ELBO history are saved
            there atomically; ``resume=True`` continues from it.
        generator: seed or ``torch.Generator`` (the JAX key is derived from it).
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    from numpyro.infer import SVI, Predictive

    from probnn.inference.handlers import ScaleLatent

    if not has_numpyro_model(model):
        raise MethodError(f"{type(model).__name__} has no numpyro_model, which method='svi' needs")
    if family not in FAMILIES:
        raise InputError(f"family must be one of {FAMILIES}; got {family!r}")
    num_steps = check_positive_int(num_steps, "num_steps")
    num_particles = check_positive_int(num_particles, "num_particles")
    num_predictive_draws = check_positive_int(num_predictive_draws, "num_predictive_draws", minimum=4)
    kl_annealing_steps = check_positive_int(kl_annealing_steps, "kl_annealing_steps", minimum=0)
    if not learning_rate > 0 or not 0 < learning_rate_decay <= 1:
        raise InputError(f"learning_rate must be > 0 and learning_rate_decay in (0, 1]; got "
                         f"{learning_rate}, {learning_rate_decay}")
    if not 0 <= kl_annealing_start <= 1:
        raise InputError(f"kl_annealing_start must be in [0, 1]; got {kl_annealing_start}")
    if rank is not None and family != "low_rank":
        raise InputError("rank is only used with family='low_rank'")
    generator = as_generator(generator)
    key = prng_key(generator)
    x_jax, y_jax = to_jax_data(model, x, y)

    def annealed_model(inputs: Any, targets: Any, beta: Any) -> None:
        with ScaleLatent(scale=beta):
            model.numpyro_model(inputs, targets)

    guide_core = make_guide(family, annealed_model, rank)

    def guide(inputs: Any, targets: Any, beta: Any) -> Any:
        with numpyro.handlers.scale(scale=beta):
            return guide_core(inputs, targets, beta)

    decay_rate = math.log(learning_rate_decay) / num_steps
    optimizer = numpyro.optim.Adam(lambda step: learning_rate * jnp.exp(decay_rate * step))
    objective, uses_trick = make_objective(model, family, local_reparameterization=local_reparameterization,
                                           num_particles=num_particles)
    svi = SVI(annealed_model, guide, optimizer, objective)

    def beta_at(step: Any) -> Any:
        if kl_annealing_steps == 0:
            return jnp.ones_like(step, dtype=jnp.float32)
        fraction = jnp.clip(step / kl_annealing_steps, 0.0, 1.0)
        return kl_annealing_start + (1.0 - kl_annealing_start) * fraction

    state = svi.init(jax.random.fold_in(key, 0), x_jax, y_jax, jnp.float32(1.0))
    settings = {"family": family, "rank": rank, "num_steps": num_steps, "learning_rate": learning_rate,
                "learning_rate_decay": learning_rate_decay, "num_particles": num_particles,
                "kl_annealing_steps": kl_annealing_steps, "kl_annealing_start": kl_annealing_start,
                "local_reparameterization": uses_trick}
    done, history = 0, []
    if resume:
        if checkpoint_path is None:
            raise InputError("resume=True needs checkpoint_path")
        state, done, history = _load_checkpoint(checkpoint_path, state, settings)

    # The data are arguments, not constants of the compiled chunk, so fits on data of the same shapes
    # share one XLA executable (and JAX's persistent compilation cache when it is enabled).
    @jax.jit
    def run_chunk(state: Any, steps: Any, inputs: Any, targets: Any) -> tuple[Any, Any]:
        def body(carry: Any, step: Any) -> tuple[Any, Any]:
            new_state, loss = svi.update(carry, inputs, targets, beta_at(step))
            return new_state, loss
        return jax.lax.scan(body, state, steps)

    start = time.perf_counter()
    bar = progress_bar(total=num_steps, desc="svi", progress=progress)
    bar.update(done)
    while done < num_steps:
        size = min(_CHUNK, num_steps - done)
        state, losses = run_chunk(state, jnp.arange(done, done + size, dtype=jnp.float32), x_jax, y_jax)
        history.append(-np.asarray(losses, dtype=np.float64))
        done += size
        bar.update(size)
        if checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, state, done, np.concatenate(history), settings)
    bar.close()
    elbo = np.concatenate(history) if history else np.zeros(0)
    if not np.all(np.isfinite(elbo[-max(len(elbo) // 10, 1):])):
        raise InputError("the ELBO became NaN/inf; lower learning_rate or check the model's priors")
    params = svi.get_params(state)
    draw_key = jax.random.fold_in(key, 1)
    latent = guide_core.sample_posterior(draw_key, params, sample_shape=(num_predictive_draws,))
    replay = Predictive(annealed_model, posterior_samples=latent, batch_ndims=1)(
        jax.random.fold_in(key, 2), x_jax, None, jnp.float32(1.0))
    # numpyro.factor sites (e.g. a flow prior's log density) replay as empty Unit values: not draws.
    samples = {**{k: v for k, v in replay.items() if v.size}, **latent}
    draws = {name: value.unsqueeze(0) for name, value in draws_to_torch(samples).items()}
    info = {"family": family, "num_steps": num_steps, "local_reparameterization": uses_trick,
            "optimisation_seconds": time.perf_counter() - start,
            "num_predictive_draws": num_predictive_draws, **convergence_report(elbo, convergence_tolerance)}
    if not info["converged"]:
        import warnings

        warnings.warn(f"svi: the ELBO still changes by {info['relative_change']:.2e} (relative) over the last "
                      f"10% of steps (tolerance {convergence_tolerance}); consider more num_steps",
                      diagnostics.ConvergenceWarning, stacklevel=2)
    guide_params = {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in params.items()}
    return SVIPosterior(model, draws, {}, x, y, guide_params=guide_params,
                        elbo_history=torch.from_numpy(elbo.astype(np.float32)), method="svi", fit_info=info)


def _save_checkpoint(path: str | Path, state: Any, done: int, elbo: np.ndarray, settings: dict[str, Any]) -> None:
    import jax

    leaves = jax.tree_util.tree_leaves(state)
    tensors = {f"state.{index}": torch.from_numpy(np.array(leaf)) for index, leaf in enumerate(leaves)}
    tensors["elbo"] = torch.from_numpy(elbo)
    io.save_state({"settings": settings, "done": done, "num_leaves": len(leaves)}, tensors,
                  "probnn.inference.svi:Checkpoint", path)


def _load_checkpoint(path: str | Path, template: Any, settings: dict[str, Any]) -> tuple[Any, int, list]:
    import jax
    import jax.numpy as jnp

    type_, config, tensors = io.read_state(path)
    if type_ != "probnn.inference.svi:Checkpoint":
        raise CheckpointError(f"{path} is not an SVI checkpoint (it holds {type_})")
    if config["settings"] != settings:
        changed = sorted(k for k in settings if config["settings"].get(k) != settings[k])
        raise CheckpointError(f"the checkpoint at {path} was written with different settings: {changed}")
    treedef = jax.tree_util.tree_structure(template)
    leaves = [jnp.asarray(tensors[f"state.{index}"].numpy()) for index in range(config["num_leaves"])]
    return jax.tree_util.tree_unflatten(treedef, leaves), int(config["done"]), [tensors["elbo"].numpy()]
