"""Does dense mean-field VI with the untempered ELBO converge on UCI regression? (issue #8 follow-up)

For each configuration (dataset, hidden widths, steps) this fits dense mean-field VI
(``method="ssvi", density=1.0, static_mask=True``, ``kl_weight=1``: the per-datapoint ELBO
``mean_i NLL_i + KL / N``) on split 0 with the benchmark's optimiser (Adam 3e-3, cosine annealing,
batch 128, KL warm-up over the first half) and records what the objective reached at the end:
the full-data ``-ELBO / N`` (expected NLL over 50 weight draws + KL / N), the learned noise, the
median posterior std, and train / test RMSE and NLL (original units). If ``-ELBO`` keeps falling
with more steps while the fit gets worse, the optimiser works and the ELBO's optimum itself is the
under-fitting one (the over-pruning of wide mean-field BNNs), not a bug.
Writes ``benchmarks/results/ssvi_elbo_check.json``. Run ``python benchmarks/ssvi_elbo_check.py``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ssvi import load_uci_split  # noqa: E402

import probnn  # noqa: E402
from probnn.datasets.uci import resolve_uci_path  # noqa: E402
from probnn.errors import InputError  # noqa: E402
from probnn.inference.ssvi import prior_stds  # noqa: E402

CONFIGURATIONS = [("concrete", [200, 200], 2500), ("concrete", [200, 200], 5000),
                  ("concrete", [50], 3000), ("concrete", [50], 6000), ("concrete", [400], 6000),
                  ("energy", [50], 6000), ("energy", [400], 6000)]


def check(name: str, hidden: list[int], num_steps: int) -> dict:
    x_train, y_train, x_test, y_test = load_uci_split(name, 0)
    x_mean, x_std = x_train.mean(0), x_train.std(0)
    y_mean, scale = float(y_train.mean()), float(y_train.std())
    x_train, x_test = (x_train - x_mean) / x_std, (x_test - x_mean) / x_std
    y_train, y_test = (y_train - y_mean) / scale, (y_test - y_mean) / scale
    model = probnn.models.BNN(x_train.shape[1], hidden=hidden, out_features=1, activation="relu",
                              likelihood="gaussian", noise="learned")
    start = time.process_time()
    posterior = probnn.fit(model, x_train, y_train, method="ssvi", density=1.0, static_mask=True,
                           num_steps=num_steps, batch_size=128, learning_rate=3e-3, kl_weight=1.0,
                           generator=0, progress=False)
    cpu = time.process_time() - start
    network = posterior.network
    kl = float(network.kl_divergence(prior_stds(model, network, None)))
    f = posterior.sample_functions(x_train, 50, generator=1)[..., 0]
    noise = posterior.noise_std
    expected_nll = float((0.5 * ((y_train - f) / noise) ** 2 + math.log(noise) + 0.5 * math.log(2 * math.pi)).mean())
    sigma = torch.cat([layer.weight_std[layer.mask.bool()] for layer in network.layers])

    def metrics(x, y):
        predictive = posterior.predict(x)
        return {"rmse": float(((predictive.mean - y) ** 2).mean().sqrt()) * scale,
                "nll": float(-predictive.log_prob(y).mean()) + math.log(scale)}

    return {"dataset": name, "hidden": hidden, "num_steps": num_steps, "cpu_seconds": cpu,
            "noise_std_standardised": noise, "expected_train_nll_standardised": expected_nll,
            "kl_per_point": kl / len(y_train), "negative_elbo_per_point": expected_nll + kl / len(y_train),
            "median_weight_std": float(sigma.median()), "train": metrics(x_train, y_train),
            "test": metrics(x_test, y_test)}


def main() -> None:
    torch.set_num_threads(1)
    try:
        resolve_uci_path("concrete")
    except InputError:
        print("UCI data folder absent; nothing to do")
        return
    rows = []
    for name, hidden, num_steps in CONFIGURATIONS:
        rows.append(check(name, hidden, num_steps))
        print(json.dumps(rows[-1]), flush=True)
    (ROOT / "benchmarks" / "results" / "ssvi_elbo_check.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
