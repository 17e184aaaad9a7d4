"""Benchmark: sparse subspace VI (SSVI) vs dense mean-field VI and a static random mask.

Datasets: scikit-learn digits (10-class, 64 features; MLP BNN) and UCI concrete (regression,
standard split files from ../shared/data/uci). For each seed:

* dense mean-field VI: the same sparse layers at density 1.0 with no mask updates
  (``method="ssvi", density=1.0, static_mask=True``; the inference branch's ``method="svi"`` was
  not available when this was written), same steps, batch, optimiser and KL tempering;
* SSVI at densities 0.05, 0.1, 0.2 (SNR removal, gradient growth, defaults of the paper);
* a static random mask at the same densities (no removal/addition).

Metrics on the test set: accuracy / RMSE (original units), NLL per point, ECE (15-bin top-label
for classification; for regression the mean |empirical coverage - level| of central intervals via
PIT over levels 0.05..0.95), training FLOPs (counted from the active weights, see
``probnn.inference.ssvi``), and wall time. Run ``python benchmarks/bench_ssvi.py [--quick]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import probnn  # noqa: E402

# <repo>/../shared (main checkout) or <repo>/../../shared (a worktree under /work/wt/<name>)
UCI = next((path for path in (ROOT / ".." / "shared" / "data" / "uci", ROOT / ".." / ".." / "shared" / "data" / "uci")
            if path.exists()), ROOT / ".." / "shared" / "data" / "uci")
RESULTS = ROOT / "benchmarks" / "results"


def load_digits_split(seed: int = 0):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float64)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    train, test = order[:1437], order[1437:]
    return x[train], y[train], x[test], y[test]


def load_uci_split(name: str, split: int = 0):
    folder = UCI / name
    data = np.loadtxt(folder / "data.txt")
    features = np.loadtxt(folder / "index_features.txt").astype(int)
    target = int(np.loadtxt(folder / "index_target.txt"))
    train = np.loadtxt(folder / f"index_train_{split}.txt").astype(int)
    test = np.loadtxt(folder / f"index_test_{split}.txt").astype(int)
    x, y = torch.tensor(data[:, features]), torch.tensor(data[:, target])
    return x[train], y[train], x[test], y[test]


def classification_metrics(predictive, y) -> dict[str, float]:
    probs = predictive.probs
    confidence, predicted = probs.max(-1)
    correct = (predicted == y).double()
    bins = torch.linspace(0, 1, 16)  # 15 equal-width confidence bins (the usual ECE setting)
    ece = 0.0
    for low, high in itertools.pairwise(bins.tolist()):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += float(inside.double().mean() * (correct[inside].mean() - confidence[inside].mean()).abs())
    return {"accuracy": float(correct.mean()), "nll": float(-predictive.log_prob(y).mean()), "ece": ece}


def regression_metrics(predictive, y, scale: float) -> dict[str, float]:
    rmse = float(((predictive.mean - y) ** 2).mean().sqrt()) * scale
    nll = float(-predictive.log_prob(y).mean()) + math.log(scale)
    pit = predictive.cdf(y)
    levels = torch.linspace(0.05, 0.95, 19, dtype=pit.dtype)
    inside = ((pit.unsqueeze(0) >= (0.5 - levels / 2).unsqueeze(1))
              & (pit.unsqueeze(0) <= (0.5 + levels / 2).unsqueeze(1))).double().mean(1)
    return {"rmse": rmse, "nll": nll, "ece": float((inside - levels).abs().mean())}


def run(task: str, variant: str, density: float, seed: int, settings: dict) -> dict:
    if task == "digits":
        x_train, y_train, x_test, y_test = load_digits_split(0)
        model = probnn.models.BNN(64, hidden=settings["hidden"], out_features=10, activation="relu",
                                  likelihood="categorical")
        scale = 1.0
    else:
        x_train, y_train, x_test, y_test = load_uci_split(task, 0)
        x_mean, x_std = x_train.mean(0), x_train.std(0).clamp_min(1e-8)
        y_mean, scale = float(y_train.mean()), float(y_train.std())
        x_train, x_test = (x_train - x_mean) / x_std, (x_test - x_mean) / x_std
        y_train, y_test = (y_train - y_mean) / scale, (y_test - y_mean) / scale
        model = probnn.models.BNN(x_train.shape[1], hidden=settings["hidden"], out_features=1, activation="relu",
                                  likelihood="gaussian", noise="learned")
    options = dict(num_steps=settings["num_steps"], batch_size=settings["batch_size"],
                   learning_rate=settings["learning_rate"], num_predictive_samples=settings["num_predictive_samples"],
                   generator=seed, progress=False)
    if variant == "dense":
        options.update(density=1.0, static_mask=True)
    else:
        options.update(density=density, static_mask=(variant == "static"))
    start = time.perf_counter()
    posterior = probnn.fit(model, x_train, y_train, method="ssvi", **options)
    wall = time.perf_counter() - start
    predictive = posterior.predict(x_test)
    metrics = (classification_metrics(predictive, y_test) if task == "digits"
               else regression_metrics(predictive, y_test, scale))
    flops = posterior.summary()["flops"]
    return {"task": task, "variant": variant, "density": 1.0 if variant == "dense" else density, "seed": seed,
            **metrics, "training_flops": flops["training_total"], "dense_training_flops": flops["dense_training_total"],
            "prediction_flops_per_example_per_draw": flops["prediction_per_example_per_draw"],
            "num_active": posterior.fit_info["num_active"], "num_weights": posterior.fit_info["num_weights"],
            "wall_seconds": wall}


def aggregate(rows: list[dict], task: str) -> list[dict]:
    keys = ["accuracy", "nll", "ece"] if task == "digits" else ["rmse", "nll", "ece"]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["task"] == task:
            groups.setdefault((row["variant"], row["density"]), []).append(row)
    summary = []
    for (variant, density), items in groups.items():
        entry = {"task": task, "variant": variant, "density": density, "num_seeds": len(items)}
        for key in [*keys, "training_flops", "wall_seconds", "num_active"]:
            values = [item[key] for item in items]
            entry[key] = statistics.fmean(values)
            entry[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary.append(entry)
    return summary


def checks(summary: list[dict], task: str) -> list[dict]:
    by = {(e["variant"], e["density"]): e for e in summary}
    dense = by[("dense", 1.0)]
    main = by.get(("ssvi", 0.1))
    static = by.get(("static", 0.1))
    out = []
    if main is None:
        return out
    if task == "digits":
        out.append({"check": "accuracy within 1% (absolute points) of dense VI",
                    "value": main["accuracy"] - dense["accuracy"],
                    "holds": main["accuracy"] >= dense["accuracy"] - 0.01})
    else:
        out.append({"check": "RMSE within 1% (relative) of dense VI", "value": main["rmse"] / dense["rmse"] - 1,
                    "holds": main["rmse"] <= 1.01 * dense["rmse"]})
    # NLL can be negative in regression, so compare on the difference scaled by |dense NLL|.
    out.append({"check": "NLL no worse than dense VI by more than 5%",
                "value": (main["nll"] - dense["nll"]) / abs(dense["nll"]),
                "holds": main["nll"] <= dense["nll"] + 0.05 * abs(dense["nll"])})
    out.append({"check": "ECE no worse than dense VI by more than 5%", "value": main["ece"] / dense["ece"] - 1,
                "holds": main["ece"] <= 1.05 * dense["ece"]})
    ratio = dense["training_flops"] / main["training_flops"]
    out.append({"check": "training FLOPs >= 5x lower than dense VI", "value": ratio, "holds": ratio >= 5})
    if static is not None:
        metric = "accuracy" if task == "digits" else "rmse"
        better = main[metric] > static[metric] if task == "digits" else main[metric] < static[metric]
        out.append({"check": f"static random mask at 0.1 does worse ({metric})", "value": static[metric],
                    "holds": bool(better and main["nll"] < static["nll"])})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, few steps")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", default="digits,concrete")
    parser.add_argument("--rows-from", default=None,
                        help="rebuild the report from the JSON rows a previous run printed (one per line)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {
        "digits": dict(hidden=[200, 200], num_steps=2500, batch_size=128, learning_rate=3e-3,
                       num_predictive_samples=100),
        "concrete": dict(hidden=[200, 200], num_steps=2500, batch_size=128, learning_rate=3e-3,
                         num_predictive_samples=100),
    }
    seeds = list(range(args.seeds))
    if args.quick:
        for value in settings.values():
            value.update(num_steps=300)
        seeds = [0]
    tasks = args.tasks.split(",")
    if "concrete" in tasks and not (UCI / "concrete").exists():
        print("UCI data folder absent; skipping concrete")
        tasks.remove("concrete")
    rows = []
    if args.rows_from:
        for line in Path(args.rows_from).read_text().splitlines():
            if line.startswith("{"):
                rows.append(json.loads(line))
        # keep only the seeds that finished every variant of a task (a cut-short run is not mixed in)
        complete = {(row["task"], row["seed"]) for row in rows
                    if sum(r["task"] == row["task"] and r["seed"] == row["seed"] for r in rows) == 7}
        rows = [row for row in rows if (row["task"], row["seed"]) in complete]
        tasks = [task for task in tasks if any(row["task"] == task for row in rows)]
        seeds = sorted({row["seed"] for row in rows})
    for task in tasks if not args.rows_from else []:
        for seed in seeds:
            plan = [("dense", 1.0)] + [(v, d) for d in (0.05, 0.1, 0.2) for v in ("ssvi", "static")]
            for variant, density in plan:
                row = run(task, variant, density, seed, settings[task])
                rows.append(row)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}),
                      flush=True)
    report = {"settings": settings, "seeds": seeds, "quick": args.quick, "rows": rows, "summary": {}, "checks": {}}
    lines = ["# SSVI benchmark", "", f"Settings: {json.dumps(settings)}; seeds {seeds}; quick={args.quick}.",
             "Dense baseline: the same mean-field layers at density 1.0, no mask updates (probnn's own dense VI; "
             "`method='svi'` was not on this branch when this ran; see ssvi_svi_reference.json). "
             "Mean +- sd over seeds. FLOPs counted from active weights.", ""]
    for task in tasks:
        summary = aggregate(rows, task)
        report["summary"][task] = summary
        report["checks"][task] = checks(summary, task)
        first = "accuracy" if task == "digits" else "rmse"
        lines += [f"## {task}", "", f"| variant | density | active weights | {first} | NLL | ECE | training GFLOPs "
                  "| dense/sparse FLOPs | wall s |", "|---|---|---|---|---|---|---|---|---|"]
        dense_flops = next(e["training_flops"] for e in summary if e["variant"] == "dense")
        for e in sorted(summary, key=lambda e: (e["variant"] != "dense", e["density"], e["variant"])):
            lines.append(f"| {e['variant']} | {e['density']} | {e['num_active']:.0f} "
                         f"| {e[first]:.4f} +- {e[first + '_sd']:.4f} "
                         f"| {e['nll']:.4f} +- {e['nll_sd']:.4f} | {e['ece']:.4f} +- {e['ece_sd']:.4f} "
                         f"| {e['training_flops'] / 1e9:.2f} | {dense_flops / e['training_flops']:.1f}x "
                         f"| {e['wall_seconds']:.1f} |")
        lines += ["", "| check (density 0.1) | value | holds |", "|---|---|---|"]
        for c in report["checks"][task]:
            lines.append(f"| {c['check']} | {c['value']:.4f} | {c['holds']} |")
        lines.append("")
    name = ("ssvi_quick" if args.quick else "ssvi") + ("" if args.tasks == "digits,concrete" else "_" + "_".join(tasks))
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1))
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
