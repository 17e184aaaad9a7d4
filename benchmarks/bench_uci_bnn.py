"""UCI regression with one-hidden-layer BNNs: NUTS, SVI and SGHMC beside the exact GP and published baselines.

Datasets: boston, concrete, energy, yacht, wine-quality-red (the standard 20 splits of
Hernández-Lobato & Adams, 2015, read from ``<repo>/../shared/data/uci``). Model: BNN with one hidden
layer of 50 tanh units, NT Gaussian prior (sigma_w = sigma_b = 1), Gaussian likelihood with a learned
noise std (HalfNormal(1) prior on standardised targets). Inputs and targets are standardised with the
training statistics; test NLL and RMSE are reported in the original units. The exact-GP rows come
from ``benchmarks/results/uci_gp.json`` (same splits, same standardisation), the published MC dropout
(Gal & Ghahramani, 2016) and deep-ensemble (Lakshminarayanan et al., 2017) figures from its
``published`` field.

Two phases, each resumable (rows already in the JSON are skipped; the JSON is rewritten after every
row, so a cut run keeps what finished):

* ``--phase fast``: SVI (mean-field, local reparameterisation) and SGHMC on every split;
* ``--phase nuts``: NUTS (numpyro, 4 vectorised chains) on splits 0, 1, ... of every dataset until the
  budget is spent;
* ``--phase nuts-long``: the same sampler with a 500-step warm-up and 800 draws per chain (4x), the
  run that checks R-hat <= 1.01 (stored as ``nuts_long`` beside the ``nuts`` rows);
* ``--phase nuts-longer --split-list ...``: 1,600 draws per chain, for the splits whose R-hat run
  stayed above 1.01;
* ``--phase nuts-probe``: a dense mass matrix and tree depth 10 (``--datasets energy yacht --splits 1``),
  the probe of whether better adaptation fixes the nearly noise-free sets.

The machine is 2 CPU cores shared by 4 developers; runs are single-threaded and budgeted
(``--budget-minutes``), and the results state exactly which splits ran. JAX's persistent compilation
cache is enabled so that same-shape fits (the splits of one dataset) reuse their XLA executables.

Usage: python benchmarks/bench_uci_bnn.py [--quick] [--phase fast|nuts|nuts-long|nuts-longer|nuts-probe]
       [--budget-minutes 20] [--datasets ...] [--split-list ...] [--report]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

import probnn  # noqa: E402
from probnn.datasets.uci import resolve_uci_path  # noqa: E402
from probnn.errors import InputError  # noqa: E402
from probnn.models import BNN  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = {"yacht": "yacht", "energy": "energy", "boston": "bostonHousing", "concrete": "concrete",
            "wine-quality-red": "wine-quality-red"}  # smallest first, so a short budget covers the most datasets
SETTINGS = {
    "nuts": {"num_warmup": 300, "num_samples": 200, "num_chains": 4, "max_tree_depth": 8},
    # The R-hat run: the same sampler with a longer warm-up and 4x the draws (f-space R-hat - 1 falls
    # roughly as 1 / ESS, and the 200-draw runs had R-hat ~1.01-1.05 at bulk ESS ~100-600).
    "nuts_long": {"num_warmup": 500, "num_samples": 800, "num_chains": 4, "max_tree_depth": 8},
    # Twice the R-hat run's draws, for the splits whose R-hat run stayed above 1.01 (``--split-list``).
    "nuts_longer": {"num_warmup": 500, "num_samples": 1600, "num_chains": 4, "max_tree_depth": 8},
    # The probe of the nearly noise-free sets (energy, yacht): a dense mass matrix and 4x longer trajectories.
    "nuts_probe": {"num_warmup": 500, "num_samples": 500, "num_chains": 4, "max_tree_depth": 10, "dense_mass": True},
    "svi": {"family": "mean_field", "local_reparameterization": True, "num_steps": 10000, "learning_rate": 0.01,
            "num_particles": 1, "num_predictive_draws": 400},
    "sghmc": {"num_samples": 100, "num_burnin": 10000, "thinning": 100, "num_chains": 4, "batch_size": 32,
              "learning_rate": 0.25},
}
QUICK = {
    "nuts": {"num_warmup": 30, "num_samples": 30, "num_chains": 2, "max_tree_depth": 5},
    "nuts_long": {"num_warmup": 40, "num_samples": 40, "num_chains": 2, "max_tree_depth": 5},
    "nuts_probe": {"num_warmup": 40, "num_samples": 40, "num_chains": 2, "max_tree_depth": 5, "dense_mass": True},
    "nuts_longer": {"num_warmup": 40, "num_samples": 80, "num_chains": 2, "max_tree_depth": 5},
    "svi": {"family": "mean_field", "num_steps": 300, "num_predictive_draws": 100},
    "sghmc": {"num_samples": 10, "num_burnin": 100, "thinning": 5, "num_chains": 2},
}
PHASES = {"fast": ("svi", "sghmc"), "nuts": ("nuts",), "nuts-long": ("nuts_long",), "nuts-probe": ("nuts_probe",),
          "nuts-longer": ("nuts_longer",)}
FIT_METHOD = {"nuts_long": "nuts", "nuts_probe": "nuts", "nuts_longer": "nuts"}  # result key -> probnn.fit method
NUTS_KEYS = ("nuts", "nuts_long", "nuts_longer", "nuts_probe")  # result keys of NUTS runs, in table order


def load_split(name: str, split: int) -> tuple[torch.Tensor, ...]:
    folder = resolve_uci_path(DATASETS[name])  # root arg, $PROBNN_UCI_ROOT, ../shared/data/uci
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


def run_method(name: str, split: int, method: str, settings: dict) -> dict:
    x, y, x_test, y_test = load_split(name, split)
    x_mean, x_std = x.mean(0), x.std(0).clamp_min(1e-6)
    y_mean, y_std = float(y.mean()), float(y.std())
    xs, xt = (x - x_mean) / x_std, (x_test - x_mean) / x_std
    ys = (y - y_mean) / y_std
    bnn = BNN(x.shape[1], hidden=(50,), activation="tanh", noise="learned")
    start = time.perf_counter()
    posterior = probnn.fit(bnn, xs, ys, method=FIT_METHOD.get(method, method), generator=split, progress=False,
                           **settings[method])
    result = {**evaluate(posterior.predict(xt), y_test, y_mean, y_std), "seconds": time.perf_counter() - start}
    noise = posterior.flat_draws().get("noise")
    result["noise_std_mean"] = float(noise.mean()) * y_std if noise is not None else None
    if method in (*NUTS_KEYS, "sghmc"):
        diag = posterior.summary()["diagnostics"]
        result["function_rhat_max"] = diag.get("function_rhat_max")
        result["parameter_rhat_max"] = diag.get("rhat_max")
        result["function_ess_bulk_min"] = diag.get("function_ess_bulk_min")
        if method in NUTS_KEYS:
            result["divergences"] = diag.get("num_divergences")
            result["max_tree_depth_hits"] = diag.get("max_tree_depth_hits")
            result["num_transitions"] = diag.get("num_transitions")
    else:
        result["elbo_relative_change"] = posterior.fit_info["relative_change"]
    return result


def gp_baseline() -> dict:
    path = RESULTS / "uci_gp.json"
    return json.loads(path.read_text())["datasets"] if path.exists() else {}


def _mean_se(values: list[float]) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    se = np.std(values, ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{np.mean(values):.3f} ± {se:.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def write(results: dict, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    gp = gp_baseline()
    lines = ["# UCI regression: BNN (1x50 tanh) with NUTS / SVI / SGHMC vs exact GP and published baselines", "",
             "Mean ± standard error over the splits run (count in brackets); original units. Exact GP from "
             "`uci_gp.json`: over all 20 splits, and over exactly the splits NUTS ran (like-for-like with the NUTS "
             "column). Published baselines: 20 splits, as printed in the papers.", "",
             f"Settings: `{json.dumps(results['settings'])}`", "", f"Single-threaded CPU seconds spent: "
             f"{results.get('seconds', {})}", ""]
    for metric in ("rmse", "nll"):
        lines += [f"## Test {metric.upper()}", "",
                  "| dataset | exact GP (20) | BNN-SVI | BNN-SGHMC | BNN-NUTS | BNN-NUTS (long) | exact GP on NUTS "
                  "splits | MC dropout (pub.) | deep ens. (pub.) |", "|---|---|---|---|---|---|---|---|---|"]
        for dataset, runs in results["runs"].items():
            gp_entry = gp.get(DATASETS[dataset], {})
            gp_splits = {s["split"]: s for s in gp_entry.get("splits", [])}
            cells = []
            for method in ("svi", "sghmc", "nuts", "nuts_long"):
                values = [runs[s][method][metric] for s in sorted(runs, key=int) if method in runs[s]]
                cells.append(f"{_mean_se(values)} ({len(values)})" if values else "-")
            nuts_splits = [int(s) for s in runs if "nuts" in runs[s]]
            gp_all = _mean_se([s[metric] for s in gp_splits.values()])
            gp_nuts = _mean_se([gp_splits[s][metric] for s in nuts_splits if s in gp_splits])
            published = gp_entry.get("published", {})
            pub = [f"{published[k][metric][0]:.2f} ± {published[k][metric][1]:.2f}" if k in published else "-"
                   for k in ("mc_dropout", "deep_ensembles")]
            lines.append(f"| {dataset} | {gp_all} | {' | '.join(cells)} | {gp_nuts} | {pub[0]} | {pub[1]} |")
        lines.append("")
    lines += ["## Function-space R-hat of the NUTS runs", "",
              "Per dataset and NUTS setting: min / median / max over the splits run of the largest f-space R-hat "
              "(definition below), and how many runs reach R-hat <= 1.01.", "",
              "| dataset | setting | runs | R-hat min / median / max | runs <= 1.01 | bulk ESS min (median) | "
              "tree-depth hits | divergences |", "|---|---|---|---|---|---|---|---|"]
    for dataset, runs in results["runs"].items():
        for method in NUTS_KEYS:
            rows = [runs[s][method] for s in sorted(runs, key=int) if method in runs[s]]
            if not rows:
                continue
            rhat = np.array([r["function_rhat_max"] for r in rows])
            ess = np.median([r["function_ess_bulk_min"] for r in rows])
            hits = sum(r["max_tree_depth_hits"] for r in rows) / sum(r["num_transitions"] for r in rows)
            draws = results["settings"][method]
            dense = ", dense mass" if draws.get("dense_mass") else ""
            setting = (f"{method} ({draws['num_warmup']} + {draws['num_samples']} x {draws['num_chains']}, "
                       f"depth {draws['max_tree_depth']}{dense})")
            lines.append(f"| {dataset} | {setting} | {len(rows)} | {rhat.min():.3f} / {np.median(rhat):.3f} / "
                         f"{rhat.max():.3f} | {int((rhat <= 1.01).sum())} of {len(rows)} | {ess:.0f} | "
                         f"{100 * hits:.0f} % | {sum(r['divergences'] for r in rows)} |")
    lines += ["", "## Diagnostics", "",
              "Function-space R-hat: split R-hat of the network output f at <= 100 training inputs across the 4 chains "
              "(parameter R-hat is not a convergence measure for networks: hidden units can be permuted and their "
              "signs flipped without changing f, so chains in equivalent modes disagree on every weight).", "",
              "| dataset | split | method | f-space R-hat max | f-space bulk ESS min | divergences | tree-depth hits "
              "/ transitions | seconds |", "|---|---|---|---|---|---|---|---|"]
    for dataset, runs in results["runs"].items():
        for split in sorted(runs, key=int):
            for method in (*NUTS_KEYS, "sghmc"):
                r = runs[split].get(method)
                if r is None or (method == "sghmc" and int(split) > 2):
                    continue
                hits = (f"{r['max_tree_depth_hits']} / {r['num_transitions']}" if method != "sghmc" else "-")
                lines.append(f"| {dataset} | {split} | {method} | {r['function_rhat_max']:.3f} | "
                             f"{r['function_ess_bulk_min']:.0f} | {r.get('divergences', '-')} | {hits} | "
                             f"{r['seconds']:.0f} |")
    sghmc_rhat = [r["sghmc"]["function_rhat_max"] for runs in results["runs"].values() for r in runs.values()
                  if "sghmc" in r]
    if sghmc_rhat:
        lines += ["", f"SGHMC f-space R-hat over all {len(sghmc_rhat)} runs: median {np.median(sghmc_rhat):.3f}, "
                  f"max {np.max(sghmc_rhat):.3f} (table above: splits 0-2 only)."]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--phase", choices=list(PHASES), default="fast")
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--split-list", type=int, nargs="*", default=None, help="run exactly these splits")
    parser.add_argument("--report", action="store_true", help="only rebuild the markdown from the JSON")
    args = parser.parse_args()
    if args.report:
        write(json.loads((RESULTS / "uci_bnn.json").read_text()), "uci_bnn")
        return
    try:
        resolve_uci_path(DATASETS[next(iter(DATASETS))])
    except InputError as error:
        print(f"UCI data not found ({error}); nothing to do")
        return
    import jax

    # Reuse XLA executables across processes (and across same-shape fits: the data are arguments).
    jax.config.update("jax_compilation_cache_dir", os.environ.get("PROBNN_JAX_CACHE", "/tmp/probnn_jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    torch.set_num_threads(1)
    settings = QUICK if args.quick else SETTINGS
    name = "uci_bnn_quick" if args.quick else "uci_bnn"
    path = RESULTS / f"{name}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    stored = results.get("settings", {})
    if any(stored[key] != settings[key] for key in stored.keys() & settings.keys()) or not stored:
        results = {"settings": settings, "runs": {}, "seconds": {}}
    results["settings"] = {**stored, **settings}  # a new method's settings join the old ones
    for dataset in args.datasets:
        results["runs"].setdefault(dataset, {})
    start = time.perf_counter()
    splits = args.split_list if args.split_list is not None else range(1 if args.quick else args.splits)
    for split in splits:
        for dataset in args.datasets:
            for method in PHASES[args.phase]:
                row = results["runs"][dataset].setdefault(str(split), {})
                if method in row:
                    continue
                if time.perf_counter() - start > 60 * args.budget_minutes:
                    print("budget spent", flush=True)
                    return
                began = time.perf_counter()
                row[method] = run_method(dataset, split, method, settings)
                results["seconds"][method] = results["seconds"].get(method, 0.0) + time.perf_counter() - began
                print(dataset, split, method, {k: v for k, v in row[method].items() if k in
                                               ("rmse", "nll", "seconds", "function_rhat_max")}, flush=True)
                write(results, name)


if __name__ == "__main__":
    main()
