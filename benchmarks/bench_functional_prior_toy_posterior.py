"""1D toy, posterior side: does a BNN prior closer to the GP prior give a posterior closer to the GP's?

Data (per seed): a function drawn from the toy's target GP (RBF, lengthscale 0.6, output scale 1) observed
with noise std 0.1 at 30 inputs uniform on [-6, -1.5] and [1.5, 6] (a gap in the middle); test inputs: the
200-point grid on [-6, 6] with fresh noisy observations of the same function.

Models, all with the Gaussian likelihood of known noise std 0.1:

* ``gp``: the exact posterior of the target GP itself (the reference the BNN priors try to imitate);
* ``fixed``: BNN 1-50-50-50-1 tanh with the fixed N(0, 1) prior;
* ``gaussian``: the same BNN with the per-layer Gaussian prior fitted as in bench_functional_prior_toy.py
  (300 steps x 128 functions, RMSprop 0.05 cosine, warm critic 5 steps);
* ``localbasis``: the same BNN with the per-parameter flow prior fitted from ``local_basis_prior`` (300 x 128,
  Adam 0.01 cosine): the fit of ``functional_prior_toy.md``'s ``localbasis`` row.

Posterior: probnn's adaptive SGHMC for every BNN (4 chains, batch 30 = full batch, 3000 burn-in, 50 draws
every 100 steps, learning rate 0.25, friction 0.05), each chain started at a draw from its prior. Metrics on
the test grid: RMSE and NLL (noisy test targets), and the distance of the predictive to the GP's: mean
absolute difference of the predictive means and of the predictive stds, averaged over the grid. Priors are
fitted once (generator 0, the benchmark's settings) and reused for every seed.

Usage: python benchmarks/bench_functional_prior_toy_posterior.py [--seeds 5] [--quick]
Writes benchmarks/results/functional_prior_toy_posterior.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from bench_functional_prior_toy import HIDDEN, NUM_POINTS, make_target

import probnn
from probnn.models.bnn import BNN
from probnn.priors import GaussianWeightPrior, GridMeasurementSet, fit_functional_prior, local_basis_prior
from probnn.random import as_generator

RESULTS = Path(__file__).parent / "results"
HALF = 6.0
NOISE = 0.1


def fitted_priors(quick: bool) -> dict:
    """The two fitted priors of the toy benchmark (same settings, generator 0)."""
    target, measurement = make_target(), GridMeasurementSet(-HALF, HALF, NUM_POINTS)
    critic = {"num_critic_steps": 5, "num_initial_critic_steps": 10 if quick else 100}
    common = {"measurement_set": measurement, "num_function_samples": 32 if quick else 128,
              "num_steps": 5 if quick else 300, "learning_rate_schedule": "cosine", "generator": 0,
              "progress": False, "distance_options": critic}
    priors, seconds = {}, {}
    starts = {"gaussian": (GaussianWeightPrior(), {"learning_rate": 0.05}),
              "localbasis": (local_basis_prior(BNN(1, hidden=HIDDEN, activation="tanh"), -HALF, HALF),
                             {"learning_rate": 1e-2, "optimizer": "adam"})}
    for name, (start, options) in starts.items():
        begin = time.process_time()
        fit = fit_functional_prior(BNN(1, hidden=HIDDEN, activation="tanh", prior=start), target, **common, **options)
        priors[name], seconds[name] = fit.prior, time.process_time() - begin
    return {"priors": priors, "fit_cpu_seconds": seconds}


def reference_gp() -> probnn.models.GP:
    """The target's kernel with the data's noise variance 0.01 (the toy's target object has 0.1)."""
    target = make_target()
    return probnn.models.GP(target.kernel, noise=NOISE**2, mean="zero")


def dataset(seed: int) -> tuple[torch.Tensor, ...]:
    """Train / test data from one draw of the target GP (see the module docstring)."""
    generator = as_generator(seed)
    u = torch.rand(30, generator=generator, dtype=torch.float64)
    x_train = torch.where(u < 0.5, -HALF + 9 * u, 1.5 + 9 * (u - 0.5))[:, None]  # [-6, -1.5] U [1.5, 6]
    x_test = torch.linspace(-HALF, HALF, NUM_POINTS, dtype=torch.float64)[:, None]
    x_all = torch.cat([x_train, x_test])
    f = make_target().sample_prior_functions(x_all, 1, generator=generator)[0, :, 0].double()
    noise = NOISE * torch.randn(len(x_all), generator=generator, dtype=torch.float64)
    y = f + noise
    return x_train, y[:30], x_test, y[30:]


def prior_init(prior, shapes):
    """SGHMC chain start: a draw from the prior (one per chain, from the chain's generator)."""
    def init(generator: torch.Generator) -> dict[str, torch.Tensor]:
        layers = prior.sample(shapes, 1, generator=generator)
        values = {}
        for index, (weight, bias) in enumerate(layers):
            values[f"w{index}"], values[f"b{index}"] = weight[0].detach(), bias[0].detach()
        return values
    return init


def metrics(mean: torch.Tensor, std: torch.Tensor, y: torch.Tensor, reference: dict | None) -> dict:
    mean, std, y = mean.double().reshape(-1), std.double().reshape(-1), y.double().reshape(-1)
    out = {"rmse": float(((mean - y) ** 2).mean().sqrt()),
           "nll_gaussian": float((0.5 * torch.log(2 * math.pi * std**2) + 0.5 * (y - mean) ** 2 / std**2).mean())}
    if reference is not None:
        out["mean_gap_to_gp"] = float((mean - reference["mean"]).abs().mean())
        out["std_gap_to_gp"] = float((std - reference["std"]).abs().mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    probnn.set_quiet(True)
    fitted = fitted_priors(args.quick)
    priors = {"fixed": GaussianWeightPrior(), **fitted["priors"]}
    sghmc = ({"num_samples": 5, "num_burnin": 50, "thinning": 5, "num_chains": 2} if args.quick else
             {"num_samples": 50, "num_burnin": 3000, "thinning": 100, "num_chains": 4})
    sghmc.update(batch_size=30, learning_rate=0.25, momentum_decay=0.05)
    runs = []
    for seed in range(1 if args.quick else args.seeds):
        x, y, x_test, y_test = dataset(seed)
        gp = probnn.fit(reference_gp(), x, y, method="exact", optimize=False, progress=False)
        predictive = gp.predict(x_test)
        reference = {"mean": predictive.mean.double().reshape(-1),
                     "std": predictive.variance.double().sqrt().reshape(-1)}
        run = {"seed": seed, "gp": metrics(reference["mean"], reference["std"], y_test, None)}
        for name, prior in priors.items():
            bnn = BNN(1, hidden=HIDDEN, activation="tanh", prior=prior, noise=NOISE)
            begin = time.process_time()
            posterior = probnn.fit(bnn, x.float(), y.float(), method="sghmc", generator=100 + seed, progress=False,
                                   init=prior_init(prior, bnn.layer_shapes), **sghmc)
            predictive = posterior.predict(x_test.float())
            run[name] = {**metrics(predictive.mean, predictive.variance.sqrt(), y_test, reference),
                         "function_rhat_max": posterior.diagnostics().get("function_rhat_max"),
                         "cpu_seconds": time.process_time() - begin}
            print(seed, name, run[name], flush=True)
        runs.append(run)
    results = {"settings": {"data": "30 inputs uniform on [-6, -1.5] U [1.5, 6], noise std 0.1; test: 200-point grid",
                            "sghmc": sghmc, "chain_start": "a draw from the prior",
                            "fit_cpu_seconds": fitted["fit_cpu_seconds"]},
               "quick": args.quick, "runs": runs}
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"functional_prior_toy_posterior{suffix}.json").write_text(json.dumps(results, indent=2))
    (RESULTS / f"functional_prior_toy_posterior{suffix}.md").write_text(render(results))


def render(results: dict) -> str:
    runs = results["runs"]
    names = ["gp", "fixed", "gaussian", "localbasis"]
    labels = {"gp": "exact GP posterior (the target prior)", "fixed": "BNN, fixed N(0, 1) prior",
              "gaussian": "BNN, fitted per-layer Gaussian prior", "localbasis": "BNN, fitted local-basis flow prior"}
    lines = ["# Functional prior, 1D toy: the posteriors the priors give", "",
             "Generated by `benchmarks/bench_functional_prior_toy_posterior.py` (settings in its docstring).", "",
             f"- settings: {json.dumps(results['settings'])}", f"- seeds: {len(runs)}", "",
             "Mean +- standard error over seeds (each seed a new function, data set and SGHMC run):", "",
             "| model | test RMSE | test NLL | mean |predictive mean - GP's| | mean |predictive std - GP's| |",
             "|---|---|---|---|---|"]

    def cell(values: list[float]) -> str:
        tensor = torch.tensor(values, dtype=torch.float64)
        error = float(tensor.std() / math.sqrt(len(values))) if len(values) > 1 else float("nan")
        return f"{float(tensor.mean()):.3f} +- {error:.3f}"

    for name in names:
        row = [cell([run[name][key] for run in runs]) if key in runs[0][name] else "-"
               for key in ("rmse", "nll_gaussian", "mean_gap_to_gp", "std_gap_to_gp")]
        lines.append(f"| {labels[name]} | " + " | ".join(row) + " |")
    rhat = {name: [run[name]["function_rhat_max"] for run in runs] for name in names[1:]
            if all(run[name].get("function_rhat_max") is not None for run in runs)}
    if rhat:
        lines += ["", "Function-space R-hat (max over the training inputs) per seed: " + "; ".join(
            f"{name} " + ", ".join(f"{value:.3f}" for value in values) for name, values in rhat.items())]
    lines += ["", "Per seed (RMSE / NLL / mean gap / std gap):", "", "| seed | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]
    for run in runs:
        cells = []
        for name in names:
            entry = run[name]
            cells.append(" / ".join(f"{entry[key]:.3f}" for key in ("rmse", "nll_gaussian", "mean_gap_to_gp",
                                                                    "std_gap_to_gp") if key in entry))
        lines.append(f"| {run['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
