"""Classification: NNGP classifier (s2 = 1) vs scale-mixture NNGP (s2 ~ IG(a, b), q(s2) inverse gamma),
both sparse variational (``method="svgp"``), on scikit-learn's breast_cancer (binary, Bernoulli) and
digits (10 classes, categorical). Inputs standardised; stratified 70/30 splits; accuracy, test NLL and
ECE (15 equal-width confidence bins). Usage: ``python benchmarks/bench_nngp_classification.py [--quick]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split

import probnn
from probnn.gp.classification import ScaleMixtureNNGPClassifier

RESULTS = Path(__file__).parent / "results"
D = torch.float64


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    confidence, predicted = probs.max(-1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=D)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            total += float(mask.double().mean()) * abs(float(correct[mask].mean() - confidence[mask].mean()))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--inducing", type=int, default=64)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.inducing = 1, 30, 16
    torch.set_num_threads(1)
    rows = []
    for name, loader in (("breast_cancer", datasets.load_breast_cancer), ("digits", datasets.load_digits)):
        x_all, y_all = loader(return_X_y=True)
        num_classes = int(y_all.max()) + 1
        for seed in range(args.seeds):
            x, x_test, y, y_test = train_test_split(x_all, y_all, test_size=0.3, stratify=y_all, random_state=seed)
            mean, std = x.mean(0), x.std(0) + 1e-8
            xt, xs = (torch.tensor((v - mean) / std, dtype=D) for v in (x, x_test))
            yt, ys = torch.tensor(y), torch.tensor(y_test)
            for model_name, prior in (("nngp", None), ("scale_mixture_nngp", (2.0, 2.0))):
                start = time.perf_counter()
                posterior = probnn.fit(ScaleMixtureNNGPClassifier(num_classes, scale_prior=prior), xt, yt,
                                       method="svgp", num_inducing=args.inducing, num_steps=args.steps,
                                       learning_rate=0.02, generator=seed, progress=False)
                prediction = posterior.predict(xs)
                rows.append({"dataset": name, "seed": seed, "model": model_name,
                             "accuracy": float((prediction.predicted_class() == ys).double().mean()),
                             "nll": float(-prediction.log_prob(ys).mean()),
                             "ece": expected_calibration_error(prediction.probs, ys),
                             "seconds": time.perf_counter() - start})
                print(rows[-1], flush=True)
    summary = {}
    for row in rows:
        summary.setdefault((row["dataset"], row["model"]), []).append(row)
    table = []
    for (dataset, model), group in summary.items():
        entry = {"dataset": dataset, "model": model, "count": len(group)}
        for key in ("accuracy", "nll", "ece"):
            values = np.array([r[key] for r in group])
            entry[key] = float(values.mean())
            entry[key + "_se"] = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
        table.append(entry)
    name = "nngp_classification_quick" if args.quick else "nngp_classification"
    RESULTS.mkdir(exist_ok=True)
    settings = vars(args)
    (RESULTS / f"{name}.json").write_text(json.dumps({"settings": settings, "rows": rows, "summary": table}, indent=2))
    lines = ["# NNGP vs scale-mixture NNGP classification (SVGP)", "",
             f"Settings: {json.dumps(settings)}; NNGPKernel(depth=2, relu), Adam lr 0.02, 8 MC draws per step, "
             "stratified 70/30 splits (one per seed), mean +- standard error over seeds.", "",
             "| dataset | model | accuracy | NLL | ECE |", "|---|---|---|---|---|"]
    for e in table:
        lines.append(f"| {e['dataset']} | {e['model']} | {e['accuracy']:.4f} +- {e['accuracy_se']:.4f} | "
                     f"{e['nll']:.4f} +- {e['nll_se']:.4f} | {e['ece']:.4f} +- {e['ece_se']:.4f} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
