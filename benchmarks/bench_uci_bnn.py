"""UCI regression with one-hidden-layer BNNs: NUTS, SVI and SGHMC beside the exact GP and published baselines.

Datasets: boston, concrete, energy, yacht, wine-quality-red (the standard 20 splits of
Hernández-Lobato & Adams, 2015, read from ``<repo>/../shared/data/uci``). Model: BNN with one hidden
layer of 50 tanh units, NT Gaussian prior (sigma_w = sigma_b = 1), Gaussian likelihood with a learned
noise std (HalfNormal(1) prior on standardised targets). Inputs and targets are standardised with the
training statistics; test NLL and RMSE are reported in the original units.

The machine is 2 CPU cores shared by 8 developers, so the run is budgeted (``--budget-minutes``):
splits are processed in order 0, 1, ... for all datasets, and the run stops starting new work when
the budget is spent. The results state exactly which splits ran. Sampler settings are scaled down
(see ``SETTINGS``) and stated in the results.

Published baselines (20 splits, mean +- standard error, as printed in the papers' Table 1):
MC dropout: Gal & Ghahramani (2016); deep ensembles: Lakshminarayanan et al. (2017).

Usage: python benchmarks/bench_uci_bnn.py [--quick] [--budget-minutes 20]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

import probnn  # noqa: E402
from probnn.models import BNN, GP  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: ``<repo>/../shared/data/uci`` (a git worktree under ``<checkout>/wt/<name>`` looks two levels up too).
DATA = next((p for p in (ROOT / ".." / "shared" / "data" / "uci", ROOT / ".." / ".." / "shared" / "data" / "uci")
             if p.exists()), ROOT / ".." / "shared" / "data" / "uci")
RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = {"yacht": "yacht", "energy": "energy", "boston": "bostonHousing", "concrete": "concrete",
            "wine-quality-red": "wine-quality-red"}  # smallest first, so a short budget covers the most datasets
PUBLISHED = {  # (RMSE, RMSE s.e., NLL, NLL s.e.)
    "mc_dropout": {"boston": (2.97, 0.19, 2.46, 0.06), "concrete": (5.23, 0.12, 3.04, 0.02),
                   "energy": (1.66, 0.04, 1.99, 0.02), "yacht": (1.11, 0.09, 1.55, 0.03),
                   "wine-quality-red": (0.62, 0.01, 0.93, 0.01)},
    "deep_ensembles": {"boston": (3.28, 1.00, 2.41, 0.25), "concrete": (6.03, 0.58, 3.06, 0.18),
                       "energy": (2.09, 0.29, 1.38, 0.22), "yacht": (1.58, 0.48, 1.18, 0.21),
                       "wine-quality-red": (0.64, 0.04, 0.94, 0.12)},
}
SETTINGS = {
    "nuts": {"num_warmup": 150, "num_samples": 150, "num_chains": 4, "max_tree_depth": 6},
    "svi": {"family": "mean_field", "num_steps": 1500, "learning_rate": 0.01, "num_particles": 1,
            "kl_annealing_steps": 500, "num_predictive_draws": 400},
    "sghmc": {"num_samples": 50, "num_burnin": 1000, "thinning": 20, "num_chains": 4, "batch_size": 32,
              "learning_rate": 0.1},
}
QUICK = {
    "nuts": {"num_warmup": 30, "num_samples": 30, "num_chains": 2, "max_tree_depth": 5},
    "svi": {"family": "mean_field", "num_steps": 300, "num_predictive_draws": 100},
    "sghmc": {"num_samples": 10, "num_burnin": 100, "thinning": 5, "num_chains": 2, "learning_rate": 0.1},
}


def load_split(name: str, split: int) -> tuple[torch.Tensor, ...]:
    folder = DATA / DATASETS[name]
    data = np.loadtxt(folder / "data.txt")
    features = np.loadtxt(folder / "index_features.txt", dtype=int).reshape(-1)
    target = int(np.loadtxt(folder / "index_target.txt", dtype=int))
    train = np.loadtxt(folder / f"index_train_{split}.txt", dtype=int)
    test = np.loadtxt(folder / f"index_test_{split}.txt", dtype=int)
    x, y = data[:, features], data[:, target]
    return tuple(torch.tensor(a, dtype=torch.float32) for a in (x[train], y[train], x[test], y[test]))


def evaluate(predictive, y_test: torch.Tensor, y_mean: float, y_std: float) -> dict[str, float]:
    """RMSE and mean NLL in original units (NLL_orig = NLL_std + log y_std)."""
    mean = predictive.mean.double() * y_std + y_mean
    rmse = float(((mean - y_test.double()) ** 2).mean().sqrt())
    standardised = (y_test.double() - y_mean) / y_std
    nll = float(-predictive.log_prob(standardised.to(predictive.mean.dtype)).double().mean()) + math.log(y_std)
    return {"rmse": rmse, "nll": nll}


def run_one(name: str, split: int, settings: dict) -> dict:
    x, y, x_test, y_test = load_split(name, split)
    x_mean, x_std = x.mean(0), x.std(0).clamp_min(1e-6)
    y_mean, y_std = float(y.mean()), float(y.std())
    xs, xt = (x - x_mean) / x_std, (x_test - x_mean) / x_std
    ys = (y - y_mean) / y_std
    out: dict = {"num_train": len(x), "num_test": len(x_test)}

    start = time.perf_counter()
    try:
        gp = probnn.fit(GP(), xs.double(), ys.double(), method="exact", progress=False)
        out["exact_gp"] = {**evaluate(gp.predict(xt.double()), y_test, y_mean, y_std),
                           "seconds": time.perf_counter() - start}
    except probnn.errors.NumericalError as error:  # reported, not hidden
        out["exact_gp"] = {"rmse": float("nan"), "nll": float("nan"), "error": str(error)}

    bnn = BNN(x.shape[1], hidden=(50,), activation="tanh", noise="learned")
    for method in ("svi", "sghmc", "nuts"):
        start = time.perf_counter()
        posterior = probnn.fit(bnn, xs, ys, method=method, generator=split, progress=False, **settings[method])
        result = {**evaluate(posterior.predict(xt), y_test, y_mean, y_std), "seconds": time.perf_counter() - start}
        if method in ("nuts", "sghmc"):
            diag = posterior.summary()["diagnostics"]
            result["function_rhat_max"] = diag.get("function_rhat_max")
            result["parameter_rhat_max"] = diag.get("rhat_max")
            result["function_ess_bulk_min"] = diag.get("function_ess_bulk_min")
            if method == "nuts":
                result["divergences"] = diag.get("num_divergences")
                result["max_tree_depth_hits"] = diag.get("max_tree_depth_hits")
        else:
            result["elbo_relative_change"] = posterior.fit_info["relative_change"]
        out[f"bnn_{method}"] = result
        print(name, split, method, result, flush=True)
    return out


def write(results: dict, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    lines = ["# UCI regression: BNN (1x50 tanh) with NUTS / SVI / SGHMC vs exact GP and published baselines", "",
             f"Budget: {results['budget_minutes']} min of background CPU on 2 shared cores; "
             f"splits run: {json.dumps(results['splits_run'])} (of 20 per dataset).", "",
             f"Settings: {json.dumps(results['settings'])}", "",
             "Test RMSE / NLL (original units; mean over the splits run; published: 20 splits, mean +- s.e.).", "",
             "| dataset | splits | exact GP | BNN-NUTS | BNN-SVI | BNN-SGHMC | MC dropout (pub.) | deep ens. (pub.) "
             "| NUTS f-space R-hat max |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset, runs in results["runs"].items():
        if not runs:
            continue

        def cell(key: str, runs=runs) -> str:
            rmse = np.mean([r[key]["rmse"] for r in runs])
            nll = np.mean([r[key]["nll"] for r in runs])
            return f"{rmse:.3f} / {nll:.3f}"

        pub = [PUBLISHED[k][dataset] for k in ("mc_dropout", "deep_ensembles")]
        rhat = max(r["bnn_nuts"]["function_rhat_max"] for r in runs)
        lines.append(f"| {dataset} | {len(runs)} | {cell('exact_gp')} | {cell('bnn_nuts')} | {cell('bnn_svi')} | "
                     f"{cell('bnn_sghmc')} | {pub[0][0]:.2f} / {pub[0][2]:.2f} | {pub[1][0]:.2f} / {pub[1][2]:.2f} "
                     f"| {rhat:.3f} |")
    lines += ["", "NUTS diagnostics per run (function-space R-hat over f at <=100 training inputs; parameter R-hat is "
              "not a convergence measure for networks because of hidden-unit permutation symmetry):", ""]
    for dataset, runs in results["runs"].items():
        for index, r in enumerate(runs):
            n = r["bnn_nuts"]
            lines.append(f"- {dataset} split {results['splits_run'][dataset][index]}: f-space R-hat "
                         f"{n['function_rhat_max']:.3f}, min f-space bulk ESS {n['function_ess_bulk_min']:.0f}, "
                         f"divergences {n['divergences']}, tree-depth hits {n['max_tree_depth_hits']}, "
                         f"{n['seconds']:.0f} s")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    args = parser.parse_args()
    if not DATA.exists():
        print(f"UCI data not found at {DATA}; nothing to do")
        return
    torch.set_num_threads(1)
    settings = QUICK if args.quick else SETTINGS
    name = "uci_bnn_quick" if args.quick else "uci_bnn"
    results = {"settings": settings, "budget_minutes": args.budget_minutes, "published": PUBLISHED,
               "runs": {d: [] for d in args.datasets}, "splits_run": {d: [] for d in args.datasets}}
    start = time.perf_counter()
    for split in range(20):
        for dataset in args.datasets:
            if time.perf_counter() - start > 60 * args.budget_minutes:
                write(results, name)
                return
            results["runs"][dataset].append(run_one(dataset, split, settings))
            results["splits_run"][dataset].append(split)
            results["elapsed_seconds"] = time.perf_counter() - start
            write(results, name)
        if args.quick:
            break


if __name__ == "__main__":
    main()
