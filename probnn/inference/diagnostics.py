"""Convergence diagnostics for posteriors that hold draws ``[chains, draws, ...]``.

* Split rank-normalised R-hat (Vehtari et al., 2021) and bulk / tail effective sample sizes, computed
  by ArviZ on every scalar component of every site.
* For networks, parameter-space R-hat is not a convergence measure: hidden units can be permuted
  and signs flipped, so different chains legitimately sit in different (equivalent) modes. The
  decisive check is *function space*: R-hat of the network outputs at (up to 100 of) the training
  inputs (Izmailov et al., 2021). Warnings use function-space R-hat when the model provides
  ``functions_from_draws`` and parameter R-hat otherwise.
* Divergent transitions and tree-depth saturation (NUTS) from ``sample_stats``.

Warnings (:class:`ConvergenceWarning`) fire when the monitored R-hat exceeds ``RHAT_THRESHOLD``
(1.01, the threshold recommended by Vehtari et al., 2021) or any transition diverged, and
(:class:`TreeDepthWarning`, an efficiency warning as in Stan) when more than
``TREE_DEPTH_HIT_FRACTION`` of the NUTS transitions stopped at the tree-depth cap: those trajectories
were cut before the no-U-turn criterion fired, so each draw moves less than NUTS intends.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

#: R-hat above this is reported as non-converged (Vehtari et al., 2021, recommend 1.01).
RHAT_THRESHOLD = 1.01
#: At most this many training inputs enter the function-space diagnostics (cost control).
MAX_FUNCTION_POINTS = 100


class ConvergenceWarning(UserWarning):
    """Emitted when R-hat exceeds 1.01 or divergences occurred."""


class TreeDepthWarning(ConvergenceWarning):
    """Emitted when most NUTS transitions hit ``max_tree_depth`` (an efficiency problem, not a bias)."""


# Warn when more than half of the transitions saturate: occasional hits are harmless (Stan warns on
# any; on networks nearly every run has a few), a majority means the cap sets the trajectory length.
TREE_DEPTH_HIT_FRACTION = 0.5


def _arviz() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def _site_array(value: torch.Tensor) -> np.ndarray:
    array = value.detach().to(torch.float64).cpu().numpy()
    return array.reshape(array.shape[0], array.shape[1], -1)


def site_diagnostics(draws: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per site: max R-hat, min bulk ESS and min tail ESS over its scalar components.

    Args:
        draws: ``{site: [chains, draws, ...]}``.
    """
    arviz = _arviz()
    arrays = {name: _site_array(value) for name, value in draws.items()}
    arrays = {name: array for name, array in arrays.items() if array.shape[1] >= 4}
    if not arrays:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = arviz.convert_to_dataset(arrays)
        rhat = arviz.rhat(dataset)
        bulk = arviz.ess(dataset, method="bulk")
        tail = arviz.ess(dataset, method="tail")

    def reduce(values: Any, how: Any) -> float:
        array = np.asarray(values, dtype=np.float64)
        return float("nan") if np.all(np.isnan(array)) else float(how(array))

    return {name: {"rhat_max": reduce(rhat[name].values, np.nanmax),
                   "ess_bulk_min": reduce(bulk[name].values, np.nanmin),
                   "ess_tail_min": reduce(tail[name].values, np.nanmin)} for name in arrays}


def array_diagnostics(values: torch.Tensor) -> dict[str, float]:
    """Max R-hat, min bulk / tail ESS over the trailing components of ``values [chains, draws, ...]``."""
    return site_diagnostics({"values": values})["values"] if values.shape[1] >= 4 else {}


def summarize(draws: dict[str, torch.Tensor], sample_stats: dict[str, torch.Tensor],
              function_draws: torch.Tensor | None = None) -> dict[str, Any]:
    """The diagnostics block of ``posterior.summary()`` (JSON-able)."""
    sites = site_diagnostics(draws)
    summary: dict[str, Any] = {"sites": sites}
    if sites:
        summary["rhat_max"] = max(s["rhat_max"] for s in sites.values())
        summary["ess_bulk_min"] = min(s["ess_bulk_min"] for s in sites.values())
        summary["ess_tail_min"] = min(s["ess_tail_min"] for s in sites.values())
    if function_draws is not None and function_draws.shape[1] >= 4:
        function = array_diagnostics(function_draws)
        summary["function_rhat_max"] = function["rhat_max"]
        summary["function_ess_bulk_min"] = function["ess_bulk_min"]
        summary["function_ess_tail_min"] = function["ess_tail_min"]
    if "diverging" in sample_stats:
        diverging = sample_stats["diverging"]
        summary["num_divergences"] = int(diverging.sum())
        summary["divergences_per_chain"] = [int(v) for v in diverging.sum(1)]
    if "tree_depth" in sample_stats and "max_tree_depth" in sample_stats:
        limit = int(sample_stats["max_tree_depth"].flatten()[0])
        summary["max_tree_depth_hits"] = int((sample_stats["tree_depth"] >= limit).sum())
        summary["num_transitions"] = int(sample_stats["tree_depth"].numel())
    if "tree_depth" in sample_stats:
        summary["mean_tree_depth"] = float(sample_stats["tree_depth"].double().mean())
    if "accept_prob" in sample_stats:
        summary["mean_accept_prob"] = float(sample_stats["accept_prob"].double().mean())
    if "step_size" in sample_stats:
        summary["step_size"] = [float(v) for v in sample_stats["step_size"][:, -1]]
    return summary


def monitored_rhat(summary: dict[str, Any]) -> float | None:
    """The R-hat that decides convergence: function space when available, else parameters."""
    value = summary.get("function_rhat_max", summary.get("rhat_max"))
    return None if value is None or not np.isfinite(value) else float(value)


def warn_if_unconverged(summary: dict[str, Any], *, method: str, num_chains: int) -> None:
    """Emit :class:`ConvergenceWarning` for R-hat > 1.01 (several chains) or any divergence, and
    :class:`TreeDepthWarning` when most NUTS transitions hit the tree-depth cap."""
    rhat = monitored_rhat(summary)
    if num_chains > 1 and rhat is not None and rhat > RHAT_THRESHOLD:
        where = "function-space" if "function_rhat_max" in summary else "parameter"
        warnings.warn(
            f"{method}: {where} R-hat = {rhat:.3f} > {RHAT_THRESHOLD}: the chains have not mixed; run longer "
            "(num_warmup / num_samples) or reparameterise", ConvergenceWarning, stacklevel=3)
    hits, transitions = summary.get("max_tree_depth_hits"), summary.get("num_transitions")
    if hits and transitions and hits > TREE_DEPTH_HIT_FRACTION * transitions:
        warnings.warn(
            f"{method}: {hits} of {transitions} transitions hit max_tree_depth: the trajectories are cut short "
            "and the draws are strongly autocorrelated; raise max_tree_depth, adapt a dense mass matrix "
            "(dense_mass=True) or lengthen the warm-up. A posterior that is very narrow in some directions "
            "(e.g. nearly noise-free data) causes this", TreeDepthWarning, stacklevel=3)
    divergences = summary.get("num_divergences", 0)
    if divergences:
        warnings.warn(
            f"{method}: {divergences} divergent transitions after warm-up: the posterior has regions the "
            "sampler cannot explore; raise target_accept_prob or reparameterise", ConvergenceWarning,
            stacklevel=3)


def to_inference_data(draws: dict[str, torch.Tensor], sample_stats: dict[str, torch.Tensor],
                      log_likelihood: torch.Tensor | None, y_observed: torch.Tensor | None) -> Any:
    """Build an ``arviz.InferenceData`` (groups: posterior, sample_stats, log_likelihood, observed_data).

    Args:
        draws: ``{site: [chains, draws, ...]}``.
        sample_stats: ``{name: [chains, draws]}`` (``diverging`` becomes ArviZ's boolean field).
        log_likelihood: pointwise ``[chains, draws, num_points]`` for ``az.loo`` / ``az.waic``.
        y_observed: the training targets ``[num_points]``.
    """
    arviz = _arviz()

    def convert(value: torch.Tensor) -> np.ndarray:
        array = value.detach().cpu()
        return array.numpy() if array.dtype == torch.bool else array.to(torch.float64).numpy()

    stats = {name: convert(value) for name, value in sample_stats.items() if value.ndim == 2}
    if "tree_depth" in stats:
        stats["tree_depth"] = stats["tree_depth"].astype(np.int64)
    groups: dict[str, Any] = {"posterior": {name: convert(value) for name, value in draws.items()}}
    if stats:
        groups["sample_stats"] = stats
    if log_likelihood is not None:
        groups["log_likelihood"] = {"y": convert(log_likelihood)}
    if y_observed is not None:
        groups["observed_data"] = {"y": convert(y_observed)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return arviz.from_dict(**groups)
