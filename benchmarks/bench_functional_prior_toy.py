"""1D toy of Tran et al. (2022): fit a 3 x 50 tanh BNN's weight prior to a GP-RBF prior, on two grids.

Target: GP with RBF kernel, lengthscale 0.6, output scale 1, zero mean. BNN: 1 -> 50 -> 50 -> 50 -> 1, tanh.
Measurement set: a 200-point grid on ``[-H, H]``: ``--half-width 6`` is the official notebooks' grid
(``GridGenerator(-6, 6)`` in normalised input units, notebooks/1D_regression_*.ipynb), ``--half-width 3``
the grid of our earlier runs. Each run measures one grid and merges its rows into the results file.

Priors compared (every fit starts where the paper's does, 128 functions per step, Wasserstein critic
100 initial + 5 steps per prior step, cosine learning-rate decay):

* fixed ``N(0, 1)`` (NT convention), the baseline;
* per-layer Gaussian: learnable weight and bias std per layer, from ``N(0, 1)``, RMSprop 0.05;
* hierarchical: ``HierarchicalWeightPrior`` with learnable per-layer Gamma shape / rate of the weight and
  the bias precision, started at shape = rate = 3 as in the notebook;
* flow: ``FlowWeightPrior`` (per-layer elementwise affine + 2 RealNVP couplings), started at the identity,
  i.e. at ``N(0, 1)``.

Distance measurement (the same for every prior): ``function_space_distance`` -- a fresh critic trained
for ``--eval-critic-steps`` Adam steps on minibatches of 256 from pools of 16384 functions per side, its
dual evaluated on 4096 *held-out* functions per side (with its standard error). Reported beside it:
the estimator's floor (GP vs an independent GP sample set); the in-sample estimator of earlier sessions
(fresh critic, 200 full-batch steps on 256 functions per side, scored on those functions) with its floor;
per-input standard deviation and correlations at input lags 0.3 / 0.6 / 1.2 / 2.4.

Fits are timed with ``--threads`` torch threads (wall and process CPU time; the load average is
recorded); everything else runs single-threaded. Writes benchmarks/results/functional_prior_toy.{json,md}
and functional_prior_toy_grid<H>.png.

``--estimator notebook`` (or ``both``) measures every prior with the official code's estimator as well
(``estimate_wasserstein_notebook``: per repeat a re-initialised critic, up to 1000 Adagrad steps of lr 0.08
with the 0.01 gradient-norm stop -- the 1D notebooks' ``MapperWasserstein(wasserstein_steps=(0, 1000),
wasserstein_lr=0.08)`` -- trained full-batch on an independent bag of 512 functions per side, its dual scored
on a fresh batch of 512 per side; mean and standard error over ``--repeats`` repeats) and can run the fit
the notebooks run (``--fits notebook_gaussian``: start at the official layers' std softplus(1) = 1.313, 512
functions, 800 RMSprop steps of 0.01, re-initialised critic every step with Adagrad state kept for the whole
fit; ``--notebook-fit-critic-steps`` critic steps per prior step). With ``notebook`` the held-out W1 of a
prior already in functional_prior_toy.json (same prior, same evaluation seed) is taken from there; ``both``
recomputes it. Writes benchmarks/results/functional_prior_toy_notebook_estimator.{json,md}.

Usage: python benchmarks/bench_functional_prior_toy.py [--half-width 6] [--estimator heldout|notebook|both]
       [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import gpytorch
import torch

import probnn
from probnn.models.bnn import BNN
from probnn.priors import (
    FlowWeightPrior,
    GaussianWeightPrior,
    GridMeasurementSet,
    HierarchicalWeightPrior,
    fit_functional_prior,
    local_basis_prior,
)
from probnn.priors.distances import (
    NOTEBOOK_1D_CRITIC_OPTIONS,
    NOTEBOOK_CRITIC_OPTIONS,
    WassersteinDistance,
    estimate_wasserstein,
    estimate_wasserstein_notebook,
)
from probnn.priors.functional import draw_functions, function_space_distance
from probnn.priors.plots import plot_prior_functions

RESULTS = Path(__file__).parent / "results"
HIDDEN = (50, 50, 50)
NUM_POINTS = 200
#: Input lags (in input units) at which the correlation of function values is reported.
LAGS = (0.3, 0.6, 1.2, 2.4)
OFFICIAL_HALF_WIDTH = 6.0


def make_target() -> probnn.models.GP:
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
    kernel.base_kernel.lengthscale = 0.6
    kernel.outputscale = 1.0
    return probnn.models.GP(kernel, noise=0.1, mean="zero")


def function_statistics(functions: torch.Tensor, half_width: float) -> dict:
    """Per-input std (left end, centre, right end) and mean correlation at fixed input lags, ``[S, 200]``."""
    functions = functions.double()
    correlation = torch.corrcoef(functions.T)
    std = functions.std(0)
    spacing = 2 * half_width / (NUM_POINTS - 1)
    return {"std_at_left_centre_right": [round(float(std[i]), 3) for i in (0, NUM_POINTS // 2, NUM_POINTS - 1)],
            "correlation_at_lag": {str(lag): round(float(torch.diagonal(correlation, round(lag / spacing)).mean()), 3)
                                   for lag in LAGS}}


def fit_runs(shapes, critic_steps: int, independent_critic: bool = False, half: float = OFFICIAL_HALF_WIDTH,
             bump_width: int = 1) -> dict:
    """Name -> (starting prior, fit options). Learning rates: the paper's 0.05 for the log-stds; see below.

    ``independent_critic``: the warm-started critic trains on a second, independent batch at every step
    and the prior's gradient comes from the dual on the first (a critic that never saw those functions).
    ``localbasis`` starts at :func:`probnn.priors.local_basis_prior` on ``[-half, half]`` with ``bump_width``.
    """
    critic = {"num_critic_steps": critic_steps, "num_initial_critic_steps": 100,
              **({"independent_critic_samples": True} if independent_critic else {})}
    return {
        "gaussian": (GaussianWeightPrior(), {"learning_rate": 0.05, "distance_options": critic}),
        # RMSprop 0.05 drives the middle layers' weight-precision shapes towards 0 (ever heavier tails) and
        # ends worse than 0.02 (in-sample critic ~15.8 vs ~10.6 on [-6, 6]); the notebook uses 0.01 for 800 steps.
        "hierarchical": (HierarchicalWeightPrior(3.0, 3.0, 3.0, 3.0),
                         {"learning_rate": 0.02, "distance_options": critic}),
        # A flow has ~16k parameters; RMSprop moves each by ~lr per step whatever its gradient's noise,
        # so the flow gets Adam (earlier runs: RMSprop 0.01 from a good start made it worse).
        "flow": (FlowWeightPrior(shapes, num_couplings=2), {"learning_rate": 1e-2, "optimizer": "adam",
                                                          "distance_options": critic}),
        # A per-parameter Gaussian (flow without couplings) whose means start as a local basis of tanh bumps;
        # Adam as for the flow.
        "localbasis": (local_basis_prior(BNN(1, hidden=HIDDEN, activation="tanh"), -half, half,
                                         bump_width=bump_width),
                       {"learning_rate": 1e-2, "optimizer": "adam", "distance_options": critic}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--half-width", type=float, default=OFFICIAL_HALF_WIDTH, help="grid on [-H, H]")
    parser.add_argument("--quick", action="store_true", help="smoke run with tiny settings")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--fits", default="gaussian,hierarchical,flow")
    parser.add_argument("--eval-pool", type=int, default=16384)
    parser.add_argument("--eval-held-out", type=int, default=4096)
    parser.add_argument("--eval-critic-steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the timed fits")
    parser.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    parser.add_argument("--critic-steps", type=int, default=5, help="critic steps per prior step")
    parser.add_argument("--independent-critic", action="store_true",
                        help="train the warm critic on an independent batch at every prior step")
    parser.add_argument("--learning-rate", type=float, default=None, help="override the family's learning rate")
    parser.add_argument("--optimizer", default=None, choices=["rmsprop", "adam"],
                        help="override the family's optimizer")
    parser.add_argument("--bump-width", type=int, default=1, help="local_basis_prior's bump_width (localbasis fit)")
    parser.add_argument("--evaluate-start", action="store_true",
                        help="also measure each fit's starting prior (row NAME<tag>_unfitted)")
    parser.add_argument("--tag", default="", help="suffix of the fitted rows' names (e.g. a settings variant)")
    parser.add_argument("--reuse-baselines", action="store_true",
                        help="take the floor and fixed-prior rows of this grid from the results file and keep "
                             "its other rows (adds rows instead of replacing the grid's table)")
    parser.add_argument("--estimator", default="heldout", choices=["heldout", "notebook", "both"],
                        help="heldout: the table of functional_prior_toy.md; notebook / both: the official code's "
                             "estimator beside the held-out one (functional_prior_toy_notebook_estimator.md)")
    parser.add_argument("--repeats", type=int, default=10, help="repeats of the notebook estimator")
    parser.add_argument("--notebook-samples", type=int, default=512, help="functions per side, notebook estimator")
    parser.add_argument("--notebook-critic", default="1d", choices=["1d", "uci"],
                        help="critic schedule of the notebook estimator: the 1D notebooks' (1000 Adagrad steps, "
                             "lr 0.08, stop 0.01) or the UCI notebook's (200, 0.02, 0.1)")
    parser.add_argument("--notebook-fit-critic-steps", type=int, default=1000,
                        help="critic steps per prior step in the notebook fits (the notebooks: 1000)")
    parser.add_argument("--notebook-fit-steps", type=int, default=800, help="prior steps of the notebook fits")
    parser.add_argument("--rows", default="floor,fixed,notebook_start",
                        help="fixed priors measured before the fits (notebook / both; '' keeps the stored rows)")
    parser.add_argument("--timed", default="gaussian", help="fits timed with --threads (the others: 1 thread)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.samples = 10, 32
        args.eval_pool, args.eval_held_out, args.eval_critic_steps = 512, 256, 50
        args.repeats, args.notebook_samples, args.notebook_fit_steps = 2, 64, 5
        args.notebook_fit_critic_steps = min(args.notebook_fit_critic_steps, 10)
    torch.set_num_threads(1)
    probnn.set_quiet(True)
    if args.estimator != "heldout":
        run_notebook_estimator(args)
        return

    half = args.half_width
    grid_name, target, bnn, measurement, x = toy_setup(half)
    seed = 11
    generator = torch.Generator().manual_seed(seed)

    def gp_sampler(count: int) -> torch.Tensor:
        return target.sample_prior_functions(x, count, generator=generator)

    def evaluate(prior) -> dict:
        start = time.perf_counter()
        value, error = function_space_distance(
            bnn, target, x, prior=prior, num_function_samples=args.eval_pool, num_held_out=args.eval_held_out,
            num_critic_steps=args.eval_critic_steps, batch_size=256, return_standard_error=True, generator=seed)
        draw_generator = torch.Generator().manual_seed(seed)

        def model_sampler(count: int) -> torch.Tensor:
            return bnn.forward_with_weights(x.float(), prior.sample(bnn.layer_shapes, count, generator=draw_generator))

        functions = draw_functions(model_sampler, 4096)
        in_sample = estimate_wasserstein(draw_functions(gp_sampler, 256), functions[:256], num_critic_steps=200,
                                         generator=seed)
        return {"wasserstein": value, "standard_error": error, "in_sample_wasserstein": in_sample,
                "seconds": time.perf_counter() - start, **function_statistics(functions, half)}

    results: dict = {"settings": {
        "measurement_set": f"{NUM_POINTS}-point grid on {grid_name}"
                           + (" (the official notebooks' grid)" if half == OFFICIAL_HALF_WIDTH else ""),
        "fit": "Wasserstein critic 200-200-1 softplus, gradient penalty 10, Adam 1e-3 (0.5, 0.9), 100 initial + "
               "the table's critic steps per prior step; steps, functions per step, optimizer, learning rate and "
               "schedule per row; generator 0",
        "evaluation": f"fresh critic, {args.eval_critic_steps} Adam steps on minibatches of 256 from "
                      f"{args.eval_pool} functions per side, dual on {args.eval_held_out} held-out functions "
                      f"per side; seed {seed}",
        "evaluation_threads": 1, "quick": args.quick}, "rows": {}}

    rows = results["rows"]
    stored = RESULTS / f"functional_prior_toy{'_quick' if args.quick else ''}.json"
    if args.reuse_baselines:
        previous = json.loads(stored.read_text())["grids"][grid_name]
        results["settings"], results["images"] = previous["settings"], previous.get("images", {})
        rows.update(previous["rows"])
    else:
        pool = args.eval_pool + args.eval_held_out
        first, second = draw_functions(gp_sampler, pool), draw_functions(gp_sampler, pool)
        floor, floor_error = estimate_wasserstein(
            first[:args.eval_pool], second[:args.eval_pool], target_held_out=first[args.eval_pool:],
            model_held_out=second[args.eval_pool:], num_critic_steps=args.eval_critic_steps, batch_size=256,
            return_standard_error=True, generator=seed)
        in_sample_floor = estimate_wasserstein(first[:256], second[:256], num_critic_steps=200, generator=seed)
        rows["floor"] = {"wasserstein": floor, "standard_error": floor_error,
                         "in_sample_wasserstein": in_sample_floor, **function_statistics(first[:4096], half)}
        print("floor", rows["floor"], flush=True)
        rows["fixed"] = evaluate(bnn.prior)
        print("fixed N(0,1)", rows["fixed"], flush=True)
    floor = rows["floor"]["wasserstein"]

    fits = {}
    runs = fit_runs(bnn.layer_shapes, args.critic_steps, args.independent_critic, half, args.bump_width)
    for name in args.fits.split(","):
        initial, options = runs[name]
        if args.evaluate_start:
            entry = evaluate(initial)
            entry.update({"reduction": rows["fixed"]["wasserstein"] / entry["wasserstein"],
                          "floor_corrected_reduction": (rows["fixed"]["wasserstein"] - floor)
                          / (entry["wasserstein"] - floor)})
            rows[name + args.tag + "_unfitted"] = entry
            print(name + args.tag + "_unfitted", json.dumps(entry, indent=1), flush=True)
        if args.learning_rate is not None:
            options = {**options, "learning_rate": args.learning_rate}
        if args.optimizer is not None:
            options = {**options, "optimizer": args.optimizer}
        torch.set_num_threads(args.threads)
        load_before = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        fit = fit_functional_prior(BNN(1, hidden=HIDDEN, activation="tanh", prior=initial), target,
                                   measurement_set=measurement, num_function_samples=args.samples,
                                   num_steps=args.steps, learning_rate_schedule=args.schedule, generator=0,
                                   progress=False, **options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        load_after = os.getloadavg()[0]
        torch.set_num_threads(1)
        fits[name] = fit
        entry = evaluate(fit.prior)
        baseline, fitted = rows["fixed"]["wasserstein"], entry["wasserstein"]
        entry.update({
            "fit_wall_seconds": wall, "fit_cpu_seconds": cpu, "load_average_before_fit": load_before,
            "load_average_after_fit": load_after, "reduction": baseline / fitted,
            "floor_corrected_reduction": (baseline - floor) / (fitted - floor),
            "in_sample_reduction": rows["fixed"]["in_sample_wasserstein"] / entry["in_sample_wasserstein"],
            "learning_rate": options["learning_rate"], "optimizer": options.get("optimizer", "rmsprop"),
            "num_steps": args.steps, "num_function_samples": args.samples, "schedule": args.schedule,
            "fit_threads": args.threads, "critic_steps": args.critic_steps,
            "history_first": fit.history[:5], "history_last": fit.history[-5:]})
        if isinstance(fit.prior, GaussianWeightPrior):
            entry["fitted"] = {"weight_std": fit.prior.log_weight_std.exp().tolist(),
                               "bias_std": fit.prior.log_bias_std.exp().tolist()}
        elif isinstance(fit.prior, HierarchicalWeightPrior):
            entry["fitted"] = fit.prior.hyperparameters()
        fits[name + args.tag] = fits.pop(name)
        rows[name + args.tag] = entry
        print(name + args.tag, json.dumps(entry, indent=1), flush=True)
        write(grid_name, results, fits, x, target, bnn, args.quick, half)


#: The official layers' initial std: ``softplus(1) = log(1 + e) = 1.3133`` for every weight and bias std
#: (``GaussianLinearReparameterization`` stores a raw parameter initialised at 1 and applies softplus).
NOTEBOOK_START_STD = math.log1p(math.e)

#: What the official notebooks print (``MapperWasserstein.optimize``, every 20 steps of 800): the first
#: step and the steps 700-800, Gaussian and hierarchical families on the [-6, 6] grid.
NOTEBOOK_PRINTED = {
    "gaussian": {"step_1": 35.5007, "steps_700_to_800": [8.5180, 8.1393, 6.9208, 6.5171, 7.8765, 7.1276]},
    "hierarchical": {"step_1": 31.6298, "steps_700_to_800": [7.8316, 8.1460, 7.3760, 1.9062, 8.5219, 6.8366]},
}

#: Prior steps at the end of a fit whose printed distances are averaged ("the notebook's number").
LAST_STEPS = 20


def _prior_values(prior) -> dict | None:
    if isinstance(prior, GaussianWeightPrior) and prior.learnable:
        return {"weight_std": prior.log_weight_std.exp().tolist(), "bias_std": prior.log_bias_std.exp().tolist()}
    if isinstance(prior, HierarchicalWeightPrior):
        return prior.hyperparameters()
    return None


def _same_values(first: dict | None, second: dict | None) -> bool:
    """Hyperparameters equal to a relative 1e-6 (float32 round trip through JSON)."""
    if first is None or second is None or first.keys() != second.keys():
        return False
    return all(len(first[key]) == len(second[key])
               and all(abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-12) for a, b in zip(first[key], second[key]))
               for key in first)


def toy_setup(half: float):
    """The toy's grid name, GP target, N(0, 1) BNN, 200-point grid on [-half, half] and its inputs."""
    measurement = GridMeasurementSet(-half, half, NUM_POINTS)
    bnn = BNN(1, hidden=HIDDEN, activation="tanh", prior=GaussianWeightPrior())
    return f"[-{half:g}, {half:g}]", make_target(), bnn, measurement, measurement.sample()


def run_notebook_estimator(args) -> None:
    """Every prior under the official code's estimator and the held-out one (see the module docstring)."""
    half = args.half_width
    grid_name, target, bnn, measurement, x = toy_setup(half)
    seed = 11
    critic = NOTEBOOK_1D_CRITIC_OPTIONS if args.notebook_critic == "1d" else NOTEBOOK_CRITIC_OPTIONS
    count = args.notebook_samples
    suffix = "_quick" if args.quick else ""
    path = RESULTS / f"functional_prior_toy_notebook_estimator{suffix}.json"
    everything = json.loads(path.read_text()) if path.exists() else {"grids": {}}
    stored_path = RESULTS / f"functional_prior_toy{suffix}.json"
    stored = json.loads(stored_path.read_text())["grids"].get(grid_name, {}).get("rows", {}) \
        if stored_path.exists() else {}
    grid = everything["grids"].setdefault(grid_name, {"rows": {}})
    grid["settings"] = {
        "measurement_set": f"{NUM_POINTS}-point grid on {grid_name}",
        "notebook_estimator": f"{args.repeats} repeats; per repeat a re-initialised critic (Xavier-normal weights, "
                              f"N(0, 1) biases, fresh Adagrad), up to {critic['num_critic_steps']} full-batch Adagrad "
                              f"steps of lr {critic['learning_rate']:g} (stop when the loss gradient norm < "
                              f"{critic['gradient_norm_threshold']:g}) on an independent bag of {count} functions per "
                              f"side, dual on a fresh batch of {count} per side; mean +- standard error over repeats; "
                              f"seed {seed}",
        "held_out_estimator": f"fresh critic, {args.eval_critic_steps} Adam steps on minibatches of 256 from "
                              f"{args.eval_pool} functions per side, dual on {args.eval_held_out} held-out functions "
                              f"per side; seed {seed} (as functional_prior_toy.md)",
        "quick": args.quick}
    rows = grid["rows"]

    def gp_sampler(generator: torch.Generator):
        return lambda n: target.sample_prior_functions(x, n, generator=generator).reshape(n, -1).float()

    def model_sampler(prior, generator: torch.Generator):
        def sample(n: int) -> torch.Tensor:
            with torch.no_grad():
                return bnn.forward_with_weights(x.float(), prior.sample(bnn.layer_shapes, n,
                                                                        generator=generator)).reshape(n, -1)
        return sample

    def notebook_estimate(prior) -> dict:
        start, cpu = time.perf_counter(), time.process_time()
        generator = torch.Generator().manual_seed(seed)
        model = gp_sampler(generator) if prior is None else model_sampler(prior, generator)
        values, steps = estimate_wasserstein_notebook(gp_sampler(generator), model, num_function_samples=count,
                                                      num_repeats=args.repeats, critic_options=critic,
                                                      generator=generator)
        values_tensor = torch.tensor(values, dtype=torch.float64)
        return {"notebook": float(values_tensor.mean()),
                "notebook_standard_error": float(values_tensor.std() / math.sqrt(len(values))),
                "notebook_values": values, "notebook_mean_critic_steps": sum(steps) / len(steps),
                "notebook_seconds": time.perf_counter() - start, "notebook_cpu_seconds": time.process_time() - cpu}

    def held_out(name: str, prior, values: dict | None) -> dict:
        previous = stored.get(name)
        if previous is not None and (name == "floor" or (args.estimator == "notebook" and (
                name == "fixed" or _same_values(values, previous.get("fitted"))))):
            return {"held_out": previous["wasserstein"], "held_out_standard_error": previous["standard_error"],
                    "held_out_source": "functional_prior_toy.json (same prior and evaluation seed)"}
        if prior is None:
            return {}  # the floor's held-out value comes from the held-out benchmark of this grid
        value, error = function_space_distance(
            bnn, target, x, prior=prior, num_function_samples=args.eval_pool, num_held_out=args.eval_held_out,
            num_critic_steps=args.eval_critic_steps, batch_size=256, return_standard_error=True, generator=seed)
        return {"held_out": value, "held_out_standard_error": error, "held_out_source": "measured in this run"}

    def save() -> None:
        path.write_text(json.dumps(everything, indent=2))
        (RESULTS / f"functional_prior_toy_notebook_estimator{suffix}.md").write_text(render_notebook(everything))

    def record(name: str, prior, extra: dict | None = None) -> None:
        values = _prior_values(prior) if prior is not None else None
        entry = {**(extra or {}), **notebook_estimate(prior)}
        entry.update(held_out(name, prior, values))
        if values is not None:
            entry["fitted"] = values
        rows[name] = entry
        print(name, {key: value for key, value in entry.items() if key != "history"}, flush=True)
        save()

    fixed_priors = {"floor": None, "fixed": GaussianWeightPrior(),
                    "notebook_start": GaussianWeightPrior(NOTEBOOK_START_STD, NOTEBOOK_START_STD)}
    for name in [name for name in args.rows.split(",") if name]:
        record(name, fixed_priors[name])
    runs = fit_runs(bnn.layer_shapes, args.critic_steps, half=half, bump_width=args.bump_width)
    timed = set(args.timed.split(","))
    for name in [name for name in args.fits.split(",") if name]:
        threads = args.threads if name in timed else 1
        torch.set_num_threads(threads)
        load_before = os.getloadavg()
        distance = None
        if name.startswith("notebook_"):
            family = name.removeprefix("notebook_")
            initial = (GaussianWeightPrior(NOTEBOOK_START_STD, NOTEBOOK_START_STD) if family == "gaussian"
                       else HierarchicalWeightPrior(3.0, 3.0, 3.0, 3.0))
            distance = WassersteinDistance(**{**critic, "num_critic_steps": args.notebook_fit_critic_steps})
            options = {"num_function_samples": count, "num_steps": args.notebook_fit_steps, "learning_rate": 0.01,
                       "learning_rate_schedule": "constant", "distance": distance}
        else:
            initial, family_options = runs[name]
            options = {"num_function_samples": args.samples, "num_steps": args.steps,
                       "learning_rate_schedule": args.schedule, **family_options}
        wall, cpu = time.perf_counter(), time.process_time()
        fit = fit_functional_prior(BNN(1, hidden=HIDDEN, activation="tanh", prior=initial), target,
                                   measurement_set=measurement, generator=0, progress=False, **options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        torch.set_num_threads(1)
        extra = {"fit_threads": threads, "fit_wall_seconds": wall, "fit_cpu_seconds": cpu,
                 "load_average_before_fit": list(load_before), "load_average_after_fit": list(os.getloadavg()),
                 "fit_settings": {key: value for key, value in fit.fit_info.items() if key != "time_seconds"},
                 "history_first": fit.history[0],
                 "history_last_mean": float(torch.tensor(fit.history[-LAST_STEPS:]).mean()),
                 "history": fit.history}
        if distance is not None:
            # The printout at the end of the fit reads a critic whose Adagrad accumulators hold the whole fit's
            # squared gradients. Score fixed priors with that same aged critic schedule, LAST_STEPS times each.
            generator = torch.Generator().manual_seed(seed)
            aged = {}
            for label, prior in (("fitted", fit.prior), ("fixed", GaussianWeightPrior()),
                                 ("notebook_start", GaussianWeightPrior(NOTEBOOK_START_STD, NOTEBOOK_START_STD))):
                model, gp = model_sampler(prior, generator), gp_sampler(generator)
                values = []
                for _ in range(LAST_STEPS):
                    with torch.no_grad():
                        batch = gp(count), model(count), gp(count), model(count)
                    values.append(float(distance(batch[0], batch[1], critic_target=batch[2], critic_model=batch[3],
                                                 generator=generator)))
                tensor = torch.tensor(values, dtype=torch.float64)
                aged[label] = {"mean": float(tensor.mean()),
                               "standard_error": float(tensor.std() / math.sqrt(len(values)))}
            extra["aged_critic_printout"] = aged
            extra["critic_steps_per_prior_step"] = args.notebook_fit_critic_steps
            extra["cpu_seconds_per_critic_step"] = cpu / (args.notebook_fit_steps * args.notebook_fit_critic_steps)
        record(name, fit.prior, extra)


def _reduction(name: str, entry: dict, key: str, fixed: dict, start: dict) -> str:
    """``fixed / entry`` for the estimate ``key`` (and ``start / entry`` in brackets when measured)."""
    if name == "floor" or key not in entry or key not in fixed:
        return "-"
    text = f"{fixed[key] / entry[key]:.2f}x"
    return text + (f" ({start[key] / entry[key]:.2f}x)" if key in start else "")


def render_notebook(everything: dict) -> str:
    lines = ["# Functional prior, 1D toy: the official code's estimator beside the held-out one", "",
             "GP-RBF target (lengthscale 0.6, output scale 1), BNN 1-50-50-50-1 tanh, 200-point grid.",
             "Generated by `benchmarks/bench_functional_prior_toy.py --estimator notebook --half-width H`.", ""]
    labels = {"floor": "GP vs independent GP (estimator floor)", "fixed": "fixed N(0, 1)",
              "notebook_start": "fixed N(0, 1.313^2) (the notebooks' start, softplus(1))",
              "gaussian": "fitted per-layer Gaussian (shipped: 300 x 128, warm critic 5 steps, RMSprop 0.05 cosine)",
              "hierarchical": "fitted hierarchical (shipped: 300 x 128, warm critic 5 steps, RMSprop 0.02 cosine)",
              "localbasis": "fitted per-parameter flow, local-basis start (shipped: 300 x 128, warm critic 5 steps, "
                            "Adam 0.01 cosine)",
              "notebook_gaussian": "fitted per-layer Gaussian, notebook fit",
              "notebook_hierarchical": "fitted hierarchical, notebook fit"}
    for grid_name in sorted(everything["grids"], key=lambda name: -float(name.split(",")[1].strip(" ]"))):
        grid = everything["grids"][grid_name]
        rows = grid["rows"]
        lines += [f"## Grid {grid_name}", "", *(f"- {key}: {value}" for key, value in grid["settings"].items()), "",
                  "| prior | notebook estimator | reduction vs N(0, 1) (vs the notebooks' start N(0, 1.313^2)) | "
                  "critic steps taken | held-out W1 | reduction vs N(0, 1) (vs N(0, 1.313^2)) | "
                  "fit: threads / wall / CPU / load |", "|---|---|---|---|---|---|---|"]
        fixed = rows.get("fixed", {})
        start = rows.get("notebook_start", {})

        for name, entry in rows.items():
            base = name.partition("_")[2] if name.startswith("notebook_") and name != "notebook_start" else name
            label = labels.get(name, labels.get(base, name))
            notebook_reduction = _reduction(name, entry, "notebook", fixed, start)
            held = (f"{entry['held_out']:.2f} +- {entry['held_out_standard_error']:.2f}"
                    + (" (stored)" if entry.get("held_out_source", "").startswith("functional") else "")
                    if "held_out" in entry else "-")
            held_reduction = _reduction(name, entry, "held_out", fixed, start)
            timing = (f"{entry['fit_threads']} / {entry['fit_wall_seconds']:.0f} s / "
                      f"{entry['fit_cpu_seconds']:.0f} s / {entry['load_average_before_fit'][0]:.1f}"
                      if "fit_wall_seconds" in entry else "-")
            lines.append(f"| {label} | {entry['notebook']:.2f} +- {entry['notebook_standard_error']:.2f} | "
                         f"{notebook_reduction} | {entry['notebook_mean_critic_steps']:.0f} | {held} | "
                         f"{held_reduction} | {timing} |")
        lines.append("")
        for name, entry in rows.items():
            if "history" not in entry:
                continue
            settings = entry["fit_settings"]
            lines += [f"### {labels.get(name, name)}", "",
                      f"- settings: {json.dumps(settings)}",
                      f"- its own printout (the fit's history): step 1 {entry['history_first']:.2f}, mean of the last "
                      f"{LAST_STEPS} steps {entry['history_last_mean']:.2f} "
                      f"(reduction {entry['history_first'] / entry['history_last_mean']:.2f}x)"]
            if "aged_critic_printout" in entry:
                aged = entry["aged_critic_printout"]
                full_minutes = entry["cpu_seconds_per_critic_step"] * 1000 * settings["num_steps"] / 60
                lines += [f"- {entry['critic_steps_per_prior_step']} critic steps per prior step; "
                          f"{entry['cpu_seconds_per_critic_step'] * 1e3:.1f} ms CPU per critic step, so the "
                          f"notebooks' 1000 would take ~{full_minutes:.0f} CPU-min for this fit (single thread)",
                          "- the same printout (critic schedule with the fit's aged Adagrad state) scoring "
                          f"fixed priors after the fit, {LAST_STEPS} steps each: "
                          + ", ".join(f"{label} {value['mean']:.2f} +- {value['standard_error']:.2f}"
                                      for label, value in aged.items())]
            lines += [f"- fitted: {json.dumps({k: [round(v, 3) for v in vals] for k, vals in entry['fitted'].items()})}"
                      if entry.get("fitted") else "", ""]
    lines += ["The official notebooks print (grid [-6, 6], 800 steps x 512 functions, 1000 critic steps per step): "
              + "; ".join(f"{family} step 1 {values['step_1']:.1f}, steps 700-800 mean "
                          f"{sum(values['steps_700_to_800']) / len(values['steps_700_to_800']):.2f}"
                          for family, values in NOTEBOOK_PRINTED.items()) + ".", ""]
    return "\n".join(lines) + "\n"


def write(grid_name: str, results: dict, fits: dict, x, target, bnn, quick: bool, half: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    suffix = "_quick" if quick else ""
    best = min(fits, key=lambda name: results["rows"][name]["wasserstein"])  # this run's best fit is plotted
    image = f"functional_prior_toy_grid{half:g}_{best}{suffix}.png"
    plot_prior_functions(x, target, bnn, fits[best], num_functions=12, path=RESULTS / image, generator=0)
    path = RESULTS / f"functional_prior_toy{suffix}.json"
    everything = json.loads(path.read_text()) if path.exists() else {}
    if "grids" not in everything:  # the single-grid file of earlier runs is replaced
        everything = {"grids": {}}
    images = dict(results.get("images", {}))
    images[best] = image
    everything["grids"][grid_name] = {**results, "images": images}
    path.write_text(json.dumps(everything, indent=2))
    (RESULTS / f"functional_prior_toy{suffix}.md").write_text(render(everything))


def render(everything: dict) -> str:
    lines = ["# Functional prior, 1D toy (Tran et al. 2022)", "",
             "GP-RBF target (lengthscale 0.6, output scale 1), BNN 1-50-50-50-1 tanh; one table per measurement grid.",
             "Generated by `benchmarks/bench_functional_prior_toy.py --half-width H`.", ""]
    labels = {"floor": "GP vs independent GP (estimator floor)", "fixed": "fixed N(0, 1)",
              "gaussian": "fitted per-layer Gaussian", "hierarchical": "fitted hierarchical (per-layer Gamma)",
              "flow": "fitted flow (2 couplings)",
              "localbasis": "per-parameter flow from a local-basis start"}
    for grid_name in sorted(everything["grids"], key=lambda name: -float(name.split(",")[1].strip(" ]"))):
        results = everything["grids"][grid_name]
        rows, settings = results["rows"], results["settings"]
        lines += [f"## Grid {grid_name}", "", *(f"- {key}: {value}" for key, value in settings.items()), "",
                  "| prior | W1 to GP (held-out) | reduction vs N(0,1) (floor-corrected) | fit: steps x functions, "
                  "critic steps per step, optimizer lr schedule / threads / wall / CPU / load | in-sample W1 | "
                  "std left, centre, right | corr at lag 0.3/0.6/1.2/2.4 |",
                  "|---|---|---|---|---|---|---|"]
        for name, entry in rows.items():
            lags = entry["correlation_at_lag"]
            reduction = (f"{entry['reduction']:.2f}x ({entry['floor_corrected_reduction']:.2f}x)"
                         if "reduction" in entry else ("1.0x" if name == "fixed" else "-"))
            timing = (f"{entry['num_steps']} x {entry['num_function_samples']}, critic {entry['critic_steps']}, "
                      f"{entry['optimizer']} "
                      f"{entry['learning_rate']:g} {entry['schedule']} / {entry['fit_threads']} / "
                      f"{entry['fit_wall_seconds']:.0f} s / {entry['fit_cpu_seconds']:.0f} s / "
                      f"{entry['load_average_before_fit']:.1f}" if "fit_wall_seconds" in entry else "-")
            base, _, tag = name.partition("_")
            label = labels.get(base, base) + (f" ({tag.replace('_', ' ')})" if tag else "")
            lines.append(f"| {label} | {entry['wasserstein']:.3f} +- {entry['standard_error']:.3f} | "
                         f"{reduction} | {timing} | {entry['in_sample_wasserstein']:.2f} | "
                         f"{entry['std_at_left_centre_right']} | "
                         + " / ".join(str(lags[str(lag)]) for lag in LAGS) + " |")
        fitted = {name: entry["fitted"] for name, entry in rows.items() if "fitted" in entry}
        lines += ["", *(f"- fitted {name}: " + json.dumps({key: [round(v, 3) for v in value]
                                                           if isinstance(value, list) else value
                                                           for key, value in values.items()})
                        for name, values in fitted.items()),
                  "", *(f"![prior functions: target, N(0, 1), fitted {name}]({image})"
                        for name, image in results["images"].items()), ""]
    lines += ["Fit times: wall clock and process CPU time (both threads) with the stated torch threads on the "
              "2-core machine shared by 3 developers; load average (1 min) before each fit."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
