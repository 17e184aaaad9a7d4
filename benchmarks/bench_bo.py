"""Bayesian optimisation benchmark: simple regret against evaluations, and time per iteration.

Functions (BoTorch's test functions, minimised, noise-free): Branin (d=2), Hartmann-6 (d=6) and
Ackley-5 (d=5, on BoTorch's default box [-32.768, 32.768]^5). Surrogates:

* ``botorch-stgp``: the reference. BoTorch ``SingleTaskGP`` (its defaults: Standardize outcome
  transform, its kernel and hyperpriors) fitted with ``fit_gpytorch_mll``, ``LogExpectedImprovement``
  maximised by ``optimize_acqf`` (4 restarts, 256 raw samples), inputs in the unit cube.
* ``probnn-gp``: ``probnn.bo.minimize`` with ``probnn.models.GP()`` (RBF-ARD, type-II ML), closed-form
  log-EI on its Gaussian predictive.
* ``probnn-nngp``, ``probnn-student-t``: the NNGP and Student-t process (from the ``gp`` branch),
  when installed; ``pfn``: the shipped GP-hyperprior PFN (``method="pfn"``; it covers d <= 3, so
  Branin only); ``pfn-bo``: a PFN trained on the ``gp-bo`` prior (nearly noise-free GP, d <= 6),
  ``benchmarks/results/pfn_gp_bo/``, with the loop's default acquisition polish for PFNs (batched
  screens, ``acquisition_polish="screen"``); ``pfn-bo-lbfgs``: the same PFN with the L-BFGS-B polish
  (for the time comparison); ``bnn-nuts``: a BNN fitted by NUTS at every iteration
  (``reuse_compiled=True``, set by the loop: one compiled sampler per padded data size).
* NNGP, Student-t process and BNN get inputs centred to ``[-1, 1]^d`` by the loop
  (``input_scaling="auto"``: their priors are not translation-invariant); the ``-unit`` variants
  (``probnn-nngp-unit``, ``probnn-student-t-unit``, ``bnn-nuts-unit``) force ``input_scaling="unit"``,
  the ablation of that choice.
* ``random``: uniform random search.

Every surrogate of a seed shares the same uniform initial design (``probnn.bo.loop.initial_design``).
Simple regret after ``t`` evaluations is ``min_{i<=t} f(x_i) - f*``. Time per iteration is the wall
time of surrogate fit + acquisition optimisation (objective excluded), averaged over BO iterations.

Usage: ``python benchmarks/bench_bo.py [--quick] [--functions branin,...] [--surrogates a,b]
[--seeds N] [--budget-scale s]``. Results accumulate in ``benchmarks/results/bo.json`` (one entry per
function x surrogate x seed, so runs can be split across invocations) and are rendered to ``bo.md``
and ``bo_<function>.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import probnn  # noqa: E402
from probnn.bo import minimize  # noqa: E402
from probnn.bo.loop import initial_design  # noqa: E402
from probnn.progress import set_quiet  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: name -> (BoTorch class, kwargs, budget, initial points). Budgets are total evaluations.
FUNCTIONS = {
    "branin": ("Branin", {}, 30, 5),
    "hartmann6": ("Hartmann", {"dim": 6}, 40, 7),
    "ackley5": ("Ackley", {"dim": 5}, 40, 6),
}
#: The ``pfn-bo`` surrogate: a PFN trained by ``probnn pretrain --prior gp-bo`` (nearly noise-free GP
#: prior for deterministic objectives, d = 1..6); its training record lies beside it.
BO_PFN_CHECKPOINT = Path(__file__).resolve().parent / "results" / "pfn_gp_bo" / "model.safetensors"
SURROGATES = ["botorch-stgp", "probnn-gp", "probnn-nngp", "probnn-student-t", "pfn", "pfn-bo", "pfn-bo-lbfgs",
              "bnn-nuts", "random", "probnn-nngp-unit", "probnn-student-t-unit", "bnn-nuts-unit"]
#: Hand-written notes appended to ``bo.md`` by :func:`render` (which runs produced which rows).
NOTES = Path(__file__).resolve().parent / "results" / "bo.notes.md"


def make_function(name: str):
    import botorch.test_functions as test_functions

    class_name, kwargs, _, _ = FUNCTIONS[name]
    function = getattr(test_functions, class_name)(**kwargs).to(torch.float64)
    return function, function.bounds.to(torch.float64), float(function.optimal_value)


def run_botorch(function, bounds: torch.Tensor, budget: int, initial_points: int, seed: int) -> dict:
    """The reference loop: SingleTaskGP + LogEI + optimize_acqf, from the shared initial design."""
    from botorch.acquisition import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    d = bounds.shape[1]
    lower, width = bounds[0], bounds[1] - bounds[0]
    unit = initial_design(seed, initial_points, d)
    values = torch.stack([function(lower + width * point) for point in unit])
    seconds = []
    torch.manual_seed(seed)
    unit_bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)
    while len(values) < budget:
        start = time.perf_counter()
        model = SingleTaskGP(unit, -values.unsqueeze(-1), outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        acquisition = LogExpectedImprovement(model, best_f=(-values).max())
        candidate, _ = optimize_acqf(acquisition, bounds=unit_bounds, q=1, num_restarts=4, raw_samples=256)
        seconds.append(time.perf_counter() - start)
        unit = torch.cat([unit, candidate.detach()])
        values = torch.cat([values, function(lower + width * candidate[0]).reshape(1)])
    return {"y": values.tolist(), "surrogate_seconds": seconds}


def probnn_surrogate(name: str, d: int, quick: bool):
    """``(surrogate, method, fit_options)`` for a probnn surrogate, or a string saying why it is missing."""
    name = name.removesuffix("-unit")
    if name == "probnn-gp":
        return probnn.models.GP(), "exact", {}
    if name == "probnn-nngp":
        try:
            from probnn.gp.nngp import NNGPKernel
        except ImportError:
            return "probnn.gp.nngp is not on this branch yet (gp branch not merged)"
        # NNGP of a depth-3 ReLU network (neural-tangents convention), weight/bias std and noise by type-II ML
        return probnn.models.GP(NNGPKernel(depth=3, activation="relu")), "exact", {}
    if name == "probnn-student-t":
        mixture = getattr(probnn.gp, "ScaleMixtureNNGP", None)
        if mixture is None:
            return "probnn.gp.ScaleMixtureNNGP (Student-t process) is not on this branch yet (gp issue unfinished)"
        from probnn.gp.nngp import NNGPKernel

        inverse_gamma = torch.distributions.InverseGamma(torch.tensor(2.0, dtype=torch.float64),
                                                         torch.tensor(2.0, dtype=torch.float64))
        return mixture(NNGPKernel(depth=3, activation="relu"), scale_prior=inverse_gamma, noise="learned"), None, {}
    if name in ("pfn", "pfn-bo", "pfn-bo-lbfgs"):
        from probnn.inference.pfn import default_checkpoint, load_pfn

        try:
            checkpoint = BO_PFN_CHECKPOINT if name.startswith("pfn-bo") else default_checkpoint(probnn.models.GP())
            network = load_pfn(checkpoint)
        except Exception as error:
            return f"no PFN checkpoint: {error}"
        if d > network.max_features:
            return f"the PFN ({Path(checkpoint).name}) covers d <= {network.max_features} only"
        return probnn.models.GP(), "pfn", {"checkpoint": checkpoint}
    if name == "bnn-nuts":
        options = {"num_warmup": 100, "num_samples": 100, "num_chains": 1}
        return probnn.models.BNN(d, hidden=(32,), noise="learned"), "nuts", options
    raise ValueError(name)


def run_one(function_name: str, surrogate: str, seed: int, budget: int, initial_points: int, quick: bool) -> dict:
    function, bounds, optimum = make_function(function_name)
    d = bounds.shape[1]
    if surrogate == "botorch-stgp":
        record = run_botorch(function, bounds, budget, initial_points, seed)
    else:
        if surrogate == "random":
            choice = ("random", None, {})
        else:
            choice = probnn_surrogate(surrogate, d, quick)
            if isinstance(choice, str):
                return {"missing": choice}
        model, method, options = choice
        polish = "lbfgs" if surrogate.endswith("-lbfgs") else "auto"
        scaling = "unit" if surrogate.endswith("-unit") else "auto"
        try:
            result = minimize(lambda x: float(function(x)), bounds, surrogate=model, method=method,
                              fit_options=options, acquisition="ei", budget=budget, initial_points=initial_points,
                              acquisition_polish=polish, input_scaling=scaling, generator=seed, progress=False)
        except probnn.ProbnnError as error:  # a surrogate that breaks inside the loop is reported, not hidden
            return {"missing": f"failed in the loop: {type(error).__name__}: {str(error)[:160]}"}
        record = {"y": result.y.tolist(),
                  "surrogate_seconds": [s for s, p in zip(result.surrogate_seconds, result.phase) if p == "bo"]}
    best = np.minimum.accumulate(np.asarray(record["y"]))
    record["regret"] = np.maximum(best - optimum, 0.0).tolist()
    timings = record["surrogate_seconds"]
    record["seconds_per_iteration"] = float(np.mean(timings)) if timings else 0.0
    return record


def render(results: dict, path_md: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ["# Bayesian optimisation benchmark", "",
             f"Settings: {json.dumps(results['settings'])}", "",
             "Simple regret `min_{i<=t} f(x_i) - f*` at the final budget: median [25 %, 75 %] over seeds, and the "
             "mean +- standard deviation of log10 regret (floor 1e-12); time per iteration = surrogate fit + "
             "acquisition optimisation (objective excluded), mean over BO iterations and seeds, on a shared "
             "2-core CPU under load from other jobs (so absolute times are noisy; ratios in one run are comparable).",
             ""]
    for function_name, by_surrogate in results["runs"].items():
        budget = max((len(r.get("regret", [])) for runs in by_surrogate.values() for r in runs.values()), default=0)
        lines += [f"## {function_name} (budget {budget} evaluations, {FUNCTIONS[function_name][3]} initial)", "",
                  "| surrogate | seeds | evaluations | final regret median [IQR] | log10 regret mean +- sd "
                  "| s / iteration |",
                  "|---|---|---|---|---|---|"]
        figure, ax = plt.subplots(figsize=(5.5, 3.8))
        for surrogate in SURROGATES:
            runs = by_surrogate.get(surrogate)
            if not runs:
                continue
            missing = [r["missing"] for r in runs.values() if "missing" in r]
            complete = [r for r in runs.values() if "regret" in r]
            if not complete:
                lines.append(f"| {surrogate} | 0 | | not run: {missing[0] if missing else ''} | | |")
                continue
            length = min(len(r["regret"]) for r in complete)
            regret = np.array([r["regret"][:length] for r in complete])
            final = regret[:, -1]
            log_final = np.log10(np.maximum(final, 1e-12))
            timing = np.mean([r["seconds_per_iteration"] for r in complete])
            q25, q50, q75 = np.percentile(final, [25, 50, 75])
            lines.append(f"| {surrogate} | {len(complete)} | {length} | {q50:.3g} [{q25:.3g}, {q75:.3g}] | "
                         f"{log_final.mean():.2f} +- {log_final.std(ddof=1) if len(complete) > 1 else 0:.2f} | "
                         f"{timing:.3f} |")
            steps = np.arange(1, length + 1)
            median = np.median(np.maximum(regret, 1e-12), 0)
            # a variant (-unit ablation, -lbfgs polish) shares its base surrogate's colour, dashed, no band
            base = surrogate.removesuffix("-unit").removesuffix("-lbfgs")
            variant = base != surrogate
            colour = f"C{SURROGATES.index(base) % 10}"
            ax.plot(steps, median, label=surrogate, color=colour, linestyle="--" if variant else "-")
            if not variant:
                ax.fill_between(steps, *np.percentile(np.maximum(regret, 1e-12), [25, 75], axis=0), alpha=0.15,
                                color=colour)
        ax.set_yscale("log")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("simple regret (median, IQR)")
        ax.set_title(function_name)
        ax.legend(fontsize=6, ncol=2)
        figure.tight_layout()
        figure.savefig(path_md.parent / f"{path_md.stem}_{function_name}.png", dpi=110)
        plt.close(figure)
        lines.append("")
    if NOTES.exists():
        lines += ["", NOTES.read_text().rstrip()]
    path_md.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, budget scaled by 0.3: a smoke run")
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--surrogates", default=",".join(s for s in SURROGATES if s != "bnn-nuts"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget-scale", type=float, default=1.0)
    parser.add_argument("--render-only", action="store_true", help="merge the part files and render")
    parser.add_argument("--part", default="", help="write to <stem>.part-<name>.json (for parallel runs)")
    args = parser.parse_args()
    set_quiet(True)
    torch.set_num_threads(1)
    stem = "bo_quick" if args.quick else "bo"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path_json = RESULTS / (f"{stem}.part-{args.part}.json" if args.part else f"{stem}.json")
    results = json.loads(path_json.read_text()) if path_json.exists() else {"runs": {}}
    if args.render_only:  # merge parallel parts into the main file
        scales = {}
        for part in sorted(RESULTS.glob(f"{stem}.part-*.json")):
            part_data = json.loads(part.read_text())
            scales[part.stem.split("part-")[1]] = part_data.get("settings", {}).get("budget_scale")
            for function_name, by_surrogate in part_data["runs"].items():
                for surrogate, runs in by_surrogate.items():
                    results["runs"].setdefault(function_name, {}).setdefault(surrogate, {}).update(runs)
    results["settings"] = {"python": platform.python_version(), "torch": torch.__version__,
                           "budget_scale": args.budget_scale if not args.quick else 0.3,
                           "functions": {k: {"budget": v[2], "initial_points": v[3]} for k, v in FUNCTIONS.items()},
                           "bnn_nuts": "BNN(hidden=(32,), learned noise), NUTS 1 chain, 100 warm-up + 100 draws, "
                                       "reuse_compiled=True, inputs in [-1, 1]^d",
                           "pfn": "shipped pfn_gp_hyperprior (d <= 3)",
                           "pfn-bo": "benchmarks/results/pfn_gp_bo (probnn pretrain --prior gp-bo, d <= 6)"}
    seeds = range(args.first_seed, args.first_seed + (2 if args.quick else args.seeds))
    if not args.render_only:
        for function_name in args.functions.split(","):
            _, _, budget, initial = FUNCTIONS[function_name]
            scale = 0.3 if args.quick else args.budget_scale
            budget = max(initial + 2, round(budget * scale))
            for surrogate in args.surrogates.split(","):
                for seed in seeds:
                    start = time.perf_counter()
                    record = run_one(function_name, surrogate, seed, budget, initial, args.quick)
                    results["runs"].setdefault(function_name, {}).setdefault(surrogate, {})[str(seed)] = record
                    path_json.write_text(json.dumps(results))
                    status = record.get("missing") or f"regret {record['regret'][-1]:.3g}"
                    print(f"{function_name} {surrogate} seed {seed}: {status} ({time.perf_counter() - start:.1f}s)",
                          flush=True)
                    if "missing" in record:
                        break
    if args.render_only:
        results["settings"]["budget_scale"] = scales
        path_json.write_text(json.dumps(results))
    if not args.part:
        render(results, RESULTS / f"{stem}.md")


if __name__ == "__main__":
    main()
