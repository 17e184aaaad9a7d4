"""Robustness of the Student-t NNGP (scale mixture) vs the NNGP-GP: heavy-tailed noise and shifted inputs.

Both models and their fits are those of ``bench_uci_nngp.py``: ``nngp_gp`` = ``GP(NNGPKernel(depth=2,
relu, W_std=1.5, b_std=0.2), mean="zero")``, type-II ML (L-BFGS, 50 iterations);
``student_t_nngp`` = ``ScaleMixtureNNGP`` with the same kernel and a learned ``InverseGamma(a, b)``,
type-II MAP under the default hyperpriors, warm-started from the fitted ``nngp_gp`` (``a = b = 10``),
30 L-BFGS iterations. Inputs and targets are standardised with training statistics; NLL per test
point and RMSE are in original units. Every comparison is *paired* (same data for both models) and
we report the mean Student-t - NNGP-GP difference with its standard error over the pairs
(negative = Student-t better) and how many pairs the Student-t wins.

Settings (each one a set of independent pairs):

1. ``cauchy_noise``: ``y = f(x) + 0.1 * Cauchy`` with ``x ~ U(-2, 2)`` (200 training, 500 test
   points, test noise also Cauchy), ``f`` in {``sin(3x) + x/2``, ``tanh(2x) - x^2/4``,
   ``|x| - 1``}, 10 seeds each (30 pairs).
2. ``shifted_synthetic``: the same functions with Gaussian noise of std 0.1, training on
   ``x ~ U(-2, 2)``, testing on ``x ~ U(2, 4)`` (outside the training range), 10 seeds each (30 pairs).
3. ``shifted_uci``: covariate-shift splits of the five UCI sets of ``bench_uci_nngp.py`` (boston,
   concrete, energy, yacht, wine-quality-red): project the standardised inputs on one of the first
   two principal components (of the whole set), train on the 80 % of points with the lowest
   (direction "+") or highest (direction "-") projection and test on the other 20 %, i.e. the test
   inputs lie beyond the training range along that component: 5 sets x 2 components x 2 directions
   (20 pairs).

Rows are appended to ``benchmarks/results/nngp_robustness.json`` as they finish; a rerun skips
finished rows. Usage: ``python benchmarks/bench_nngp_robustness.py [--quick] [--seeds K]``.
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
from scipy import stats

import probnn
from probnn import metrics
from probnn.datasets.uci import resolve_uci_path
from probnn.gp.nngp import NNGPKernel
from probnn.gp.regression import MIN_NOISE
from probnn.gp.scale_mixture import ScaleMixtureNNGP

RESULTS = Path(__file__).parent / "results"
D = torch.float64
FUNCTIONS = {"sin": lambda x: np.sin(3 * x) + x / 2, "tanh_quadratic": lambda x: np.tanh(2 * x) - x**2 / 4,
             "abs": lambda x: np.abs(x) - 1}
UCI = {"boston": "bostonHousing", "concrete": "concrete", "energy": "energy", "yacht": "yacht",
       "wine-quality-red": "wine-quality-red"}
#: Fraction of a UCI set used for training in a covariate-shift split (the rest, beyond it, is the test set).
TRAIN_FRACTION = 0.8


def _kernel() -> NNGPKernel:
    return NNGPKernel(depth=2, activation="relu", weight_std=1.5, bias_std=0.2)


def fit_and_score(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, iterations: int,
                  student_iterations: int) -> dict[str, dict]:
    """Standardise with training statistics, fit both models, score in original units."""
    x_mean, x_std = x.mean(0), x.std(0)
    # A feature constant on the training set (e.g. boston's binary CHAS in a shifted split) is only centred:
    # dividing by its zero std would send the test inputs to +-1e12.
    x_std = np.where(x_std > 1e-8, x_std, 1.0)
    y_mean, y_std = y.mean(), y.std()

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.tensor(values, dtype=D)

    xt, yt = tensor((x - x_mean) / x_std), tensor((y - y_mean) / y_std)
    xs, ys = tensor((x_test - x_mean) / x_std), tensor(y_test)

    def score(posterior) -> dict:
        with torch.no_grad():
            predictive = posterior.predict(xs).affine(y_mean, y_std)
        result = metrics.regression_metrics(predictive, ys)
        return {"nll": float(result["nll"]), "rmse": float(result["rmse"])}

    start = time.perf_counter()
    gp = probnn.fit(probnn.models.GP(_kernel(), mean="zero"), xt, yt, method="exact", max_iterations=iterations,
                    progress=False)
    out = {"nngp_gp": {**score(gp), "fit_seconds": time.perf_counter() - start}}
    start = time.perf_counter()
    kernel = _kernel()
    kernel.initialize(weight_std=gp.model.kernel.weight_std.detach(), bias_std=gp.model.kernel.bias_std.detach())
    prior = torch.distributions.InverseGamma(torch.tensor(10.0, dtype=D), torch.tensor(10.0, dtype=D))
    # initial_noise must exceed the noise floor MIN_NOISE = 1e-6 that a GP fit can reach (energy does).
    model = ScaleMixtureNNGP(kernel, prior, noise="learned",
                             initial_noise=max(float(gp.model.noise.detach()), 2 * MIN_NOISE))
    student = probnn.fit(model, xt, yt, method="exact", max_iterations=student_iterations, progress=False)
    out["student_t_nngp"] = {**score(student), "fit_seconds": time.perf_counter() - start,
                             "a": student.fit_info["scale_prior_concentration"]}
    return out


def synthetic_cases(seeds: int) -> list[tuple[str, str, int]]:
    return [(setting, function, seed) for setting in ("cauchy_noise", "shifted_synthetic")
            for function in FUNCTIONS for seed in range(seeds)]


def synthetic_data(setting: str, function: str, seed: int) -> tuple[np.ndarray, ...]:
    generator = np.random.default_rng(1000 + 100 * list(FUNCTIONS).index(function) + seed)
    f = FUNCTIONS[function]
    x = generator.uniform(-2, 2, (200, 1))
    if setting == "cauchy_noise":
        y = f(x[:, 0]) + 0.1 * generator.standard_cauchy(200)
        x_test = generator.uniform(-2, 2, (500, 1))
        y_test = f(x_test[:, 0]) + 0.1 * generator.standard_cauchy(500)
    else:
        y = f(x[:, 0]) + 0.1 * generator.standard_normal(200)
        x_test = generator.uniform(2, 4, (500, 1))
        y_test = f(x_test[:, 0]) + 0.1 * generator.standard_normal(500)
    return x, y, x_test, y_test


def uci_shift_data(folder: str, component: int, direction: str) -> tuple[np.ndarray, ...]:
    root = resolve_uci_path(folder)
    data = np.loadtxt(root / "data.txt")
    features = np.loadtxt(root / "index_features.txt").astype(int)
    target = int(np.loadtxt(root / "index_target.txt"))
    x, y = data[:, features], data[:, target]
    z = (x - x.mean(0)) / (x.std(0) + 1e-12)
    _, _, vh = np.linalg.svd(z, full_matrices=False)
    projection = z @ vh[component] * (1 if direction == "+" else -1)
    order = np.argsort(projection, kind="stable")
    cut = int(TRAIN_FRACTION * len(order))
    train, test = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]


def _standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for setting in ("cauchy_noise", "shifted_synthetic", "shifted_uci"):
        group = [row for row in rows if row["setting"] == setting]
        if not group:
            continue
        entry: dict = {"setting": setting, "pairs": len(group)}
        for key in ("nll", "rmse"):
            gp = np.array([row["nngp_gp"][key] for row in group])
            student = np.array([row["student_t_nngp"][key] for row in group])
            difference = student - gp
            entry[key] = {"nngp_gp": (float(gp.mean()), _standard_error(gp)),
                          "student_t_nngp": (float(student.mean()), _standard_error(student)),
                          "difference": (float(difference.mean()), _standard_error(difference)),
                          "difference_median": float(np.median(difference)),
                          "student_t_wins": int((difference < 0).sum()),
                          "wilcoxon_p": float(stats.wilcoxon(difference).pvalue) if len(group) > 1 else math.nan,
                          "sign_test_p": float(stats.binomtest(int((difference < 0).sum()), len(group)).pvalue)}
        entry["nu_median"] = float(np.median([2 * row["student_t_nngp"]["a"] for row in group]))
        out.append(entry)
    return out


def write(report: dict, name: str) -> None:
    report["summary"] = summarise(report["rows"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
    lines = ["# Robustness: Student-t NNGP vs NNGP-GP (paired)", "",
             f"Settings: {json.dumps(report['settings'])}. Setup: see the docstring of "
             "`benchmarks/bench_nngp_robustness.py` (cauchy_noise: 3 functions x seeds, heavy-tailed noise in "
             "range; shifted_synthetic: same functions, train x in [-2, 2], test x in [2, 4]; shifted_uci: "
             "5 UCI sets x 2 principal components x 2 directions, train on the lowest 80 % of the projection, "
             "test on the highest 20 %). Difference = Student-t - NNGP-GP per pair (negative: Student-t "
             "better), mean +- s.e. over pairs; wins = pairs where the Student-t is better; two-sided p-values of "
             "the Wilcoxon signed-rank and sign tests of the NLL differences.", "",
             "| setting | pairs | NNGP-GP NLL | Student-t NLL | NLL difference | median NLL diff. | NLL wins "
             "| Wilcoxon p | sign p | NNGP-GP RMSE | Student-t RMSE | RMSE difference | nu (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(value: tuple) -> str:
        return f"{value[0]:.3f} +- {value[1]:.3f}"

    for entry in report["summary"]:
        nll, rmse = entry["nll"], entry["rmse"]
        lines.append(f"| {entry['setting']} | {entry['pairs']} | {cell(nll['nngp_gp'])} | "
                     f"{cell(nll['student_t_nngp'])} | {cell(nll['difference'])} | {nll['difference_median']:.3f} | "
                     f"{nll['student_t_wins']}/{entry['pairs']} | {nll['wilcoxon_p']:.2g} | {nll['sign_test_p']:.2g} | "
                     f"{cell(rmse['nngp_gp'])} | "
                     f"{cell(rmse['student_t_nngp'])} | {cell(rmse['difference'])} | {entry['nu_median']:.1f} |")
    lines += ["", "Per function / data set (the second part of the case name):", "",
              "| setting | group | pairs | NNGP-GP NLL | NLL difference | NLL wins |", "|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in report["rows"]:
        groups.setdefault((row["setting"], row["case"].split("/")[1]), []).append(row)
    for (setting, group_name), group in groups.items():
        difference = np.array([row["student_t_nngp"]["nll"] - row["nngp_gp"]["nll"] for row in group])
        gp = np.array([row["nngp_gp"]["nll"] for row in group])
        lines.append(f"| {setting} | {group_name} | {len(group)} | {cell((gp.mean(), _standard_error(gp)))} | "
                     f"{cell((difference.mean(), _standard_error(difference)))} | {int((difference < 0).sum())}"
                     f"/{len(group)} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--student-iterations", type=int, default=30)
    parser.add_argument("--skip-uci", action="store_true")
    parser.add_argument("--summarise-only", action="store_true", help="rewrite the summary of the saved rows")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.iterations, args.student_iterations = 1, 10, 5
    torch.set_num_threads(1)
    name = "nngp_robustness_quick" if args.quick else "nngp_robustness"
    settings = {"seeds_per_function": args.seeds, "iterations": args.iterations,
                "student_iterations": args.student_iterations, "train_fraction_uci": TRAIN_FRACTION,
                "kernel": "NNGPKernel(depth=2, relu, init W_std=1.5, b_std=0.2)", "dtype": "float64",
                "torch_threads": 1, "machine": platform.machine(), "torch": torch.__version__}
    path = RESULTS / f"{name}.json"
    report = json.loads(path.read_text()) if path.exists() else {"rows": []}
    if report.get("settings", settings) != settings:
        report = {"rows": []}
    report["settings"] = settings
    if args.summarise_only:
        write(report, name)
        return
    done = {row["case"] for row in report["rows"]}
    cases: list[tuple[str, str, tuple]] = [(setting, f"{setting}/{function}/{seed}", (setting, function, seed))
                                          for setting, function, seed in synthetic_cases(args.seeds)]
    if not args.skip_uci:
        uci = list(UCI.items())[:1] if args.quick else list(UCI.items())
        for short, folder in uci:
            try:
                resolve_uci_path(folder)
            except Exception as error:  # the shared data folder is absent
                print(f"skip {short}: {error}")
                continue
            for component in (0, 1):
                for direction in ("+", "-"):
                    cases.append(("shifted_uci", f"shifted_uci/{short}/pc{component + 1}{direction}",
                                  (folder, component, direction)))
    for setting, case, arguments in cases:
        if case in done:
            continue
        data = uci_shift_data(*arguments) if setting == "shifted_uci" else synthetic_data(*arguments)
        scores = fit_and_score(*data, args.iterations, args.student_iterations)
        row = {"setting": setting, "case": case, "num_train": len(data[0]), "num_test": len(data[2]), **scores}
        report["rows"].append(row)
        print(json.dumps(row), flush=True)
        write(report, name)


if __name__ == "__main__":
    main()
