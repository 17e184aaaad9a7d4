"""Reference row: the inference engineer's dense mean-field ``method="svi"`` (numpyro, full-batch,
untempered ELBO) on the same digits split and BNN as ``bench_ssvi.py``. Its objective differs from
the SSVI/dense rows (no minibatching, KL weight 1), so it is a reference, not the same-budget
baseline. Writes ``benchmarks/results/ssvi_svi_reference.json``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ssvi import classification_metrics, load_digits_split  # noqa: E402

import probnn  # noqa: E402


def main() -> None:
    quick = "--quick" in sys.argv
    x_train, y_train, x_test, y_test = load_digits_split(0)
    model = probnn.models.BNN(64, hidden=[200, 200], out_features=10, activation="relu", likelihood="categorical")
    options = dict(family="mean_field", num_steps=100 if quick else 2500, learning_rate=3e-3,
                   num_predictive_draws=100, generator=0, progress=False)
    start = time.perf_counter()
    posterior = probnn.fit(model, x_train, y_train, method="svi", **options)
    wall = time.perf_counter() - start
    row = {"task": "digits", "variant": "svi (numpyro, full batch, untempered)", "seed": 0, **options,
           **classification_metrics(posterior.predict(x_test), y_test), "wall_seconds": wall}
    row.pop("generator"), row.pop("progress")
    print(json.dumps(row))
    if not quick:
        (ROOT / "benchmarks" / "results" / "ssvi_svi_reference.json").write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
