"""1D toy of Tran et al. (2022): fit a 3 x 50 tanh BNN's Gaussian weight prior to a GP-RBF prior.

Target: GP with RBF kernel, lengthscale 0.6, output scale 1, zero mean. BNN: 1 -> 50 -> 50 -> 50 -> 1,
tanh, per-layer Gaussian prior (learnable std of W and b, NT convention), starting at N(0, 1).
Measurement set: 200-point grid on [-3, 3].

Distance measurement (the same for every prior): ``function_space_distance`` -- a fresh critic trained
for ``--eval-critic-steps`` Adam steps on minibatches of 256 from pools of 16384 functions per side, its
dual evaluated on 4096 *held-out* functions per side (with its standard error). Reported beside it:

* the estimator's floor: the same estimate between the GP and an independent GP sample set;
* the previous session's in-sample estimator (fresh critic, 200 full-batch steps on 256 functions per
  side, evaluated on those same functions) with its floor, to show why it understated the reduction;
* per-input standard deviation and correlations at lags 0.3 / 0.6 / 1.2 / 2.4 of the function values.

Fits: the paper's Wasserstein (critic) fit and the critic-free sliced-Wasserstein fit, each timed with
``--threads`` torch threads (everything else runs single-threaded); the load average is recorded.
Writes benchmarks/results/functional_prior_toy.{json,md,png}.

Usage: python benchmarks/bench_functional_prior_toy.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import gpytorch
import torch

import probnn
from probnn.models.bnn import BNN
from probnn.priors import GaussianWeightPrior, GridMeasurementSet, fit_functional_prior
from probnn.priors.distances import estimate_wasserstein
from probnn.priors.functional import draw_functions, function_space_distance
from probnn.priors.plots import plot_prior_functions

RESULTS = Path(__file__).parent / "results"
#: Grid spacing is 6 / 199; these index lags are about 0.3, 0.6, 1.2 and 2.4 input units.
LAGS = {"0.3": 10, "0.6": 20, "1.2": 40, "2.4": 80}


def make_target() -> probnn.models.GP:
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
    kernel.base_kernel.lengthscale = 0.6
    kernel.outputscale = 1.0
    return probnn.models.GP(kernel, noise=0.1, mean="zero")


def function_statistics(functions: torch.Tensor) -> dict:
    """Per-input std (at x = -3, 0, 3) and mean correlation at fixed lags, from ``[S, 200]`` samples."""
    functions = functions.double()
    correlation = torch.corrcoef(functions.T)
    std = functions.std(0)
    return {"std_at_-3_0_3": [round(float(std[i]), 3) for i in (0, 100, 199)],
            "correlation_at_lag": {lag: round(float(torch.diagonal(correlation, k).mean()), 3)
                                   for lag, k in LAGS.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run with tiny settings")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--sliced-steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--eval-pool", type=int, default=16384)
    parser.add_argument("--eval-held-out", type=int, default=4096)
    parser.add_argument("--eval-critic-steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the timed fits")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.sliced_steps, args.samples = 10, 10, 32
        args.eval_pool, args.eval_held_out, args.eval_critic_steps = 512, 256, 50
    torch.set_num_threads(1)
    probnn.set_quiet(True)

    target = make_target()
    bnn = BNN(1, hidden=(50, 50, 50), activation="tanh", prior=GaussianWeightPrior())
    measurement = GridMeasurementSet(-3.0, 3.0, 200)
    x = measurement.sample()
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
                "seconds": time.perf_counter() - start, **function_statistics(functions)}

    results: dict = {"settings": {
        "target": "GP RBF lengthscale 0.6, outputscale 1", "bnn": "1-50-50-50-1 tanh, GaussianWeightPrior NT",
        "measurement_set": "200-point grid on [-3, 3]", "num_function_samples": args.samples,
        "wasserstein_fit": f"{args.steps} steps, RMSprop lr 0.05 with cosine decay, critic 200-200-1 softplus, "
                           "gradient penalty 10, Adam 1e-3 (0.5, 0.9), 100 initial + 5 steps per prior step",
        "sliced_wasserstein_fit": f"{args.sliced_steps} steps, 256 projections, RMSprop lr 0.05 constant",
        "evaluation": f"fresh critic, {args.eval_critic_steps} Adam steps on minibatches of 256 from "
                      f"{args.eval_pool} functions per side, dual on {args.eval_held_out} held-out functions "
                      f"per side; seed {seed}",
        "in_sample_evaluation": "previous session's: fresh critic, 200 full-batch steps on 256 functions per side, "
                                "dual on the same functions",
        "fit_threads": args.threads, "evaluation_threads": 1, "quick": args.quick,
    }}

    # Estimator floor: the GP against an independent GP sample set, both estimators.
    pool = args.eval_pool + args.eval_held_out
    first, second = draw_functions(gp_sampler, pool), draw_functions(gp_sampler, pool)
    floor, floor_error = estimate_wasserstein(
        first[:args.eval_pool], second[:args.eval_pool], target_held_out=first[args.eval_pool:],
        model_held_out=second[args.eval_pool:], num_critic_steps=args.eval_critic_steps, batch_size=256,
        return_standard_error=True, generator=seed)
    in_sample_floor = estimate_wasserstein(first[:256], second[:256], num_critic_steps=200, generator=seed)
    results["floor"] = {"wasserstein": floor, "standard_error": floor_error, "in_sample_wasserstein": in_sample_floor,
                        **function_statistics(first[:4096])}
    print("floor", results["floor"], flush=True)
    results["fixed_prior"] = evaluate(bnn.prior)
    print("fixed N(0,1)", results["fixed_prior"], flush=True)

    fits = {}
    runs = {"wasserstein": {"num_steps": args.steps, "learning_rate_schedule": "cosine",
                            "distance_options": {"num_critic_steps": 5, "num_initial_critic_steps": 100}},
            "sliced_wasserstein": {"num_steps": args.sliced_steps, "distance_options": {"num_projections": 256}}}
    for distance, options in runs.items():
        torch.set_num_threads(args.threads)
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        fit = fit_functional_prior(bnn, target, measurement_set=measurement, num_function_samples=args.samples,
                                   distance=distance, generator=0, progress=False, **options)
        seconds = time.perf_counter() - start
        load_after = os.getloadavg()[0]
        torch.set_num_threads(1)
        fits[distance] = fit
        entry = evaluate(fit.prior)
        baseline, fitted = results["fixed_prior"]["wasserstein"], entry["wasserstein"]
        entry.update({
            "fit_seconds": seconds, "load_average_before_fit": load_before, "load_average_after_fit": load_after,
            "reduction": baseline / fitted,
            "floor_corrected_reduction": (baseline - floor) / (fitted - floor),
            "in_sample_reduction": results["fixed_prior"]["in_sample_wasserstein"] / entry["in_sample_wasserstein"],
            "history_first": fit.history[:5], "history_last": fit.history[-5:],
            "fitted_weight_std": fit.prior.log_weight_std.exp().tolist(),
            "fitted_bias_std": fit.prior.log_bias_std.exp().tolist()})
        results[distance] = entry
        print(distance, json.dumps(entry, indent=1), flush=True)
        write(results, fits, x, target, bnn, args.quick)


def write(results, fits, x, target, bnn, quick) -> None:
    RESULTS.mkdir(exist_ok=True)
    suffix = "_quick" if quick else ""
    plot_prior_functions(x, target, bnn, fits.get("wasserstein", next(iter(fits.values()))), num_functions=12,
                         path=RESULTS / f"functional_prior_toy{suffix}.png", generator=0)
    (RESULTS / f"functional_prior_toy{suffix}.json").write_text(json.dumps(results, indent=2))
    floor = results["floor"]

    def row(label: str, entry: dict, extra: str) -> str:
        lags = entry["correlation_at_lag"]
        return (f"| {label} | {entry['wasserstein']:.3f} +- {entry['standard_error']:.3f} | {extra} | "
                f"{entry['in_sample_wasserstein']:.2f} | {entry['std_at_-3_0_3']} | "
                f"{lags['0.3']} / {lags['0.6']} / {lags['1.2']} / {lags['2.4']} |")

    lines = ["# Functional prior, 1D toy (Tran et al. 2022)", "",
             *(f"- {key}: {value}" for key, value in results["settings"].items()), "",
             "| prior | W1 to GP (held-out) | reduction vs N(0,1) (floor-corrected) / fit time / load | "
             "in-sample W1 | std at x=-3,0,3 | corr at lag 0.3/0.6/1.2/2.4 |", "|---|---|---|---|---|---|",
             row("GP vs independent GP (floor)", floor, "-"),
             row("fixed N(0, 1)", results["fixed_prior"], "1.0x")]
    for distance in fits:
        entry = results[distance]
        lines.append(row(f"fitted ({distance})", entry,
                         f"{entry['reduction']:.2f}x ({entry['floor_corrected_reduction']:.2f}x) / "
                         f"{entry['fit_seconds']:.0f} s / {entry['load_average_before_fit']:.1f}"))
    lines += ["", f"Fit times: wall clock with {results['settings']['fit_threads']} torch threads on the 2-core "
              "machine shared by 4 developers; load average (1 min) before each fit in the table.", "",
              f"![prior functions](functional_prior_toy{suffix}.png)"]
    (RESULTS / f"functional_prior_toy{suffix}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
