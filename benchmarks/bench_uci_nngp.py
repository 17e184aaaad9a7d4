"""UCI regression: NNGP-GP vs Student-t NNGP (scale mixture, inverse-gamma) vs the RBF GP baseline.

Data: boston, concrete, energy, yacht, wine-quality-red, all 20 standard splits, full training sets
(no subsampling; at most 1439 points), loaded with ``probnn.datasets.load_uci`` (inputs and targets
standardised with training statistics). Metrics (``probnn.metrics.regression_metrics``
on the predictive mapped back to original units, the pipeline of ``bench_uci_gp.py``): test NLL per
point, RMSE, CRPS, 90 % interval coverage.

Models (``torch.float64``, one thread):

* ``nngp_gp``: ``GP(NNGPKernel(depth=2, relu, W_std=1.5, b_std=0.2), mean="zero")`` with learned
  noise (initial 0.1), type-II ML by L-BFGS (strong Wolfe), ``--iterations`` iterations.
* ``student_t_nngp``: ``ScaleMixtureNNGP`` with the same kernel and a learned ``InverseGamma(a, b)``
  last-layer variance (``method="exact"``: multivariate-t marginal, Student-t predictive), type-II
  MAP under the default weakly informative hyperpriors (see ``docs/gp.md``). Warm start: the kernel
  hyperparameters and noise of the fitted ``nngp_gp`` of the same split, ``a = b = 10`` (``nu = 20``,
  the hyperprior mean; ``b / a = 1`` keeps the GP's covariance scale), then ``--student-iterations``
  L-BFGS iterations.
* ``rbf_gp``: not refitted; the per-split figures of ``benchmarks/results/uci_gp.json``
  (``GP()``: RBF-ARD, constant mean, learned noise, type-II ML, 60 L-BFGS iterations, same splits
  and metrics).

Every finished (dataset, split) row is appended to ``benchmarks/results/uci_nngp.json`` at once and
a rerun skips rows already there, so an interrupted run keeps and resumes its results.
Usage: ``python benchmarks/bench_uci_nngp.py [--quick] [--datasets boston yacht] [--splits K]``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

import probnn
from probnn import metrics
from probnn.datasets import load_uci, num_splits
from probnn.datasets.uci import resolve_uci_path
from probnn.gp.nngp import NNGPKernel
from probnn.gp.regression import MIN_NOISE
from probnn.gp.scale_mixture import ScaleMixtureNNGP

RESULTS = Path(__file__).parent / "results"
#: Our names -> the shared folder names (and the keys of uci_gp.json).
DATASETS = {"boston": "bostonHousing", "concrete": "concrete", "energy": "energy", "yacht": "yacht",
            "wine-quality-red": "wine-quality-red"}
MODELS = ("nngp_gp", "student_t_nngp", "rbf_gp")
D = torch.float64


def _kernel() -> NNGPKernel:
    return NNGPKernel(depth=2, activation="relu", weight_std=1.5, bias_std=0.2)


def _scores(posterior, data) -> dict:
    with torch.no_grad():
        predictive = data.to_original(posterior.predict(data.x_test))
    scores = metrics.regression_metrics(predictive, data.y_test_original)
    return {key: float(scores[key]) for key in ("nll", "rmse", "crps", "coverage_90")}


def _hyperparameters(model) -> dict:
    return {"weight_std": float(model.kernel.weight_std.detach()), "bias_std": float(model.kernel.bias_std.detach()),
            "noise": float(model.noise.detach())}


def run_split(folder: str, split: int, iterations: int, student_iterations: int) -> list[dict]:
    data = load_uci(folder, split)
    rows = []
    start = time.perf_counter()
    gp = probnn.fit(probnn.models.GP(_kernel(), mean="zero"), data.x_train, data.y_train, method="exact",
                    max_iterations=iterations, progress=False)
    fitted = gp.model
    rows.append({"model": "nngp_gp", **_scores(gp, data), "fit_seconds": time.perf_counter() - start,
                 **_hyperparameters(fitted)})
    start = time.perf_counter()
    kernel = _kernel()
    kernel.initialize(weight_std=fitted.kernel.weight_std.detach(), bias_std=fitted.kernel.bias_std.detach())
    prior = torch.distributions.InverseGamma(torch.tensor(10.0, dtype=D), torch.tensor(10.0, dtype=D))
    # initial_noise must exceed the noise floor MIN_NOISE = 1e-6 that a GP fit can reach (energy does).
    model = ScaleMixtureNNGP(kernel, prior, noise="learned",
                             initial_noise=max(float(fitted.noise.detach()), 2 * MIN_NOISE))
    student = probnn.fit(model, data.x_train, data.y_train, method="exact", max_iterations=student_iterations,
                         progress=False)
    info = student.fit_info
    rows.append({"model": "student_t_nngp", **_scores(student, data), "fit_seconds": time.perf_counter() - start,
                 **_hyperparameters(student.model), "a": info["scale_prior_concentration"],
                 "b": info["scale_prior_rate"]})
    return [{"dataset": None, "split": split, "num_train": int(data.x_train.shape[0]), **row} for row in rows]


def _standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def summarise(rows: list[dict], rbf: dict) -> list[dict]:
    """Mean +- s.e. over splits per (dataset, model), and the paired Student-t - NNGP-GP difference."""
    out = []
    for name, folder in DATASETS.items():
        splits = sorted({row["split"] for row in rows if row["dataset"] == name})
        if not splits:
            continue
        by_model = {model: {row["split"]: row for row in rows if row["dataset"] == name and row["model"] == model}
                    for model in ("nngp_gp", "student_t_nngp")}
        by_model["rbf_gp"] = {entry["split"]: entry for entry in rbf.get(folder, {}).get("splits", [])}
        entry: dict = {"dataset": name, "splits": len(splits)}
        for model, table in by_model.items():
            for key in ("nll", "rmse"):
                values = np.array([table[s][key] for s in splits if s in table])
                entry[f"{model}_{key}"] = (float(values.mean()), _standard_error(values), len(values))
        for key in ("nll", "rmse"):
            difference = np.array([by_model["student_t_nngp"][s][key] - by_model["nngp_gp"][s][key]
                                   for s in splits])
            entry[f"student_t_minus_nngp_{key}"] = (float(difference.mean()), _standard_error(difference))
        entry["student_t_nu_median"] = float(np.median([2 * by_model["student_t_nngp"][s]["a"] for s in splits]))
        out.append(entry)
    return out


def write(report: dict, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    rbf = json.loads((RESULTS / "uci_gp.json").read_text())["datasets"]
    report["summary"] = summarise(report["rows"], rbf)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
    settings = report["settings"]
    lines = ["# UCI: NNGP-GP vs Student-t NNGP vs RBF GP", "",
             f"Settings: {json.dumps(settings)}.", "",
             "All standard splits, full training sets (no subsampling). Test NLL per point and RMSE in original "
             "units, mean +- standard error over splits. `rbf_gp`: the per-split figures of "
             "`benchmarks/results/uci_gp.json` (RBF-ARD GP, constant mean, type-II ML, 60 L-BFGS iterations), "
             "not refitted. Paired difference: Student-t minus NNGP-GP on the same split (negative = Student-t "
             "better). nu: median fitted degrees of freedom 2a.", "",
             "| dataset | splits | NNGP-GP NLL | Student-t NLL | RBF GP NLL | NNGP-GP RMSE | Student-t RMSE "
             "| RBF GP RMSE | Student-t - NNGP NLL (paired) | Student-t - NNGP RMSE (paired) | nu |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(value: tuple) -> str:
        return f"{value[0]:.3f} +- {value[1]:.3f}"

    for entry in report["summary"]:
        lines.append(f"| {entry['dataset']} | {entry['splits']} | {cell(entry['nngp_gp_nll'])} | "
                     f"{cell(entry['student_t_nngp_nll'])} | {cell(entry['rbf_gp_nll'])} | "
                     f"{cell(entry['nngp_gp_rmse'])} | {cell(entry['student_t_nngp_rmse'])} | "
                     f"{cell(entry['rbf_gp_rmse'])} | {cell(entry['student_t_minus_nngp_nll'])} | "
                     f"{cell(entry['student_t_minus_nngp_rmse'])} | {entry['student_t_nu_median']:.1f} |")
    seconds = {model: [row["fit_seconds"] for row in report["rows"] if row["model"] == model]
               for model in ("nngp_gp", "student_t_nngp")}
    lines += ["", "Fit time per split (s, median over all rows): " + ", ".join(
        f"{model} {np.median(values):.1f}" for model, values in seconds.items() if values) + "."]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--splits", type=int, default=None, help="first K splits (default: all)")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--student-iterations", type=int, default=30)
    args = parser.parse_args()
    if args.quick:
        args.datasets, args.splits, args.iterations, args.student_iterations = ["yacht"], 1, 10, 5
    torch.set_num_threads(1)
    name = "uci_nngp_quick" if args.quick else "uci_nngp"
    settings = {"iterations": args.iterations, "student_iterations": args.student_iterations,
                "kernel": "NNGPKernel(depth=2, relu, init W_std=1.5, b_std=0.2)", "dtype": "float64",
                "torch_threads": 1, "machine": platform.machine(), "torch": torch.__version__}
    path = RESULTS / f"{name}.json"
    report = json.loads(path.read_text()) if path.exists() else {"rows": []}
    if report.get("settings", settings) != settings:  # a different protocol: start over
        report = {"rows": []}
    report["settings"] = settings
    done = {(row["dataset"], row["split"]) for row in report["rows"]}
    for name_short in args.datasets:
        folder = DATASETS[name_short]
        try:
            resolve_uci_path(folder)
        except Exception as error:  # the shared data folder is absent
            print(f"skip {name_short}: {error}")
            continue
        count = num_splits(folder) if args.splits is None else min(args.splits, num_splits(folder))
        for split in range(count):
            if (name_short, split) in done:
                continue
            rows = run_split(folder, split, args.iterations, args.student_iterations)
            for row in rows:
                row["dataset"] = name_short
                print({key: (round(value, 4) if isinstance(value, float) else value) for key, value in row.items()},
                      flush=True)
            report["rows"] += rows
            write(report, name)


if __name__ == "__main__":
    main()
