"""The UCI regression benchmark in its standard folder format (Hernández-Lobato & Adams, 2015).

A dataset folder holds::

    data.txt              whitespace-separated matrix, one row per observation
    index_features.txt    0-based column indices of the inputs
    index_target.txt      0-based column index of the target
    index_train_K.txt     0-based row indices of split K's training set (K = 0 .. n_splits - 1)
    index_test_K.txt      0-based row indices of split K's test set
    n_splits.txt          (optional) the number of splits (20 for the standard sets)

This is the layout of the ``UCI_Datasets`` folders used by Gal & Ghahramani (2016) and
Lakshminarayanan et al. (2017); all indices are 0-based (checked against the files: every split's
train + test indices cover rows ``0 .. N-1`` exactly). Quirks handled here: naval has two constant
input columns (standardised with std 1 instead of dividing by zero), energy's folder keeps only the
heating-load target (column 8).

Datasets are found by name under, in order: the ``root`` argument, the ``PROBNN_UCI_ROOT``
environment variable, and ``<repository>/../shared/data/uci`` (or the nearest ancestor's
``shared/data/uci``, for nested git worktrees).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from probnn.datasets.split import DataSplit
from probnn.errors import InputError, InputTypeError

#: Short names accepted for the standard folders.
ALIASES = {
    "boston": "bostonHousing",
    "boston-housing": "bostonHousing",
    "naval": "naval-propulsion-plant",
    "wine": "wine-quality-red",
    "wine-red": "wine-quality-red",
    "power": "power-plant",
    "protein": "protein-tertiary-structure",
}
ENVIRONMENT_VARIABLE = "PROBNN_UCI_ROOT"


def default_roots(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders searched for dataset names, in order."""
    roots = []
    if root is not None:
        roots.append(Path(root))
    if os.environ.get(ENVIRONMENT_VARIABLE):
        roots.append(Path(os.environ[ENVIRONMENT_VARIABLE]))
    repository = Path(__file__).resolve().parents[2]
    # <repository>/../shared/data/uci; for a git worktree nested deeper (<main>/../wt/<name>), the
    # nearest ancestor that has shared/data/uci.
    roots.append(repository.parent / "shared" / "data" / "uci")
    roots.extend(ancestor / "shared" / "data" / "uci" for ancestor in repository.parents[1:]
                 if (ancestor / "shared" / "data" / "uci").is_dir())
    return roots


def resolve_uci_path(name_or_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of a UCI dataset given as a path or a name (aliases such as ``"boston"`` work)."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InputTypeError(f"name_or_path must be a dataset name or a folder path; got {type(name_or_path).__name__}")
    candidate = Path(name_or_path)
    if (candidate / "data.txt").is_file():
        return candidate
    name = str(name_or_path)
    names = [name, ALIASES.get(name, name), ALIASES.get(name.lower(), name)]
    roots = default_roots(root)
    for folder in roots:
        for option in names:
            if (folder / option / "data.txt").is_file():
                return folder / option
    available = sorted({p.name for folder in roots if folder.is_dir() for p in folder.iterdir()
                        if (p / "data.txt").is_file()})
    raise InputError(
        f"UCI dataset {name!r} not found: not a folder holding data.txt, and not a dataset under "
        f"{[str(r) for r in roots]} (set root= or ${ENVIRONMENT_VARIABLE}); available: {available}")


@lru_cache(maxsize=16)
def _read_folder(folder: str) -> tuple[np.ndarray, np.ndarray, int]:
    path = Path(folder)
    try:
        data = np.loadtxt(path / "data.txt", ndmin=2)
        features = np.loadtxt(path / "index_features.txt", dtype=np.int64, ndmin=1)
        target = int(np.loadtxt(path / "index_target.txt", dtype=np.int64))
    except (OSError, ValueError) as error:
        raise InputError(f"{path} is not a readable UCI folder: {error}") from error
    if data.shape[1] <= max(int(features.max()), target):
        raise InputError(f"{path}: index files name column {max(int(features.max()), target)} but data.txt "
                         f"has {data.shape[1]} columns")
    if not np.isfinite(data).all():
        raise InputError(f"{path}/data.txt holds non-finite values")
    return data[:, features], data[:, target], data.shape[0]


def num_splits(name_or_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> int:
    """Number of train/test splits in the folder (``n_splits.txt`` if present, else the index files)."""
    folder = resolve_uci_path(name_or_path, root)
    count = 0
    while (folder / f"index_train_{count}.txt").is_file():
        count += 1
    declared = folder / "n_splits.txt"
    if declared.is_file():
        try:
            return min(int(declared.read_text().split()[0]), count)
        except (ValueError, IndexError):
            pass
    return count


def load_uci(name_or_path: str | os.PathLike[str], split: int = 0, *,
             root: str | os.PathLike[str] | None = None) -> DataSplit:
    """Load split ``split`` of a UCI benchmark set, standardised with its training statistics.

    Args:
        name_or_path: a folder in the UCI format, or a dataset name (``"concrete"``, ``"boston"``,
            ``"naval"``, ...) looked up under ``root``, ``$PROBNN_UCI_ROOT`` and ``../shared/data/uci``.
        split: split index, ``0 .. num_splits(name) - 1``.
        root: an extra folder to look names up in (searched first).

    Returns:
        a :class:`DataSplit`; report metrics in original units with
        ``data.to_original(posterior.predict(data.x_test))`` against ``data.y_test_original``.

    Example:
        >>> data = load_uci("concrete", split=0)          # doctest: +SKIP
        >>> data.x_train.shape, data.y_std                # doctest: +SKIP
        (torch.Size([927, 8]), 16.7...)
    """
    folder = resolve_uci_path(name_or_path, root)
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)):
        raise InputTypeError(f"split must be an int; got {type(split).__name__}")
    count = num_splits(folder)
    if not 0 <= split < count:
        raise InputError(f"split must be in 0..{count - 1} for {folder.name} ({count} splits); got {split}")
    inputs, targets, num_rows = _read_folder(str(folder.resolve()))
    train = np.loadtxt(folder / f"index_train_{split}.txt", dtype=np.int64, ndmin=1)
    test = np.loadtxt(folder / f"index_test_{split}.txt", dtype=np.int64, ndmin=1)
    for indices, kind in ((train, "train"), (test, "test")):
        if indices.size == 0 or indices.min() < 0 or indices.max() >= num_rows:
            raise InputError(f"{folder}/index_{kind}_{split}.txt must hold 0-based row indices in "
                             f"0..{num_rows - 1}")
    if np.intersect1d(train, test).size:
        raise InputError(f"{folder}: split {split}'s train and test indices overlap")
    return DataSplit.from_arrays(
        folder.name, int(split), "regression", torch.from_numpy(inputs[train]), torch.from_numpy(targets[train]),
        torch.from_numpy(inputs[test]), torch.from_numpy(targets[test]), info={"source": str(folder)})
