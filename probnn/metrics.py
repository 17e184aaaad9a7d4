"""Evaluation metrics for probabilistic predictions.

Every function takes a :class:`probnn.predictive.Predictive` and the observed targets, so one
implementation serves every model and backend. Regression metrics should be computed in the
original units of the data (``DataSplit.to_original(pred)``), as the UCI literature reports them.

Regression:
    * :func:`negative_log_likelihood` / :func:`log_predictive_density`: mean of ``-log p(y_i | x_i)``.
    * :func:`rmse`: root mean squared error of the predictive mean.
    * :func:`crps`: mean continuous ranked probability score (closed form for Gaussian and Student-t,
      sample-based otherwise; :meth:`Predictive.crps`).
    * :func:`interval_coverage` / :func:`calibration`: empirical coverage of central intervals
      at several nominal levels and the mean absolute calibration error.
Classification (:class:`~probnn.predictive.CategoricalPredictive`):
    * :func:`accuracy`, :func:`negative_log_likelihood`, :func:`expected_calibration_error`,
      :func:`brier_score`.
Out-of-distribution detection:
    * :func:`ood_auroc`: AUROC of predictive entropy separating OOD from in-distribution inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from probnn.errors import InputError, InputTypeError
from probnn.predictive import CategoricalPredictive, Predictive
from probnn.validation import check_probability, to_tensor

#: Nominal levels of the central intervals used for regression calibration.
DEFAULT_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
#: Equal-width confidence bins for ECE (Guo et al. 2017 use 15).
DEFAULT_ECE_BINS = 15


def _check_predictive(predictive: Any) -> Predictive:
    if not isinstance(predictive, Predictive):
        raise InputTypeError(f"predictive must be a probnn.predictive.Predictive; got {type(predictive).__name__}")
    if len(predictive.batch_shape) != 1:
        raise InputError(f"metrics take a predictive over [num_points]; got batch shape "
                         f"{tuple(predictive.batch_shape)}")
    return predictive


def _check_real_targets(predictive: Predictive, y: Any) -> torch.Tensor:
    tensor = to_tensor(y, "y")
    if not tensor.dtype.is_floating_point:
        raise InputTypeError(f"y must be floating point for regression metrics; got {tensor.dtype}")
    if tensor.ndim == 2 and tensor.shape[1] == 1:
        tensor = tensor[:, 0]
    if tuple(tensor.shape) != tuple(predictive.batch_shape):
        raise InputError(f"y must have shape {tuple(predictive.batch_shape)} to match the predictive; "
                         f"got {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise InputError("y must be finite")
    return tensor.to(predictive.mean.dtype)


def _check_labels(predictive: CategoricalPredictive, y: Any) -> torch.Tensor:
    tensor = to_tensor(y, "y")
    if tensor.dtype.is_floating_point:
        if not bool(torch.isfinite(tensor).all()) or not bool((tensor == tensor.round()).all()):
            raise InputTypeError("y must hold integer class labels")
    elif tensor.dtype == torch.bool:
        raise InputTypeError("y must hold integer class labels; got bool")
    tensor = tensor.long()
    if tuple(tensor.shape) != tuple(predictive.batch_shape):
        raise InputError(f"y must have shape {tuple(predictive.batch_shape)}; got {tuple(tensor.shape)}")
    if bool((tensor < 0).any()) or bool((tensor >= predictive.num_classes).any()):
        raise InputError(f"y must hold labels in 0..{predictive.num_classes - 1}")
    return tensor


def _categorical(predictive: Any) -> CategoricalPredictive:
    if not isinstance(predictive, CategoricalPredictive):
        raise InputTypeError(f"classification metrics need a CategoricalPredictive; got {type(predictive).__name__}")
    if len(predictive.batch_shape) != 1:
        raise InputError(f"metrics take a predictive over [num_points]; got batch shape "
                         f"{tuple(predictive.batch_shape)}")
    return predictive


# ---------------------------------------------------------------------------- density scores
def log_predictive_density(predictive: Predictive, y: Any) -> float:
    """Mean per-point log predictive density ``(1/n) sum_i log p(y_i | x_i, data)`` (higher is better)."""
    predictive = _check_predictive(predictive) if not isinstance(predictive, CategoricalPredictive) \
        else _categorical(predictive)
    y = _check_labels(predictive, y) if isinstance(predictive, CategoricalPredictive) \
        else _check_real_targets(predictive, y)
    return float(predictive.log_prob(y).mean())


def negative_log_likelihood(predictive: Predictive, y: Any) -> float:
    """Mean test negative log-likelihood ``-(1/n) sum_i log p(y_i | x_i, data)`` (lower is better)."""
    return -log_predictive_density(predictive, y)


def rmse(predictive: Predictive, y: Any) -> float:
    """Root mean squared error of the predictive mean: ``sqrt((1/n) sum_i (y_i - E[y_i])^2)``."""
    predictive = _check_predictive(predictive)
    y = _check_real_targets(predictive, y)
    return float(((y - predictive.mean) ** 2).mean().sqrt())


def crps(predictive: Predictive, y: Any) -> float:
    """Mean continuous ranked probability score ``(1/n) sum_i CRPS(F_i, y_i)`` (lower is better)."""
    predictive = _check_predictive(predictive)
    y = _check_real_targets(predictive, y)
    return float(predictive.crps(y).mean())


# ---------------------------------------------------------------------------- calibration
def interval_coverage(predictive: Predictive, y: Any, level: float) -> float:
    """Fraction of targets inside the central ``level`` predictive interval (ideally ``level``)."""
    predictive = _check_predictive(predictive)
    y = _check_real_targets(predictive, y)
    level = check_probability(level, "level")
    low, high = predictive.interval(level)
    return float(((y >= low) & (y <= high)).to(torch.float64).mean())


def calibration(predictive: Predictive, y: Any, levels: Sequence[float] = DEFAULT_LEVELS) -> dict[str, Any]:
    """Coverage of central intervals at several nominal levels and the calibration error.

    Returns ``{"levels": [...], "coverage": [...], "calibration_error": mean_k |coverage_k - level_k|}``.
    Intervals come from :meth:`Predictive.interval`, so this works for every predictive kind.
    """
    predictive = _check_predictive(predictive)
    y = _check_real_targets(predictive, y)
    levels = [check_probability(level, "levels") for level in levels]
    if not levels:
        raise InputError("levels must hold at least one level")
    q = torch.tensor([p for level in levels for p in ((1 - level) / 2, (1 + level) / 2)], dtype=torch.float64)
    bounds = predictive.quantile(q)
    coverage = []
    for index in range(len(levels)):
        low, high = bounds[2 * index], bounds[2 * index + 1]
        coverage.append(float(((y >= low) & (y <= high)).to(torch.float64).mean()))
    error = sum(abs(c - level) for c, level in zip(coverage, levels)) / len(levels)
    return {"levels": levels, "coverage": coverage, "calibration_error": error}


def probability_integral_transform(predictive: Predictive, y: Any) -> torch.Tensor:
    """PIT values ``F_i(y_i)``: uniform on (0, 1) for a calibrated continuous predictive."""
    predictive = _check_predictive(predictive)
    y = _check_real_targets(predictive, y)
    return predictive.cdf(y)


# ---------------------------------------------------------------------------- classification
def accuracy(predictive: CategoricalPredictive, y: Any) -> float:
    """Fraction of points whose most probable class is the label."""
    predictive = _categorical(predictive)
    y = _check_labels(predictive, y)
    return float((predictive.predicted_class() == y).to(torch.float64).mean())


def brier_score(predictive: CategoricalPredictive, y: Any) -> float:
    """Multi-class Brier score ``(1/n) sum_i sum_c (p_ic - 1[y_i = c])^2`` (Brier 1950; lower is better)."""
    predictive = _categorical(predictive)
    y = _check_labels(predictive, y)
    one_hot = torch.nn.functional.one_hot(y, predictive.num_classes).to(predictive.probs.dtype)
    return float(((predictive.probs - one_hot) ** 2).sum(-1).mean())


def expected_calibration_error(predictive: CategoricalPredictive, y: Any, num_bins: int = DEFAULT_ECE_BINS) -> float:
    """Top-label ECE (Guo et al. 2017): ``sum_b (|B_b| / n) |acc(B_b) - conf(B_b)|``.

    Points are binned by their top-class confidence into ``num_bins`` equal-width bins on (0, 1]
    (bin ``b`` holds confidences in ``((b-1)/B, b/B]``).
    """
    predictive = _categorical(predictive)
    y = _check_labels(predictive, y)
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise InputError(f"num_bins must be an int >= 1; got {num_bins!r}")
    confidence, predicted = predictive.probs.max(-1)
    correct = (predicted == y).to(confidence.dtype)
    bins = torch.clamp(torch.ceil(confidence * num_bins).long() - 1, 0, num_bins - 1)
    total = torch.zeros((), dtype=confidence.dtype)
    for index in range(num_bins):
        members = bins == index
        if bool(members.any()):
            gap = (correct[members].mean() - confidence[members].mean()).abs()
            total = total + members.to(confidence.dtype).mean() * gap
    return float(total)


def predictive_entropy(predictive: CategoricalPredictive) -> torch.Tensor:
    """Entropy of the predictive class distribution per point ``[num_points]``."""
    return _categorical(predictive).entropy()


def auroc(scores_negative: Any, scores_positive: Any) -> float:
    """Area under the ROC curve for ``positive`` scoring higher than ``negative``.

    Equals the Mann-Whitney probability ``P(S+ > S-) + P(S+ = S-) / 2``, computed from mid-ranks.
    """
    negative = to_tensor(scores_negative, "scores_negative").to(torch.float64).reshape(-1)
    positive = to_tensor(scores_positive, "scores_positive").to(torch.float64).reshape(-1)
    if negative.numel() == 0 or positive.numel() == 0:
        raise InputError("auroc needs at least one score in each group")
    if not bool(torch.isfinite(negative).all() and torch.isfinite(positive).all()):
        raise InputError("auroc scores must be finite")
    scores = torch.cat([negative, positive])
    _, order = scores.sort()
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    # mid-ranks for ties: every member of a tie group gets the group's mean rank
    unique, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    rank_sums = torch.zeros(len(unique), dtype=torch.float64).index_add_(0, inverse, ranks)
    ranks = (rank_sums / counts)[inverse]
    num_negative, num_positive = len(negative), len(positive)
    positive_rank_sum = ranks[num_negative:].sum()
    return float((positive_rank_sum - num_positive * (num_positive + 1) / 2) / (num_negative * num_positive))


def ood_auroc(in_distribution: CategoricalPredictive, out_of_distribution: CategoricalPredictive) -> float:
    """AUROC of predictive entropy for telling OOD inputs (positives) from in-distribution ones."""
    return auroc(predictive_entropy(in_distribution), predictive_entropy(out_of_distribution))


# ---------------------------------------------------------------------------- bundles
def regression_metrics(predictive: Predictive, y: Any, levels: Sequence[float] = DEFAULT_LEVELS) -> dict[str, Any]:
    """NLL, RMSE, CRPS, 90 % coverage and calibration in one dictionary."""
    result = {"nll": negative_log_likelihood(predictive, y), "rmse": rmse(predictive, y),
              "crps": crps(predictive, y)}
    calibration_result = calibration(predictive, y, levels)
    result["coverage_90"] = interval_coverage(predictive, y, 0.9)
    result["calibration_error"] = calibration_result["calibration_error"]
    result["calibration"] = calibration_result
    return result


def classification_metrics(predictive: CategoricalPredictive, y: Any) -> dict[str, float]:
    """Accuracy, NLL, ECE and Brier score in one dictionary."""
    return {"accuracy": accuracy(predictive, y), "nll": negative_log_likelihood(predictive, y),
            "ece": expected_calibration_error(predictive, y), "brier": brier_score(predictive, y)}
