"""SSVI investigation: does the number of predictive draws, or the KL scope, explain the NLL gap?

Digits, seed 0, the benchmark's settings (``bench_ssvi.SETTINGS["digits"]``), dense VI and SSVI at
density 0.1. Records the test NLL with 100 draws (the fit-time prediction seed and seed 12345) and
1000 draws (seed 12345), the tempered KL per example at the end of training, and the mean std and
``|mu|`` of the active weights per layer. Output: ``results/ssvi_investigation_draws.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_ssvi as bench  # noqa: E402

import probnn  # noqa: E402
from probnn.inference.ssvi import prior_stds  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    settings = dict(bench.SETTINGS["digits"])
    hidden = settings.pop("hidden")
    x_train, y_train, x_test, y_test = bench.load_digits_split(0)
    out = {}
    for variant in ("dense", "ssvi"):
        model = probnn.models.BNN(64, hidden=hidden, out_features=10, activation="relu", likelihood="categorical")
        options = dict(settings, generator=0, progress=False)
        options.update(density=1.0, static_mask=True) if variant == "dense" else options.update(density=0.1)
        posterior = probnn.fit(model, x_train, y_train, method="ssvi", **options)
        row = {}
        for draws, seed in ((100, posterior.prediction_seed), (100, 12345), (1000, 12345)):
            posterior.num_predictive_samples, posterior.prediction_seed = draws, seed
            metrics = bench.classification_metrics(posterior.predict(x_test), y_test)
            row[f"nll_{draws}_{seed}"] = round(metrics["nll"], 4)
        network = posterior.network
        kl = float(network.kl_divergence(prior_stds(model, network, None)))
        row["tempered_kl_per_example"] = settings["kl_weight"] * kl / len(y_train)
        row["mean_sigma_active"] = [round(float(layer.weight_std[layer.mask.bool()].mean()), 4)
                                    for layer in network.layers]
        row["mean_abs_mu_active"] = [round(float(layer.weight_mu[layer.mask.bool()].abs().mean()), 4)
                                     for layer in network.layers]
        out[variant] = row
        print(variant, json.dumps(row), flush=True)
    (HERE / "results" / "ssvi_investigation_draws.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
