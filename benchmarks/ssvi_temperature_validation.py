"""Choose the KL temperature for the UCI 200-200 setup on held-out training data (issue #8 follow-up).

The 200-200 ReLU net over-fits at the paper's ``kl_weight=0.01`` and collapses towards the prior at
``kl_weight=1`` (``ssvi_elbo_check.py``). This picks ``kl_weight`` for **dense VI only**, on a
validation split of the *training* points of split 0 (the last 20% of a seeded permutation; the
test points are never touched), by validation NLL, over ``{0.01, 0.03, 0.1, 0.3, 1}``; the chosen value is
then used for dense VI, SSVI and the static mask alike (``bench_ssvi.py``, tasks ``*-tempered``).
Writes ``benchmarks/results/ssvi_temperature_validation.json``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ssvi import load_uci_split  # noqa: E402

import probnn  # noqa: E402

KL_WEIGHTS = (0.01, 0.03, 0.1, 0.3, 1.0)


def validate(name: str, kl_weight: float) -> dict:
    x, y, _, _ = load_uci_split(name, 0)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(y))
    x_train, y_train, x_valid, y_valid = x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
    x_mean, x_std = x_train.mean(0), x_train.std(0)
    y_mean, scale = float(y_train.mean()), float(y_train.std())
    x_train, x_valid = (x_train - x_mean) / x_std, (x_valid - x_mean) / x_std
    y_train, y_valid = (y_train - y_mean) / scale, (y_valid - y_mean) / scale
    model = probnn.models.BNN(x.shape[1], hidden=[200, 200], out_features=1, activation="relu",
                              likelihood="gaussian", noise="learned")
    posterior = probnn.fit(model, x_train, y_train, method="ssvi", density=1.0, static_mask=True, num_steps=2500,
                           batch_size=128, learning_rate=3e-3, kl_weight=kl_weight, allocation="erk",
                           new_weight_std="initial", generator=0, progress=False)
    predictive = posterior.predict(x_valid)
    return {"dataset": name, "kl_weight": kl_weight,
            "valid_rmse": float(((predictive.mean - y_valid) ** 2).mean().sqrt()) * scale,
            "valid_nll": float(-predictive.log_prob(y_valid).mean()) + math.log(scale)}


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for name in ("concrete", "energy"):
        for kl_weight in KL_WEIGHTS:
            rows.append(validate(name, kl_weight))
            print(json.dumps(rows[-1]), flush=True)
    chosen = {name: min((r for r in rows if r["dataset"] == name), key=lambda r: r["valid_nll"])["kl_weight"]
              for name in ("concrete", "energy")}
    print(chosen)
    (ROOT / "benchmarks" / "results" / "ssvi_temperature_validation.json").write_text(
        json.dumps({"rows": rows, "chosen": chosen}, indent=1))


if __name__ == "__main__":
    main()
