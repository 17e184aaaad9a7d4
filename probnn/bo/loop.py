"""``probnn.bo.minimize``: Bayesian optimisation with any probnn model and backend as the surrogate.

Each iteration (after a uniform random initial design):

1. inputs are mapped to the unit cube of ``bounds`` and targets standardised,
   ``y' = (y - mean(y)) / std(y)``, so surrogate priors and PFNs see the scale they expect (a backend
   with a ``rescale_inputs`` option, the PFN's, gets ``rescale_inputs=False``: the cube already is its
   training domain). Surrogates whose prior is not translation-invariant (dot-product kernels such as
   the NNGP, BNN weight priors) are fitted on ``[-1, 1]^d`` = ``2 u - 1`` instead
   (``input_scaling="auto"``, :func:`probnn.bo.surrogate.input_scaling_for`): on the positive unit
   cube all inputs point in similar directions and such priors correlate every pair of points;
2. the surrogate is fitted: ``probnn.fit(surrogate, x', y', method=..., **fit_options)``;
3. the acquisition (``"ei"``, ``"pi"``, ``"ucb"``, see :mod:`probnn.bo.acquisition`: closed forms for
   Gaussian, Student-t, their mixtures and the PFN's bar distribution, Monte Carlo otherwise) is
   maximised over the cube: :data:`NUM_CANDIDATES` random points plus Gaussian perturbations of the
   best observed points (scale :data:`LOCAL_SCALE` of the cube), then the best
   :data:`NUM_REFINE` candidates are polished by L-BFGS-B with exact autograd gradients (finite
   differences when the acquisition is not differentiable, e.g. the Student-t EI), or, for amortised
   surrogates (PFN: one forward pass scores thousands of candidates as fast as one), by
   :data:`SCREEN_ROUNDS` more batched screens of shrinking local perturbations;
   ``acquisition_optimizer="botorch"`` instead wraps the posterior with
   :class:`probnn.bo.botorch_adapter.ProbnnModel` and uses BoTorch's ``LogExpectedImprovement`` /
   ``ProbabilityOfImprovement`` / ``UpperConfidenceBound`` with ``optimize_acqf``;
4. the objective is evaluated and the history extended.

Reproducibility and resuming: iteration ``t`` draws everything from its own seed
``SeedSequence([seed, t])``, so ``minimize(..., history=previous_result)`` continues exactly as an
uninterrupted run with the same seed would (given a deterministic objective and surrogate fit).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from probnn.api import fit
from probnn.bo.acquisition import ACQUISITIONS, acquisition_scores
from probnn.bo.surrogate import INPUT_SCALINGS, from_model_inputs, input_scaling_for, to_model_inputs
from probnn.errors import InputError
from probnn.models.base import Model
from probnn.progress import progress_bar
from probnn.random import GeneratorLike

#: Random candidates per acquisition optimisation (per input dimension: 256 * d, at least 1024).
NUM_CANDIDATES = 1024
#: Standard deviation (fraction of the cube) of the local perturbations around the best points.
LOCAL_SCALE = 0.05
#: Candidates polished by L-BFGS-B.
NUM_REFINE = 4
#: L-BFGS-B iterations per polished candidate.
POLISH_ITERATIONS = 30
#: ``acquisition_polish="screen"``: the first screen scores ``max(SCREEN_CANDIDATES, 64 d)`` uniform
#: points (as BoTorch's ``raw_samples=256``) plus the local perturbations; a PFN's forward pass costs
#: ~0.1 ms per candidate on one CPU core, so the 1024+ candidates of the L-BFGS-B path alone cost more
#: than an exact GP's whole iteration.
SCREEN_CANDIDATES = 256
#: Batched refinement rounds after the first screen. Round ``r = 1..10`` scores half as many Gaussian
#: perturbations, split over the :data:`NUM_REFINE` starts (each keeps its own best), with standard
#: deviation ``LOCAL_SCALE * SCREEN_SHRINK**r`` of the cube (0.035 down to 0.0014), in one batched call:
#: 11 calls in all instead of ~100 single-point calls with gradients for L-BFGS-B. Chosen on the
#: ``pfn-bo`` PFN (Branin and Hartmann-6 after 10 and 25 points, 4 seeds): 3 rounds at shrink 0.3 left
#: the log-EI 0.1-0.3 below L-BFGS-B's optimum, 6 at 0.6 within ~0.1 on Hartmann-6; 10 at 0.7 reach
#: it on Branin and within ~0.05 on Hartmann-6, at ~0.1 s per maximisation for d = 6.
SCREEN_ROUNDS = 10
#: Scale reduction per refinement round (0.7: each cloud still covers the previous round's spread).
SCREEN_SHRINK = 0.7
POLISHES = ("auto", "lbfgs", "screen")
HISTORY_FORMAT = "probnn.bo.history/1"


@dataclass
class BOResult:
    """The history of a Bayesian-optimisation run.

    Attributes:
        x: evaluated points ``[n, d]`` (float64, original units).
        y: objective values ``[n]``.
        iteration_seconds: wall time of each evaluation's step (surrogate fit + acquisition
            optimisation + objective), ``[n]``; ``surrogate_seconds`` the part spent on fit + acquisition.
        phase: ``"initial"`` or ``"bo"`` per evaluation.
        bounds: ``[2, d]`` lower / upper bounds.
        config: JSON-able settings (acquisition, seed, surrogate, method, ...).
    """

    x: torch.Tensor
    y: torch.Tensor
    iteration_seconds: list[float]
    surrogate_seconds: list[float]
    phase: list[str]
    bounds: torch.Tensor
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def num_evaluations(self) -> int:
        return int(self.y.shape[0])

    @property
    def best_so_far(self) -> torch.Tensor:
        """Running minimum of ``y``: ``[n]``."""
        return torch.cummin(self.y, 0).values if len(self.y) else self.y

    @property
    def best_index(self) -> int:
        return int(torch.argmin(self.y))

    @property
    def best_x(self) -> torch.Tensor:
        return self.x[self.best_index]

    @property
    def best_y(self) -> float:
        return float(self.y[self.best_index])

    def to_dict(self) -> dict[str, Any]:
        return {"format": HISTORY_FORMAT, "x": self.x.tolist(), "y": self.y.tolist(),
                "best_so_far": self.best_so_far.tolist(), "iteration_seconds": self.iteration_seconds,
                "surrogate_seconds": self.surrogate_seconds, "phase": self.phase,
                "bounds": self.bounds.tolist(), "config": self.config}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BOResult:
        if data.get("format") != HISTORY_FORMAT:
            raise InputError(f"not a probnn BO history (format {data.get('format')!r}, expected {HISTORY_FORMAT!r})")
        d = len(data["bounds"][0])
        return cls(x=torch.tensor(data["x"], dtype=torch.float64).reshape(-1, d),
                   y=torch.tensor(data["y"], dtype=torch.float64),
                   iteration_seconds=list(data["iteration_seconds"]), surrogate_seconds=list(data["surrogate_seconds"]),
                   phase=list(data["phase"]), bounds=torch.tensor(data["bounds"], dtype=torch.float64),
                   config=dict(data["config"]))

    def save(self, path: str | Path) -> Path:
        """Write the history as JSON (atomically: temp file + ``os.replace``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "w") as stream:
            json.dump(self.to_dict(), stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> BOResult:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def plot_convergence(self, ax: Any = None, *, optimum: float | None = None, label: str | None = None) -> Any:
        """Best value so far (or simple regret ``best - optimum`` on a log axis) against evaluations."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        steps = np.arange(1, self.num_evaluations + 1)
        values = self.best_so_far.numpy()
        if optimum is not None:
            values = np.maximum(values - optimum, 1e-12)
            ax.set_yscale("log")
            ax.set_ylabel("simple regret")
        else:
            ax.set_ylabel("best value so far")
        ax.plot(steps, values, label=label or self.config.get("surrogate", "surrogate"))
        initial = self.phase.count("initial")
        if initial:
            ax.axvline(initial + 0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("evaluations")
        return ax


def _iteration_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, step]).generate_state(1, dtype=np.uint64)[0] >> 2)


def initial_design(seed: int, num_points: int, num_features: int) -> torch.Tensor:
    """The run's uniform initial design in the unit cube ``[num_points, num_features]`` (from ``seed``)."""
    generator = torch.Generator().manual_seed(_iteration_seed(seed, 2**32 - 1))
    return torch.rand(num_points, num_features, generator=generator, dtype=torch.float64)


def _check_bounds(bounds: Any) -> torch.Tensor:
    tensor = torch.as_tensor(bounds, dtype=torch.float64)
    if tensor.ndim != 2 or tensor.shape[0] != 2:
        raise InputError(f"bounds must have shape [2, num_features] (lower row, upper row); got {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()) or not bool((tensor[1] > tensor[0]).all()):
        raise InputError("bounds must be finite with upper > lower in every dimension")
    return tensor


def _describe(surrogate: Any) -> str:
    return surrogate if isinstance(surrogate, str) else type(surrogate).__name__


def _differentiable_scores(score: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor) -> bool:
    """Whether ``score`` is differentiable in its input (autograd reaches ``points`` with finite gradients)."""
    trial = points.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            values = score(trial)
            if not values.requires_grad:
                return False
            (gradient,) = torch.autograd.grad(values.sum(), trial, allow_unused=True)
    except RuntimeError:
        return False
    return gradient is not None and bool(torch.isfinite(gradient).all())


def _polish(score: Callable[[torch.Tensor], torch.Tensor], starts: torch.Tensor, *, exact_gradients: bool,
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """L-BFGS-B from each start ``[k, d]`` inside the unit cube; returns the polished points and scores.

    With ``exact_gradients`` the gradient of the score comes from autograd; otherwise SciPy takes
    finite differences (for scores autograd cannot reach, e.g. the Student-t EI whose CDF is SciPy's).
    Each start is polished on its own: optimising the starts jointly on ``sum_i score(x_i)`` couples
    them through the shared line search, and a start where the log-acquisition is steep stalls the others.
    """
    from scipy.optimize import minimize as scipy_minimize

    d = starts.shape[1]

    def negative(flat: np.ndarray) -> float:
        with torch.no_grad():
            value = float(score(torch.as_tensor(flat, dtype=torch.float64).reshape(1, d))[0])
        return -value if math.isfinite(value) else 1e300

    def negative_with_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        point = torch.as_tensor(flat, dtype=torch.float64).reshape(1, d).requires_grad_(True)
        with torch.enable_grad():
            value = score(point)[0]
            (gradient,) = torch.autograd.grad(value, point)
        value = float(value.detach())
        if not (math.isfinite(value) and bool(torch.isfinite(gradient).all())):
            return 1e300, np.zeros(d)
        return -value, -gradient.reshape(-1).numpy().astype(np.float64)

    points, values = [], []
    for start in starts:
        result = scipy_minimize(negative_with_gradient if exact_gradients else negative, start.numpy(),
                                jac=exact_gradients, method="L-BFGS-B", bounds=[(0.0, 1.0)] * d,
                                options={"maxiter": POLISH_ITERATIONS})
        points.append(torch.as_tensor(result.x, dtype=torch.float64).clamp(0, 1))
        values.append(-float(result.fun) if result.fun < 1e300 else -math.inf)
    return torch.stack(points), torch.tensor(values, dtype=torch.float64)


def _optimise_acquisition(score: Callable[[torch.Tensor], torch.Tensor], unit_x: torch.Tensor, unit_y: torch.Tensor,
                          d: int, generator: torch.Generator, polish: str = "lbfgs") -> torch.Tensor:
    """Maximise ``score`` over ``[0, 1]^d``: random + local candidates screened in one batched call, then
    the best :data:`NUM_REFINE` polished by L-BFGS-B (``polish="lbfgs"``: autograd gradients when the
    score is differentiable, finite differences otherwise) or by :data:`SCREEN_ROUNDS` batched rounds of
    shrinking local perturbations (``polish="screen"``: for surrogates whose cost is per call rather than
    per point, e.g. a PFN forward pass, which scores thousands of candidates as fast as one)."""
    count = max(NUM_CANDIDATES, 256 * d) if polish != "screen" else max(SCREEN_CANDIDATES, 64 * d)
    uniform = torch.rand(count, d, generator=generator, dtype=torch.float64)
    best_points = unit_x[torch.argsort(unit_y)[: min(5, len(unit_y))]]
    local = best_points.repeat_interleave(count // 8 // len(best_points) + 1, 0)
    local = (local + LOCAL_SCALE * torch.randn(local.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    candidates = torch.cat([uniform, local])
    with torch.no_grad():
        values = score(candidates)
    values = torch.where(torch.isfinite(values), values, torch.full_like(values, -math.inf))
    order = torch.argsort(values, descending=True)[:NUM_REFINE]
    best_point, best_value = candidates[order[0]], float(values[order[0]])
    starts = candidates[order]
    if polish == "screen":
        # one local search per start, as L-BFGS-B runs one per start: each round draws a cloud around
        # every start's current best and keeps the start's best of {current, cloud}, so the starts stay
        # in their own basins instead of collapsing onto the first screen's single best point
        pool, pool_values = starts.clone(), values[order].clone()
        per_start = max(1, count // 2 // len(pool))
        for round_index in range(SCREEN_ROUNDS):
            scale = LOCAL_SCALE * SCREEN_SHRINK ** (round_index + 1)
            centres = pool.repeat_interleave(per_start, 0)
            cloud = (centres + scale * torch.randn(centres.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
            with torch.no_grad():
                cloud_values = score(cloud)
            cloud_values = torch.where(torch.isfinite(cloud_values), cloud_values,
                                       torch.full_like(cloud_values, -math.inf)).reshape(len(pool), per_start)
            best_values, best_index = cloud_values.max(1)
            improved = best_values > pool_values
            chosen = cloud.reshape(len(pool), per_start, d)[torch.arange(len(pool)), best_index]
            pool = torch.where(improved[:, None], chosen, pool)
            pool_values = torch.where(improved, best_values, pool_values)
        return pool[int(torch.argmax(pool_values))].clamp(0, 1)
    polished, polished_values = _polish(score, starts, exact_gradients=_differentiable_scores(score, starts[:1]))
    winner = int(torch.argmax(polished_values))
    if float(polished_values[winner]) > best_value:
        best_point = polished[winner]
    return best_point.clamp(0, 1)


def _botorch_candidate(posterior: Any, unit_y: torch.Tensor, kind: str, beta: float, d: int, seed: int, *,
                       centred: bool = False) -> torch.Tensor:
    from botorch.acquisition import LogExpectedImprovement, ProbabilityOfImprovement, UpperConfidenceBound
    from botorch.optim import optimize_acqf

    from probnn.bo.botorch_adapter import ProbnnModel

    model = ProbnnModel(posterior)
    best = unit_y.min()
    acquisition = {"ei": lambda: LogExpectedImprovement(model, best_f=best, maximize=False),
                   "pi": lambda: ProbabilityOfImprovement(model, best_f=best, maximize=False),
                   "ucb": lambda: UpperConfidenceBound(model, beta=beta, maximize=False)}[kind]()
    bounds = torch.stack([-torch.ones(d) if centred else torch.zeros(d), torch.ones(d)]).to(torch.float64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        candidate, _ = optimize_acqf(acquisition, bounds=bounds, q=1, num_restarts=4, raw_samples=256)
    return candidate[0].detach()


def minimize(objective: Callable[[torch.Tensor], float], bounds: Any, *, surrogate: Model | str | None = None,
             method: str | None = None, acquisition: str = "ei", budget: int = 30,
             initial_points: int | None = None, fit_options: dict[str, Any] | None = None, beta: float = 2.0,
             acquisition_optimizer: str = "probnn", input_scaling: str = "auto", acquisition_polish: str = "auto",
             history: BOResult | None = None,
             generator: GeneratorLike = None, progress: bool | None = None,
             callback: Callable[[BOResult], None] | None = None) -> BOResult:
    """Minimise a black-box ``objective`` over a box with Bayesian optimisation.

    Args:
        objective: ``x [d] (float64) -> float``.
        bounds: ``[2, d]``: lower bounds in row 0, upper bounds in row 1.
        surrogate: any probnn regression model (default ``probnn.models.GP()``), or ``"random"``
            for uniform random search (the baseline).
        method: inference method for the surrogate (``probnn.fit``'s ``method``; default its default).
        acquisition: ``"ei"``, ``"pi"`` or ``"ucb"`` (with ``beta``: ``mean - sqrt(beta) stddev``).
        budget: total number of objective evaluations, initial design included.
        initial_points: uniform random points before the first fit (default ``max(3, d + 1)``).
        fit_options: extra options for ``probnn.fit`` (``progress=False`` is added when accepted).
        acquisition_optimizer: ``"probnn"`` (closed-form acquisitions on the predictive, see the
            module docstring) or ``"botorch"`` (the BoTorch adapter + ``optimize_acqf``).
        input_scaling: coordinates the surrogate is fitted in: ``"unit"`` (``[0, 1]^d``), ``"centred"``
            (``[-1, 1]^d``) or ``"auto"`` (centred for priors that are not translation-invariant, see
            :func:`probnn.bo.surrogate.input_scaling_for`). The acquisition queries the surrogate in the
            same coordinates and its maximiser is mapped back to the box.
        acquisition_polish: after the batched screen, ``"lbfgs"`` (L-BFGS-B from the best
            :data:`NUM_REFINE` candidates, one surrogate call per step), ``"screen"``
            (:data:`SCREEN_ROUNDS` batched rounds of shrinking local candidates, one call each) or
            ``"auto"``: ``"screen"`` for amortised posteriors (PFN, whose forward pass costs the same
            for one candidate or thousands), ``"lbfgs"`` otherwise.
        history: a previous :class:`BOResult` to resume from (its evaluations are not repeated).
        generator: an int seed (or ``None`` for a random one); a ``torch.Generator`` is reduced to one seed.
        progress: progress bar with the best value (``None`` follows :func:`probnn.set_quiet`).
        callback: called with the current :class:`BOResult` after each evaluation (e.g. to save it).

    Returns:
        A :class:`BOResult` with the full history.
    """
    bounds = _check_bounds(bounds)
    d = bounds.shape[1]
    if acquisition not in ACQUISITIONS:
        raise InputError(f"acquisition must be one of {list(ACQUISITIONS)}; got {acquisition!r}")
    if acquisition_optimizer not in ("probnn", "botorch"):
        raise InputError(f"acquisition_optimizer must be 'probnn' or 'botorch'; got {acquisition_optimizer!r}")
    if acquisition_polish not in POLISHES:
        raise InputError(f"acquisition_polish must be one of {list(POLISHES)}; got {acquisition_polish!r}")
    if input_scaling not in INPUT_SCALINGS:
        raise InputError(f"input_scaling must be one of {list(INPUT_SCALINGS)}; got {input_scaling!r}")
    if not isinstance(budget, int) or budget < 1:
        raise InputError(f"budget must be a positive int; got {budget!r}")
    initial_points = max(3, d + 1) if initial_points is None else int(initial_points)
    if initial_points < 1:
        raise InputError(f"initial_points must be >= 1; got {initial_points}")
    if surrogate is None:
        from probnn.gp.regression import GP

        surrogate = GP()
    if isinstance(surrogate, str) and surrogate != "random":
        raise InputError(f"surrogate must be a probnn model or 'random'; got {surrogate!r}")
    if isinstance(generator, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    elif generator is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    else:
        seed = int(generator)
    config = {"acquisition": acquisition, "beta": beta, "seed": seed, "surrogate": _describe(surrogate),
              "method": method, "initial_points": initial_points, "acquisition_optimizer": acquisition_optimizer,
              "input_scaling": input_scaling, "acquisition_polish": acquisition_polish}
    if history is not None:
        if tuple(history.bounds.shape) != tuple(bounds.shape) or not torch.allclose(history.bounds, bounds):
            raise InputError("history was recorded with different bounds")
        seed = int(history.config.get("seed", seed))
        config["seed"] = seed
        result = BOResult(history.x.clone(), history.y.clone(), list(history.iteration_seconds),
                          list(history.surrogate_seconds), list(history.phase), bounds, config)
    else:
        result = BOResult(torch.zeros(0, d, dtype=torch.float64), torch.zeros(0, dtype=torch.float64), [], [], [],
                          bounds, config)
    lower, width = bounds[0], bounds[1] - bounds[0]
    design = initial_design(seed, initial_points, d)
    options = dict(fit_options or {})
    bar = progress_bar(total=budget, desc=f"BO ({config['surrogate']})", progress=progress)
    bar.update(result.num_evaluations)
    try:
        while result.num_evaluations < budget:
            step = result.num_evaluations
            start = time.perf_counter()
            generator_t = torch.Generator().manual_seed(_iteration_seed(seed, step))
            if step < initial_points:
                unit, phase = design[step], "initial"
            elif surrogate == "random":
                unit, phase = torch.rand(d, generator=generator_t, dtype=torch.float64), "bo"
            else:
                unit, phase = _propose(result, surrogate, method, options, acquisition, beta, acquisition_optimizer,
                                       input_scaling, acquisition_polish, generator_t), "bo"
            surrogate_time = time.perf_counter() - start
            point = lower + width * unit
            value = float(objective(point.clone()))
            if not math.isfinite(value):
                raise InputError(f"objective returned a non-finite value {value} at {point.tolist()}")
            result.x = torch.cat([result.x, point.unsqueeze(0)])
            result.y = torch.cat([result.y, torch.tensor([value], dtype=torch.float64)])
            result.iteration_seconds.append(time.perf_counter() - start)
            result.surrogate_seconds.append(surrogate_time)
            result.phase.append(phase)
            bar.update(1)
            bar.set_postfix(best=f"{result.best_y:.4g}")
            if callback is not None:
                callback(result)
    finally:
        bar.close()
    return result


def _propose(result: BOResult, surrogate: Model, method: str | None, options: dict[str, Any], kind: str,
             beta: float, optimizer: str, scaling: str, polish: str, generator: torch.Generator) -> torch.Tensor:
    """Fit the surrogate to the standardised history and maximise the acquisition over the box; returns
    the chosen point in unit-cube coordinates (the surrogate itself sees ``scaling``'s coordinates)."""
    import inspect

    from probnn.api import resolve_backend
    from probnn.bo.surrogate import predict_latent
    from probnn.inference.protocols import has_numpyro_model

    bounds = result.bounds
    unit_x = (result.x - bounds[0]) / (bounds[1] - bounds[0])
    spread = result.y.std() if len(result.y) > 1 else torch.ones((), dtype=torch.float64)
    spread = spread if float(spread) > 0 else torch.ones((), dtype=torch.float64)
    unit_y = (result.y - result.y.mean()) / spread
    _, backend = resolve_backend(surrogate, method)
    accepted = inspect.signature(backend).parameters
    chosen = dict(options)
    if "progress" in accepted:
        chosen.setdefault("progress", False)
    if "generator" in accepted:
        chosen.setdefault("generator", int(torch.randint(0, 2**62, (1,), generator=generator).item()))
    if "rescale_inputs" in accepted:
        # the loop already maps the search box onto the unit cube, the input domain of the PFN priors;
        # rescaling again to the bounding box of the evaluated points would stretch the early design over
        # the cube and send candidates outside that box to coordinates the PFN never saw in training.
        chosen.setdefault("rescale_inputs", False)
    if ("reuse_compiled" in accepted and has_numpyro_model(surrogate) and options.get("engine", "auto") != "pyro"
            and options.get("chain_method", "vectorized") == "vectorized" and "checkpoint_path" not in options):
        # one fit per evaluation: reuse the compiled NUTS sampler (data padded to a power of two with a
        # likelihood mask, exact) instead of recompiling at every new data size
        chosen.setdefault("reuse_compiled", True)
    if scaling == "auto":
        scaling = input_scaling_for(surrogate, set(accepted))
    posterior = fit(surrogate, to_model_inputs(unit_x, scaling), unit_y, method=method, **chosen)
    d = unit_x.shape[1]
    if optimizer == "botorch":
        candidate = _botorch_candidate(posterior, unit_y, kind, beta, d,
                                       int(torch.randint(0, 2**31, (1,), generator=generator).item()),
                                       centred=scaling == "centred")
        return from_model_inputs(candidate, scaling).clamp(0, 1)
    best = float(unit_y.min())
    if polish == "auto":
        from probnn.inference.pfn import PFNPosterior

        polish = "screen" if isinstance(posterior, PFNPosterior) else "lbfgs"
    # the optimiser works in the unit cube; the surrogate is queried in its own coordinates
    return _optimise_acquisition(
        lambda u: acquisition_scores(predict_latent(posterior, to_model_inputs(u, scaling)), best, kind, beta=beta),
        unit_x, unit_y, d, generator, polish)


__all__: Sequence[str] = ["BOResult", "initial_design", "minimize"]
