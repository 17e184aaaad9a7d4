"""Fit one zoo entry on one data split and score it in the data's original units."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from probnn import metrics
from probnn.api import fit
from probnn.datasets.split import DataSplit
from probnn.evaluation.zoo import ZooEntry
from probnn.posterior import Posterior
from probnn.predictive import Predictive


@dataclass
class EvaluationResult:
    """Metrics of one (entry, dataset, split) run; regression metrics are in original units."""

    entry: str
    dataset: str
    split: int | None
    task: str
    metrics: dict[str, Any]
    fit_seconds: float
    predict_seconds: float
    num_train: int
    num_test: int
    options: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvaluationRun:
    """An :class:`EvaluationResult` plus the live objects (for plots)."""

    result: EvaluationResult
    posterior: Posterior
    predictive: Predictive


def evaluate_entry(entry: ZooEntry, data: DataSplit, *, quick: bool = False, options: dict[str, Any] | None = None,
                   seed: int = 0, progress: bool | None = None, keep_objects: bool = False
                   ) -> EvaluationResult | EvaluationRun:
    """Fit ``entry`` on ``data``'s training split and compute test metrics.

    Regression metrics (NLL, RMSE, CRPS, coverage, calibration) are computed for the predictive
    mapped back to original units (``data.to_original``), as the UCI literature reports them.

    Args:
        entry: a zoo entry (its task must match ``data.task``).
        data: a standardised split from :func:`probnn.datasets.load_uci` / ``load_sklearn``.
        quick: use ``entry.quick_options`` instead of ``entry.options``.
        options: extra backend options overriding the entry's.
        seed: passed as ``generator=`` when the backend takes one.
        progress: progress bars (``None`` follows :func:`probnn.set_quiet`).
        keep_objects: return an :class:`EvaluationRun` holding the posterior and predictive too.
    """
    if entry.task != data.task:
        raise ValueError(f"zoo entry {entry.name!r} is for {entry.task}, dataset {data.name!r} is {data.task}")
    chosen = {**entry.fit_options(quick), **(options or {})}
    model = entry.make_model(data.num_features)
    import inspect

    from probnn.api import resolve_backend

    _, backend = resolve_backend(model, entry.method)
    accepted = inspect.signature(backend).parameters
    if "generator" in accepted and "generator" not in chosen:
        chosen["generator"] = seed
    if "progress" in accepted and "progress" not in chosen:
        chosen["progress"] = progress
    start = time.perf_counter()
    posterior = fit(model, data.x_train, data.y_train, method=entry.method, **chosen)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        predictive = posterior.predict(data.x_test)
    if data.task == "regression":
        predictive = data.to_original(predictive)
        scores = metrics.regression_metrics(predictive, data.y_test_original)
    else:
        scores = metrics.classification_metrics(predictive, data.y_test)  # type: ignore[arg-type]
    predict_seconds = time.perf_counter() - start
    recorded = {key: value for key, value in chosen.items() if key not in ("progress", "generator")}
    result = EvaluationResult(
        entry=entry.name, dataset=data.name, split=data.split, task=data.task, metrics=scores,
        fit_seconds=fit_seconds, predict_seconds=predict_seconds, num_train=data.num_train, num_test=data.num_test,
        options=recorded, info={**data.info, "seed": seed, "fit_info_keys": sorted(posterior.fit_info)})
    if keep_objects:
        return EvaluationRun(result, posterior, predictive)
    return result


def summarise(results: list[EvaluationResult], keys: tuple[str, ...] = ("nll", "rmse", "crps", "coverage_90")
              ) -> dict[str, dict[str, float]]:
    """Mean and standard error (``std / sqrt(n)``, unbiased std) of each metric over runs."""
    summary: dict[str, dict[str, float]] = {}
    for key in (*keys, "fit_seconds"):
        values = [r.fit_seconds if key == "fit_seconds" else r.metrics[key] for r in results
                  if key == "fit_seconds" or key in r.metrics]
        if not values:
            continue
        tensor = torch.tensor(values, dtype=torch.float64)
        standard_error = float(tensor.std() / math.sqrt(len(values))) if len(values) > 1 else math.nan
        summary[key] = {"mean": float(tensor.mean()), "standard_error": standard_error, "count": len(values)}
    return summary
