"""A standardised train/test split that remembers how to map predictions back to original units.

Benchmarks in the Bayesian deep-learning literature (Hernández-Lobato & Adams 2015; Gal &
Ghahramani 2016; Lakshminarayanan et al. 2017) fit on inputs and targets standardised with the
*training* split's mean and standard deviation, and report test NLL and RMSE in the *original*
units. :class:`DataSplit` holds the standardised tensors and the transform; ``to_original`` maps a
:class:`probnn.predictive.Predictive` for standardised targets to one for original targets
(``y = y_mean + y_std * z``, so ``log p(y) = log p(z) - log y_std``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from probnn.errors import InputError
from probnn.predictive import Predictive

#: Standard deviations below this (relative to 1 + |mean|) count as a constant column, which is
#: centred but not scaled (dividing by ~0 would blow it up; naval has two constant features).
CONSTANT_COLUMN_TOLERANCE = 1e-12


def standardisation(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column means and standard deviations ``([d], [d])`` of ``values`` ``[n, d]`` (or ``[n]``).

    Uses the unbiased standard deviation (one observation -> 1). Constant columns get std 1.
    """
    mean = values.mean(0)
    std = values.std(0) if values.shape[0] > 1 else torch.ones_like(mean)
    constant = std <= CONSTANT_COLUMN_TOLERANCE * (1 + mean.abs())
    return mean, torch.where(constant, torch.ones_like(std), std)


@dataclass
class DataSplit:
    """One train/test split, standardised with training statistics.

    Attributes:
        name: dataset name; ``split``: split index (``None`` for a random split).
        task: ``"regression"`` or ``"classification"``.
        x_train ``[n, d]``, x_test ``[m, d]``: standardised inputs (float64).
        y_train ``[n]``, y_test ``[m]``: standardised targets (float64) for regression, int64 labels
            for classification.
        x_mean, x_std ``[d]``: the input transform, ``x_standardised = (x - x_mean) / x_std``.
        y_mean, y_std: the target transform (``0`` and ``1`` for classification).
        num_classes: number of classes (classification only).
        info: free-form provenance (source folder, subsampling) recorded by the loader.
    """

    name: str
    split: int | None
    task: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_mean: torch.Tensor
    x_std: torch.Tensor
    y_mean: float = 0.0
    y_std: float = 1.0
    num_classes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, name: str, split: int | None, task: str, x_train: torch.Tensor, y_train: torch.Tensor,
                    x_test: torch.Tensor, y_test: torch.Tensor, *, num_classes: int | None = None,
                    info: dict[str, Any] | None = None) -> DataSplit:
        """Standardise raw arrays with the training statistics (targets too, for regression)."""
        if task not in ("regression", "classification"):
            raise InputError(f"task must be 'regression' or 'classification'; got {task!r}")
        x_train = torch.as_tensor(x_train, dtype=torch.float64)
        x_test = torch.as_tensor(x_test, dtype=torch.float64)
        if x_train.shape[0] == 0 or x_test.shape[0] == 0:
            raise InputError(f"{name}: the training and test sets must be non-empty; got "
                             f"{x_train.shape[0]} and {x_test.shape[0]} points")
        x_mean, x_std = standardisation(x_train)
        if task == "regression":
            y_train = torch.as_tensor(y_train, dtype=torch.float64)
            y_test = torch.as_tensor(y_test, dtype=torch.float64)
            y_mean_t, y_std_t = standardisation(y_train)
            y_mean, y_std = float(y_mean_t), float(y_std_t)
            y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std
        else:
            y_train, y_test = torch.as_tensor(y_train).long(), torch.as_tensor(y_test).long()
            y_mean, y_std = 0.0, 1.0
        return cls(name=name, split=split, task=task, x_train=(x_train - x_mean) / x_std, y_train=y_train,
                   x_test=(x_test - x_mean) / x_std, y_test=y_test, x_mean=x_mean, x_std=x_std,
                   y_mean=y_mean, y_std=y_std, num_classes=num_classes, info=dict(info or {}))

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.x_test.shape[0])

    def y_to_original(self, y: torch.Tensor) -> torch.Tensor:
        """Map standardised targets back to original units: ``y_mean + y_std * y``."""
        if self.task != "regression":
            return y
        return self.y_mean + self.y_std * y

    @property
    def y_test_original(self) -> torch.Tensor:
        """Test targets in original units."""
        return self.y_to_original(self.y_test)

    @property
    def y_train_original(self) -> torch.Tensor:
        """Training targets in original units."""
        return self.y_to_original(self.y_train)

    def x_to_original(self, x: torch.Tensor) -> torch.Tensor:
        """Map standardised inputs back to original units."""
        return self.x_mean + self.x_std * x

    def to_original(self, predictive: Predictive) -> Predictive:
        """The predictive of original-unit targets, ``y_mean + y_std * Z`` (regression only)."""
        if self.task != "regression":
            return predictive
        return predictive.affine(self.y_mean, self.y_std)

    def subsample_train(self, max_points: int, *, seed: int = 0) -> DataSplit:
        """A copy keeping at most ``max_points`` random training points (same transform).

        Used by benchmarks where an O(n^3) method cannot afford the full training set; the subset
        is recorded in ``info`` so results can say so.
        """
        if self.num_train <= max_points:
            return self
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(self.num_train, generator=generator)[:max_points].sort().values
        info = {**self.info, "train_subsample": {"kept": max_points, "of": self.num_train, "seed": seed}}
        return DataSplit(name=self.name, split=self.split, task=self.task, x_train=self.x_train[keep],
                         y_train=self.y_train[keep], x_test=self.x_test, y_test=self.y_test, x_mean=self.x_mean,
                         x_std=self.x_std, y_mean=self.y_mean, y_std=self.y_std, num_classes=self.num_classes,
                         info=info)

    def __repr__(self) -> str:
        return (f"DataSplit(name={self.name!r}, split={self.split}, task={self.task!r}, "
                f"train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)})")
