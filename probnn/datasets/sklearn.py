"""scikit-learn's offline datasets as standardised :class:`DataSplit`\\ s.

``diabetes`` is regression (442 patients, 10 features, disease progression after one year);
``breast_cancer`` (2 classes), ``wine`` (3 classes) and ``digits`` (10 classes, 8x8 images) are
classification. All ship with scikit-learn, so no network is needed.
"""

from __future__ import annotations

import torch

from probnn.datasets.split import DataSplit
from probnn.errors import InputError

#: name -> (scikit-learn loader function name, task)
SKLEARN_DATASETS = {
    "diabetes": ("load_diabetes", "regression"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "digits": ("load_digits", "classification"),
}


def load_sklearn(name: str, test_fraction: float = 0.2, seed: int = 0) -> DataSplit:
    """A random train/test split of a scikit-learn dataset, standardised with training statistics.

    Args:
        name: one of ``diabetes`` (regression), ``breast_cancer``, ``wine``, ``digits`` (classification).
        test_fraction: fraction of points held out for testing, in (0, 1).
        seed: seed of the random split (same seed -> same split).
    """
    from sklearn import datasets

    key = str(name).replace("-", "_").lower()
    if key not in SKLEARN_DATASETS:
        raise InputError(f"unknown scikit-learn dataset {name!r}; available: {sorted(SKLEARN_DATASETS)}")
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    loader, task = SKLEARN_DATASETS[key]
    bunch = getattr(datasets, loader)()
    x = torch.as_tensor(bunch.data, dtype=torch.float64)
    y = torch.as_tensor(bunch.target)
    count = x.shape[0]
    num_test = max(1, round(test_fraction * count))
    if num_test >= count:
        raise InputError(f"test_fraction={test_fraction} leaves no training points out of {count}")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(int(seed)))
    test, train = order[:num_test], order[num_test:]
    num_classes = int(y.max()) + 1 if task == "classification" else None
    if task == "regression":
        y = y.to(torch.float64)
    return DataSplit.from_arrays(key, None, task, x[train], y[train], x[test], y[test], num_classes=num_classes,
                                 info={"source": f"sklearn.datasets.{loader}", "test_fraction": test_fraction,
                                       "seed": int(seed)})
