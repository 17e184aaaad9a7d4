"""A PFN pre-trained on a small BNN prior against NUTS on the same BNN (issue: PFN, last "done when" item).

The prior is ``probnn pretrain``'s ``bnn`` preset: ``BNN(1, hidden=(50,), activation="tanh", noise=0.1)``
with the NT Gaussian weight prior (``W ~ N(0, 1/fan_in)``, ``b ~ N(0, 1)``), inputs ``x ~ U[0, 1]``.
The PFN is trained by the command line (see ``TRAIN_COMMAND``; its record lands beside the weights in
``benchmarks/results/pfn_bnn/``) and then compared on held-out datasets drawn from the same prior:

* PFN: ``probnn.fit(bnn, x, y, method="pfn", checkpoint=..., rescale_inputs=False)`` + predict, one
  dataset at a time (that is what a user pays per dataset; pre-training is paid once);
* NUTS: ``probnn.fit(bnn, x, y, method="nuts", ...)`` on the *same* model at several budgets, from
  one that takes as little wall time as NUTS can (a few dozen transitions, one chain) to a long run
  that serves as the reference posterior. XLA compilation is paid once per training-set size and
  reported separately (a warm-up fit on an extra dataset).

Both predictives are scored by the mean per-point test NLL of ``y`` (20 test points per dataset); the
table gives mean +- standard error over datasets, the paired difference PFN - NUTS, and the wall time
per dataset, so the NLL of each method can be read at equal wall time.

Usage: python benchmarks/bench_pfn_bnn.py [--quick] [--datasets 25] [--model benchmarks/results/pfn_bnn]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
warnings.simplefilter("ignore")

import probnn  # noqa: E402
from probnn.inference.pfn import load_pfn  # noqa: E402
from probnn.inference.pfn_priors import small_bnn  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
SIZES = (10, 30)
NUM_TEST = 20
#: NUTS budgets (warm-up, draws per chain, chains): the first is about the least NUTS can do and still
#: adapt a step size; the last is the reference posterior.
BUDGETS = ((25, 25, 1), (100, 100, 2), (400, 400, 2))
TRAIN_COMMAND = ("probnn pretrain --prior bnn --steps 4000 --out benchmarks/results/pfn_bnn --width 64 --depth 3 "
                 "--heads 4 --buckets 200 --max-context 50 --batch-size 16 --learning-rate 3e-4 "
                 "--warmup-steps 200 --checkpoint-every 500")


def draw_datasets(count: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` datasets of ``n + NUM_TEST`` points from the BNN prior: x ``[B, m, 1]``, y ``[B, m]``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(count, n + NUM_TEST, 1, generator=generator, dtype=torch.float64)
    _, y = small_bnn(1).sample_prior_batch(x, generator=generator)
    return x, y[..., 0]


def summarise(values: list[float]) -> dict[str, float]:
    tensor = torch.tensor(values, dtype=torch.float64)
    return {"mean": float(tensor.mean()), "standard_error": float(tensor.std() / math.sqrt(len(tensor))),
            "count": len(values)}


def test_nll(posterior, x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    return float(-posterior.predict(x_test).log_prob(y_test).mean())


def run(count: int, model_dir: Path, quick: bool) -> dict:
    network = load_pfn(model_dir / "model.safetensors")
    bnn = small_bnn(1)
    budgets = ((10, 10, 1), (30, 30, 2)) if quick else BUDGETS
    rows = {}
    for n in SIZES:
        x, y = draw_datasets(count + 1, n, seed=7000 + n)   # dataset 0 only warms up the compilers
        methods = {"pfn": {"nll": [], "seconds": []}}
        for index in range(count + 1):
            x_train, y_train, x_test, y_test = x[index, :n], y[index, :n], x[index, n:], y[index, n:]
            start = time.perf_counter()
            posterior = probnn.fit(bnn, x_train, y_train, method="pfn", checkpoint=network, rescale_inputs=False)
            value = test_nll(posterior, x_test, y_test)
            if index:
                methods["pfn"]["nll"].append(value)
                methods["pfn"]["seconds"].append(time.perf_counter() - start)
        for warmup, draws, chains in budgets:
            name = f"nuts_{warmup}+{draws}x{chains}"
            record = methods.setdefault(name, {"nll": [], "seconds": [], "rhat_max": []})
            for index in range(count + 1):
                x_train, y_train, x_test, y_test = x[index, :n], y[index, :n], x[index, n:], y[index, n:]
                start = time.perf_counter()
                posterior = probnn.fit(bnn, x_train, y_train, method="nuts", num_warmup=warmup, num_samples=draws,
                                       num_chains=chains, generator=index, progress=False)
                value = test_nll(posterior, x_test, y_test)
                seconds = time.perf_counter() - start
                if index == 0:
                    record["first_fit_seconds_with_compilation"] = seconds
                    continue
                record["nll"].append(value)
                record["seconds"].append(seconds)
            print(f"n={n} {name}: NLL {sum(record['nll']) / count:.4f}  "
                  f"{sum(record['seconds']) / count:.3f} s/dataset", flush=True)
        print(f"n={n} pfn: NLL {sum(methods['pfn']['nll']) / count:.4f}  "
              f"{sum(methods['pfn']['seconds']) / count:.4f} s/dataset", flush=True)
        reference = list(methods)[-1]
        summary = {}
        for name, record in methods.items():
            summary[name] = {"nll": summarise(record["nll"]), "seconds_per_dataset": summarise(record["seconds"])}
            if "first_fit_seconds_with_compilation" in record:
                summary[name]["first_fit_seconds_with_compilation"] = record["first_fit_seconds_with_compilation"]
            if name != "pfn":
                paired = [a - b for a, b in zip(methods["pfn"]["nll"], record["nll"])]
                summary[name]["pfn_minus_this_nll"] = summarise(paired)
                summary[name]["time_ratio_this_over_pfn"] = (sum(record["seconds"]) / sum(methods["pfn"]["seconds"]))
        rows[str(n)] = {"methods": summary, "reference": reference}
    training = json.loads((model_dir / "training.json").read_text()) if (model_dir / "training.json").exists() else {}
    return {"datasets_per_n": count, "test_points_per_dataset": NUM_TEST, "sizes": list(SIZES),
            "prior": "BNN 1-50-1 tanh, NT Gaussian weight prior (W ~ N(0, 1/fan_in), b ~ N(0, 1)), noise std 0.1, "
                     "x ~ U[0, 1]",
            "train_command": TRAIN_COMMAND,
            "training": {k: training.get(k) for k in ("steps_completed", "wall_seconds_total", "hardware",
                                                      "architecture", "loss_last_window")},
            "threads": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__,
            "rows": rows}


def render(results: dict, path: Path) -> None:
    lines = ["# BNN-prior PFN vs NUTS on the same BNN", "",
             f"Prior: {results['prior']}. PFN trained with `{results['train_command']}` "
             f"({results['training'].get('steps_completed')} steps, "
             f"{(results['training'].get('wall_seconds_total') or 0) / 60:.1f} min on the shared 2-core CPU, "
             f"1 thread). {results['datasets_per_n']} held-out datasets per training-set size, "
             f"{results['test_points_per_dataset']} test points each; mean per-point test NLL (lower is better) "
             "+- standard error over datasets; PFN - NUTS is the paired difference; time per dataset excludes "
             "XLA compilation (paid once per size, shown separately).", ""]
    for n, row in results["rows"].items():
        lines += [f"## n = {n} training points", "",
                  "| method | test NLL | PFN - this | s / dataset | time vs PFN | first fit incl. compile (s) |",
                  "|---|---|---|---|---|---|"]
        for name, record in row["methods"].items():
            nll, seconds = record["nll"], record["seconds_per_dataset"]
            paired = record.get("pfn_minus_this_nll")
            paired_text = "-" if paired is None else f"{paired['mean']:+.4f} +- {paired['standard_error']:.4f}"
            ratio_text = "1" if name == "pfn" else f"{record['time_ratio_this_over_pfn']:.0f}x"
            label = f"{name} (reference)" if name == row["reference"] else name
            compile_seconds = record.get("first_fit_seconds_with_compilation", float("nan"))
            lines.append(f"| {label} | {nll['mean']:.4f} +- {nll['standard_error']:.4f} | {paired_text} | "
                         f"{seconds['mean']:.4f} | {ratio_text} | {compile_seconds:.1f} |")
        lines.append("")
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 datasets, tiny NUTS budgets: a smoke run")
    parser.add_argument("--datasets", type=int, default=25)
    parser.add_argument("--model", type=Path, default=RESULTS / "pfn_bnn")
    args = parser.parse_args()
    probnn.set_quiet(True)
    torch.set_num_threads(1)
    import jax

    # same-shape NUTS fits reuse their XLA executables (the data are arguments); tracing is still paid
    jax.config.update("jax_compilation_cache_dir", os.environ.get("PROBNN_JAX_CACHE", "/tmp/probnn_jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    results = run(3 if args.quick else args.datasets, args.model, args.quick)
    stem = "pfn_bnn_quick" if args.quick else "pfn_bnn"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1))
    render(results, RESULTS / f"{stem}.md")


if __name__ == "__main__":
    main()
