"""Uncertainty-evaluation reports: every zoo model x dataset, as JSON, a markdown table and calibration plots.

:func:`run_suite` fits every requested zoo entry (model + inference backend) on every split of every
requested dataset (UCI-format folders or scikit-learn sets) with
:func:`probnn.evaluation.runner.evaluate_entry`, and writes

* ``evaluation.json``: every run's :class:`~probnn.evaluation.runner.EvaluationResult` (metrics in the
  data's original units; regression runs include the coverage of central intervals at several levels),
  plus failures with their error message (a backend that fails on one dataset does not stop the suite);
* ``evaluation.md``: per dataset, a table of mean +- standard error over splits of test NLL, RMSE, CRPS,
  90 % coverage, calibration error and fit time (accuracy, NLL, ECE, Brier for classification);
* ``calibration_<dataset>.png``: observed coverage of central predictive intervals against their nominal
  level, one curve per model (mean over splits); a calibrated model lies on the diagonal, curves
  below it are over-confident.

:func:`markdown_table` and :func:`plot_calibration` work from result dictionaries alone, so reports
can be rebuilt from saved JSON (``probnn evaluate --report evaluation.json``).
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REGRESSION_KEYS = ("nll", "rmse", "crps", "coverage_90", "calibration_error")
CLASSIFICATION_KEYS = ("accuracy", "nll", "ece", "brier")


def _mean_standard_error(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, math.nan
    variance = sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    return mean, math.sqrt(variance / len(finite))


def _format(mean: float, error: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" if math.isnan(error) else f"{mean:.3f} ± {error:.3f}"


def markdown_table(results: Sequence[dict[str, Any]], failures: Sequence[dict[str, Any]] = ()) -> str:
    """Markdown tables (one per dataset) of mean ± standard error over splits for each zoo entry."""
    lines: list[str] = []
    datasets = list(dict.fromkeys(r["dataset"] for r in [*results, *failures]))
    for dataset in datasets:
        rows = [r for r in results if r["dataset"] == dataset]
        task = rows[0]["task"] if rows else "regression"
        keys = REGRESSION_KEYS if task == "regression" else CLASSIFICATION_KEYS
        lines += [f"## {dataset} ({task})", "",
                  "| model | method | splits | " + " | ".join(keys) + " | fit time (s) |",
                  "|" + "---|" * (len(keys) + 4)]
        for entry in dict.fromkeys(r["entry"] for r in rows):
            runs = [r for r in rows if r["entry"] == entry]
            cells = [_format(*_mean_standard_error([r["metrics"].get(k) for r in runs])) for k in keys]
            fit = _format(*_mean_standard_error([r["fit_seconds"] for r in runs]))
            method = runs[0].get("method") or runs[0].get("options", {}).get("method", "")
            lines.append(f"| {entry} | {method} | {len(runs)} | " + " | ".join(cells) + f" | {fit} |")
        for failure in (f for f in failures if f["dataset"] == dataset):
            lines.append(f"| {failure['entry']} | {failure.get('method', '')} | failed | "
                         + " | ".join("" for _ in keys) + f" | {failure['error'].splitlines()[-1][:80]} |")
        lines.append("")
    return "\n".join(lines)


def plot_calibration(results: Sequence[dict[str, Any]], dataset: str, path: str | Path | None = None) -> Any:
    """Observed vs nominal coverage of central intervals for each entry on ``dataset`` (regression).

    Returns the matplotlib figure (saved to ``path`` if given)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], color="black", linewidth=1, linestyle="--", label="ideal")
    rows = [r for r in results if r["dataset"] == dataset and "calibration" in r["metrics"]]
    for entry in dict.fromkeys(r["entry"] for r in rows):
        runs = [r["metrics"]["calibration"] for r in rows if r["entry"] == entry]
        levels = runs[0]["levels"]
        coverage = [sum(run["coverage"][k] for run in runs) / len(runs) for k in range(len(levels))]
        ax.plot(levels, coverage, marker="o", markersize=3, label=entry)
    ax.set_xlabel("nominal level of central interval")
    ax.set_ylabel("observed coverage")
    ax.set_title(f"calibration: {dataset}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=110)
        plt.close(figure)
    return figure


def write_report(results: Sequence[dict[str, Any]], out: str | Path, failures: Sequence[dict[str, Any]] = (),
                 settings: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``evaluation.json``, ``evaluation.md`` and ``calibration_<dataset>.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "evaluation.json", "markdown": out / "evaluation.md"}
    paths["json"].write_text(json.dumps({"settings": settings or {}, "results": list(results),
                                         "failures": list(failures)}, indent=1, default=str))
    header = ["# probnn uncertainty evaluation", "",
              "Mean ± standard error over splits; regression metrics in original units (NLL per point, "
              "coverage of the central 90 % interval, calibration error = mean |coverage - level| over levels).", ""]
    paths["markdown"].write_text("\n".join(header) + markdown_table(results, failures) + "\n")
    for dataset in dict.fromkeys(r["dataset"] for r in results if r["task"] == "regression"):
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(dataset))
        paths[f"calibration_{safe}"] = out / f"calibration_{safe}.png"
        plot_calibration(results, dataset, paths[f"calibration_{safe}"])
    return paths


def report_from_json(path: str | Path, out: str | Path | None = None) -> dict[str, Path]:
    """Rebuild the markdown table and plots from an ``evaluation.json``."""
    data = json.loads(Path(path).read_text())
    return write_report(data["results"], out or Path(path).parent, data.get("failures", []), data.get("settings"))


def run_suite(datasets: Sequence[str], models: Sequence[str] | None = None, *, splits: int = 1, quick: bool = False,
              max_train: int | None = None, seed: int = 0, out: str | Path = "evaluation-output",
              options: dict[str, Any] | None = None, progress: bool | None = False, verbose: bool = True
              ) -> dict[str, Path]:
    """Evaluate zoo entries (default: every entry whose task matches) on every dataset and write a report.

    Args:
        datasets: UCI names or folders, or scikit-learn names (``"diabetes"``, ``"sklearn:wine"``).
        models: zoo entry names (``None``: all).
        splits: splits per dataset (capped at the number a UCI folder has; random splits for sklearn sets).
        quick: the entries' quick options. max_train: subsample training sets to at most this many points.
    """
    from probnn.cli import _load_data
    from probnn.datasets.uci import num_splits, resolve_uci_path
    from probnn.evaluation.runner import evaluate_entry
    from probnn.evaluation.zoo import ZOO, get_entry

    chosen = [get_entry(name) for name in models] if models else list(ZOO.values())
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for dataset in datasets:
        try:
            available = num_splits(resolve_uci_path(dataset))
        except Exception:
            available = None
        count = splits if available is None else min(splits, available)
        for split in range(count):
            data = _load_data(dataset, split, seed)
            if max_train:
                data = data.subsample_train(max_train, seed=split)
            for entry in chosen:
                if entry.task != data.task:
                    continue
                start = time.perf_counter()
                try:
                    result = evaluate_entry(entry, data, quick=quick, options=options, seed=seed, progress=progress)
                except Exception as error:  # one failing backend must not stop the suite; it is reported
                    failures.append({"entry": entry.name, "method": entry.method, "dataset": data.name,
                                     "split": split, "error": "".join(traceback.format_exception_only(error))})
                    if verbose:
                        print(f"{data.name} split {split} {entry.name}: FAILED {error}", file=sys.stderr)
                    continue
                record = result.to_dict()
                record["method"] = entry.method
                if record["split"] is None:  # scikit-learn sets: random split number `split` (seed + split)
                    record["split"] = split
                results.append(record)
                if verbose:
                    print(f"{data.name} split {split} {entry.name}: nll {record['metrics'].get('nll', math.nan):.3f} "
                          f"({time.perf_counter() - start:.1f}s)", file=sys.stderr)
    settings = {"datasets": list(datasets), "models": [e.name for e in chosen], "splits": splits, "quick": quick,
                "max_train": max_train, "seed": seed}
    return write_report(results, out, failures, settings)
