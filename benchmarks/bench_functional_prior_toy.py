"""1D toy of Tran et al. (2022): fit a 3 x 50 tanh BNN's Gaussian weight prior to a GP-RBF prior.

Target: GP with RBF kernel, lengthscale 0.6, output scale 1, zero mean. BNN: 1 -> 50 -> 50 -> 50 -> 1,
tanh, per-layer Gaussian prior (learnable std of W and b, NT convention), starting at N(0, 1).
Measurement set: 200-point grid on [-3, 3].

Reported: the 1-Wasserstein distance between the target's and the BNN's function values on the grid,
each estimated the same way (a fresh critic, ``--eval-critic-steps`` Adam steps, ``--eval-samples``
functions from each side, three seeds) for the fixed N(0, 1) prior and for the fitted priors; the ratio;
the fit's wall time. Fits: the paper's Wasserstein (critic) fit and the critic-free sliced-Wasserstein
fit. Writes benchmarks/results/functional_prior_toy.{json,md,png}.

Usage: python benchmarks/bench_functional_prior_toy.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import gpytorch
import torch

import probnn
from probnn.models.bnn import BNN
from probnn.priors import GaussianWeightPrior, GridMeasurementSet, fit_functional_prior
from probnn.priors.functional import function_space_distance
from probnn.priors.plots import plot_prior_functions

RESULTS = Path(__file__).parent / "results"


def make_target() -> probnn.models.GP:
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
    kernel.base_kernel.lengthscale = 0.6
    kernel.outputscale = 1.0
    return probnn.models.GP(kernel, noise=0.1, mean="zero")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run with tiny settings")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--eval-samples", type=int, default=256)
    parser.add_argument("--eval-critic-steps", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-seeds", type=int, default=3, help="evaluation seeds")
    parser.add_argument("--distances", nargs="*", default=["wasserstein", "sliced_wasserstein"])
    args = parser.parse_args()
    if args.quick:
        args.steps, args.samples, args.eval_samples, args.eval_critic_steps = 10, 32, 64, 50
    torch.set_num_threads(args.threads)
    probnn.set_quiet(True)

    target = make_target()
    bnn = BNN(1, hidden=(50, 50, 50), activation="tanh", prior=GaussianWeightPrior())
    measurement = GridMeasurementSet(-3.0, 3.0, 200)
    x = measurement.sample()
    seeds = tuple(range(11, 11 + args.num_seeds))

    def evaluate(prior) -> list[float]:
        return [function_space_distance(bnn, target, x, prior=prior, num_function_samples=args.eval_samples,
                                        num_critic_steps=args.eval_critic_steps, generator=seed) for seed in seeds]

    results: dict = {"settings": {
        "target": "GP RBF lengthscale 0.6, outputscale 1", "bnn": "1-50-50-50-1 tanh, GaussianWeightPrior NT",
        "measurement_set": "200-point grid on [-3, 3]", "num_function_samples": args.samples,
        "num_steps": args.steps, "prior_optimizer": "RMSprop lr 0.05",
        "wasserstein_critic": "200-200-1 softplus, GP weight 10, Adam 1e-3 (0.5, 0.9), 100 initial + 5 steps/step",
        "evaluation": f"fresh critic, {args.eval_critic_steps} steps, {args.eval_samples} functions/side, "
                      f"seeds {list(seeds)}",
        "torch_threads": args.threads, "load_average_at_start": os.getloadavg()[0], "quick": args.quick,
    }}
    start = time.perf_counter()
    baseline = evaluate(bnn.prior)
    results["baseline_wasserstein"] = baseline
    results["evaluation_seconds"] = time.perf_counter() - start
    fits = {}
    all_options = {"wasserstein": {"num_critic_steps": 5, "num_initial_critic_steps": 100},
                   "sliced_wasserstein": {"num_projections": 256}}
    for distance in args.distances:
        options = all_options[distance]
        start = time.perf_counter()
        fit = fit_functional_prior(bnn, target, measurement_set=measurement, num_function_samples=args.samples,
                                   num_steps=args.steps, distance=distance, distance_options=options,
                                   generator=0, progress=False)
        seconds = time.perf_counter() - start
        distances = evaluate(fit.prior)
        fits[distance] = fit
        results[distance] = {
            "fit_seconds": seconds, "wasserstein_after": distances,
            "reduction": statistics.mean(baseline) / statistics.mean(distances),
            "history_first": fit.history[:5], "history_last": fit.history[-5:],
            "fitted_weight_std": fit.prior.log_weight_std.exp().tolist(),
            "fitted_bias_std": fit.prior.log_bias_std.exp().tolist(),
            "load_average_after": os.getloadavg()[0],
        }
        print(distance, json.dumps(results[distance], indent=1), flush=True)
        write(results, fits, x, target, bnn, baseline, args.quick)


def write(results, fits, x, target, bnn, baseline, quick) -> None:
    RESULTS.mkdir(exist_ok=True)
    suffix = "_quick" if quick else ""
    plot_prior_functions(x, target, bnn, next(iter(fits.values())), num_functions=12,
                         path=RESULTS / f"functional_prior_toy{suffix}.png", generator=0)
    (RESULTS / f"functional_prior_toy{suffix}.json").write_text(json.dumps(results, indent=2))
    lines = ["# Functional prior, 1D toy (Tran et al. 2022)", "",
             *(f"- {key}: {value}" for key, value in results["settings"].items()), "",
             f"| prior | W1 to GP (mean of {len(baseline)} seeds) | reduction vs N(0,1) | fit time (s) |",
             "|---|---|---|---|",
             f"| fixed N(0, 1) | {statistics.mean(baseline):.3f} | 1.0x | - |"]
    for distance in fits:
        entry = results[distance]
        lines.append(f"| fitted ({distance}) | {statistics.mean(entry['wasserstein_after']):.3f} | "
                     f"{entry['reduction']:.1f}x | {entry['fit_seconds']:.0f} |")
    lines += ["", "Fit times were measured on a 2-core machine shared by 8 developers "
              f"(load average {results['settings']['load_average_at_start']:.1f} at start); "
              "they are wall-clock times under that load.", "",
              f"![prior functions](functional_prior_toy{suffix}.png)"]
    (RESULTS / f"functional_prior_toy{suffix}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
