"""The ad-hoc runs behind the SSVI investigation in docs/ssvi.md (rows: results/ssvi_investigation.jsonl).

Each argument is a JSON object: ``task`` (digits / concrete), ``variant`` (dense / ssvi / static),
``density`` (0.1), ``seed`` (0) and any ``probnn.fit(..., method="ssvi")`` option overriding the
starting point: 200-200 ReLU, 2500 steps, batch 128, Adam 3e-3, ``kl_weight=0.01``, 100 predictive
draws (and, at the time of these runs, a constant learning rate, uniform allocation and new weights at
the layer-mean std; pass ``learning_rate_schedule="constant"`` to reproduce the first rows now that
cosine is the default). The training-set NLL is printed next to the test metrics to tell
under-fitting from over-fitting. Example::

    python benchmarks/ssvi_investigation.py out.jsonl '{"task": "digits", "variant": "ssvi", "seed": 1}'

The row with ``new_weight_std="initial"`` was produced, before that option existed, by setting the
added weights' ``rho`` to the initial value after each mask update (the same computation).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ssvi as bench

import probnn


def run(task: str, variant: str, density: float, seed: int, **options) -> dict:
    settings = dict(hidden=[200, 200], num_steps=2500, batch_size=128, learning_rate=3e-3, num_predictive_samples=100)
    settings.update({key: options.pop(key) for key in list(options) if key in settings})
    model, x_train, y_train, x_test, y_test, scale = bench.prepare_task(task, settings["hidden"])
    fit_options = {key: value for key, value in settings.items() if key != "hidden"}
    fit_options.update(options, generator=seed, progress=False)
    fit_options.update(density=1.0, static_mask=True) if variant == "dense" else fit_options.update(
        density=density, static_mask=(variant == "static"))
    start, cpu = time.perf_counter(), time.process_time()
    posterior = probnn.fit(model, x_train, y_train, method="ssvi", **fit_options)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    metric = bench.classification_metrics if task == "digits" else (
        lambda predictive, y: bench.regression_metrics(predictive, y, scale))
    test, train = metric(posterior.predict(x_test), y_test), metric(posterior.predict(x_train), y_train)
    return {"task": task, "variant": variant, "density": density, "seed": seed,
            **{key: round(value, 4) for key, value in test.items()}, "train_nll": round(train["nll"], 4),
            "wall": round(wall, 1), "cpu": round(cpu, 1), "noise": posterior.noise_std, "opts": options}


if __name__ == "__main__":
    torch.set_num_threads(1)
    for spec in sys.argv[2:]:
        arguments = json.loads(spec)
        row = run(arguments.pop("task"), arguments.pop("variant"), arguments.pop("density", 0.1),
                  arguments.pop("seed", 0), **arguments)
        print(json.dumps(row), flush=True)
        with open(sys.argv[1], "a") as handle:
            handle.write(json.dumps(row) + "\n")
