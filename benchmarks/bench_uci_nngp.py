"""UCI regression and robustness: NNGP-GP vs Student-t NNGP (scale mixture, inverse-gamma) vs RBF GP.

For each dataset and split: standardise inputs and targets with training statistics, fit each model
by type-II maximum likelihood (L-BFGS, ``--iterations`` steps), report the test NLL per point (in the
original target units) and the RMSE of the predictive mean.

Models: ``GP(NNGPKernel(depth=2, relu))`` with learned noise; ``ScaleMixtureNNGP`` with the same
kernel and an ``InverseGamma(a, b)`` last-layer variance (``a, b`` learned; ``method="exact"``);
``GP()`` (RBF-ARD, foundation default).

Robustness (synthetic, stated in the results): ``y = sin(3x) + x/2 + Cauchy(0, 0.1)`` noise on
``x ~ U(-2, 2)`` (200 training points), tested (a) in range with Cauchy noise, (b) on shifted inputs
``x ~ U(2, 4)`` with Gaussian noise of std 0.1, over 5 seeds.

Usage: ``python benchmarks/bench_uci_nngp.py [--quick] [--splits K] [--max-train N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import probnn
from probnn.gp.nngp import NNGPKernel
from probnn.gp.scale_mixture import ScaleMixtureNNGP

RESULTS = Path(__file__).parent / "results"
# The shared data folder sits next to the repository (main checkout) or two levels up (worktrees).
_ROOT = Path(__file__).resolve().parents[1]
DATA = next((p for p in (_ROOT / ".." / "shared" / "data" / "uci", _ROOT / ".." / ".." / "shared" / "data" / "uci")
             if p.exists()), _ROOT / ".." / "shared" / "data" / "uci")
DATASETS = {"boston": "bostonHousing", "concrete": "concrete", "energy": "energy", "yacht": "yacht",
            "wine-quality-red": "wine-quality-red"}
D = torch.float64


def load_split(folder: str, split: int) -> tuple[np.ndarray, ...]:
    root = DATA / folder
    data = np.loadtxt(root / "data.txt")
    features = np.loadtxt(root / "index_features.txt").astype(int)
    target = int(np.loadtxt(root / "index_target.txt"))
    train = np.loadtxt(root / f"index_train_{split}.txt").astype(int)
    test = np.loadtxt(root / f"index_test_{split}.txt").astype(int)
    x, y = data[:, features], data[:, target]
    return x[train], y[train], x[test], y[test]


def models(iterations: int) -> dict:
    def kernel() -> NNGPKernel:
        return NNGPKernel(depth=2, activation="relu", weight_std=1.5, bias_std=0.2)

    inverse_gamma = torch.distributions.InverseGamma(torch.tensor(2.0, dtype=D), torch.tensor(2.0, dtype=D))
    return {
        "nngp_gp": (lambda: probnn.models.GP(kernel(), mean="zero"), "exact", {"max_iterations": iterations}),
        "student_t_nngp": (lambda: ScaleMixtureNNGP(kernel(), inverse_gamma), "exact",
                           {"max_iterations": iterations}),
        "rbf_gp": (lambda: probnn.models.GP(), "exact", {"max_iterations": iterations}),
    }


def evaluate(make, method, options, x, y, x_test, y_test, y_scale):
    start = time.perf_counter()
    posterior = probnn.fit(make(), x, y, method=method, progress=False, **options)
    prediction = posterior.predict(x_test)
    nll = float(-(prediction.log_prob(y_test)).mean()) + math.log(y_scale)
    rmse = float(((prediction.mean - y_test) ** 2).mean().sqrt()) * y_scale
    return {"nll": nll, "rmse": rmse, "seconds": time.perf_counter() - start}


def run_uci(args) -> list[dict]:
    rows = []
    for name, folder in DATASETS.items():
        if not (DATA / folder).exists():
            print(f"skip {name}: data folder absent")
            continue
        for split in range(args.splits):
            x, y, x_test, y_test = load_split(folder, split)
            rng = np.random.default_rng(split)
            if len(x) > args.max_train:
                keep = rng.choice(len(x), args.max_train, replace=False)
                x, y = x[keep], y[keep]
            mean, std = x.mean(0), x.std(0) + 1e-12
            y_mean, y_std = y.mean(), y.std()
            xt = torch.tensor((x - mean) / std, dtype=D)
            yt = torch.tensor((y - y_mean) / y_std, dtype=D)
            xs = torch.tensor((x_test - mean) / std, dtype=D)
            ys = torch.tensor((y_test - y_mean) / y_std, dtype=D)
            for model_name, (make, method, options) in models(args.iterations).items():
                result = evaluate(make, method, options, xt, yt, xs, ys, y_std)
                rows.append({"dataset": name, "split": split, "model": model_name, "num_train": len(x), **result})
                print(rows[-1], flush=True)
    return rows


def run_robustness(args) -> list[dict]:
    rows = []
    for seed in range(args.robust_seeds):
        g = np.random.default_rng(100 + seed)
        x = g.uniform(-2, 2, (200, 1))
        y = np.sin(3 * x[:, 0]) + x[:, 0] / 2 + 0.1 * g.standard_cauchy(200)
        x_in = g.uniform(-2, 2, (500, 1))
        y_in = np.sin(3 * x_in[:, 0]) + x_in[:, 0] / 2 + 0.1 * g.standard_cauchy(500)
        x_out = g.uniform(2, 4, (500, 1))
        y_out = np.sin(3 * x_out[:, 0]) + x_out[:, 0] / 2 + 0.1 * g.standard_normal(500)
        for setting, (x_test, y_test) in {"cauchy_noise_in_range": (x_in, y_in),
                                          "shifted_inputs_x_in_2_4": (x_out, y_out)}.items():
            for model_name, (make, method, options) in models(args.iterations).items():
                if model_name == "rbf_gp":
                    continue
                result = evaluate(make, method, options, torch.tensor(x, dtype=D), torch.tensor(y, dtype=D),
                                  torch.tensor(x_test, dtype=D), torch.tensor(y_test, dtype=D), 1.0)
                rows.append({"setting": setting, "seed": seed, "model": model_name, **result})
                print(rows[-1], flush=True)
    return rows


def summarise(rows, keys):
    table = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        table.setdefault(key, []).append(row)
    out = []
    for key, group in table.items():
        nll = np.array([r["nll"] for r in group])
        rmse = np.array([r["rmse"] for r in group])
        se = lambda v: float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
        out.append({**dict(zip(keys, key, strict=True)), "count": len(group), "nll_mean": float(nll.mean()),
                    "nll_se": se(nll), "rmse_mean": float(rmse.mean()), "rmse_se": se(rmse)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--max-train", type=int, default=600)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--robust-seeds", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.splits, args.max_train, args.iterations, args.robust_seeds = 1, 150, 10, 1
    torch.set_num_threads(1)
    uci = run_uci(args)
    robust = run_robustness(args)
    summary_uci = summarise(uci, ["dataset", "model"])
    summary_robust = summarise(robust, ["setting", "model"])
    name = "uci_nngp_quick" if args.quick else "uci_nngp"
    RESULTS.mkdir(exist_ok=True)
    settings = {"splits": args.splits, "max_train": args.max_train, "iterations": args.iterations,
                "robust_seeds": args.robust_seeds, "kernel": "NNGPKernel(depth=2, relu, init W_std=1.5, b_std=0.2)"}
    (RESULTS / f"{name}.json").write_text(json.dumps({"settings": settings, "uci": uci, "robustness": robust,
                                                      "summary_uci": summary_uci,
                                                      "summary_robustness": summary_robust}, indent=2))
    lines = ["# UCI and robustness: NNGP-GP vs Student-t NNGP vs RBF GP", "",
             f"Settings: {json.dumps(settings)}. Splits 0..{args.splits - 1} of the standard 20 "
             f"(scaled down for the shared 2-core machine); training sets larger than {args.max_train} "
             "points are subsampled at random (seed = split). NLL per test point in original units; "
             "mean +- standard error over splits.", "",
             "| dataset | model | NLL | RMSE |", "|---|---|---|---|"]
    for row in summary_uci:
        lines.append(f"| {row['dataset']} | {row['model']} | {row['nll_mean']:.3f} +- {row['nll_se']:.3f} | "
                     f"{row['rmse_mean']:.3f} +- {row['rmse_se']:.3f} |")
    lines += ["", "## Robustness (synthetic; see the script docstring for the setup)", "",
              "| setting | model | NLL | RMSE |", "|---|---|---|---|"]
    for row in summary_robust:
        lines.append(f"| {row['setting']} | {row['model']} | {row['nll_mean']:.3f} +- {row['nll_se']:.3f} | "
                     f"{row['rmse_mean']:.3f} +- {row['rmse_se']:.3f} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
