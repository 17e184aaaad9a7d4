"""UCI folder loader and scikit-learn datasets: standardisation, transforms, name resolution."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from probnn.datasets import DataSplit, load_sklearn, load_uci, num_splits
from probnn.datasets.uci import default_roots
from probnn.errors import InputError
from probnn.predictive import GaussianPredictive


def shared_uci() -> Path | None:
    for root in default_roots():
        if (root / "concrete" / "data.txt").is_file():
            return root
    return None


needs_uci = pytest.mark.skipif(shared_uci() is None, reason="../shared/data/uci is absent")


def make_folder(tmp_path: Path, num_rows: int = 12, splits: int = 2) -> Path:
    folder = tmp_path / "toy"
    folder.mkdir()
    rng = np.random.default_rng(0)
    data = np.c_[rng.normal(5, 2, size=(num_rows, 2)), np.full(num_rows, 3.0), rng.normal(100, 10, size=num_rows)]
    np.savetxt(folder / "data.txt", data)
    np.savetxt(folder / "index_features.txt", [0, 1, 2], fmt="%d")
    np.savetxt(folder / "index_target.txt", [3], fmt="%d")
    for split in range(splits):
        order = rng.permutation(num_rows)
        np.savetxt(folder / f"index_train_{split}.txt", order[:9], fmt="%d")
        np.savetxt(folder / f"index_test_{split}.txt", order[9:], fmt="%d")
    return folder


def test_folder_format_standardises_with_training_statistics(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    data = load_uci(folder, split=1)
    raw = np.loadtxt(folder / "data.txt")
    train = np.loadtxt(folder / "index_train_1.txt", dtype=int)
    test = np.loadtxt(folder / "index_test_1.txt", dtype=int)
    assert num_splits(folder) == 2
    np.testing.assert_allclose(data.y_train_original, raw[train, 3], rtol=1e-12)
    np.testing.assert_allclose(data.y_test_original, raw[test, 3], rtol=1e-12)
    np.testing.assert_allclose(data.y_mean, raw[train, 3].mean(), rtol=1e-12)
    np.testing.assert_allclose(data.y_std, raw[train, 3].std(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(data.x_train[:, :2].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(data.x_train[:, :2].std(0), 1, atol=1e-12)
    np.testing.assert_allclose(data.x_test[:, 0], (raw[test, 0] - raw[train, 0].mean()) / raw[train, 0].std(ddof=1))
    # a constant column is centred, not divided by zero
    assert bool(torch.isfinite(data.x_train).all()) and float(data.x_std[2]) == 1.0
    np.testing.assert_allclose(data.x_to_original(data.x_test), raw[test, :3], rtol=1e-12)


def test_to_original_maps_a_predictive_back(tmp_path: Path) -> None:
    data = load_uci(make_folder(tmp_path), split=0)
    standardised = GaussianPredictive(torch.zeros(data.num_test, dtype=torch.float64),
                                      torch.ones(data.num_test, dtype=torch.float64))
    original = data.to_original(standardised)
    np.testing.assert_allclose(original.mean, data.y_mean)
    np.testing.assert_allclose(original.stddev, data.y_std)
    # densities pick up the Jacobian 1 / y_std
    np.testing.assert_allclose(original.log_prob(data.y_test_original),
                               standardised.log_prob(data.y_test) - math.log(data.y_std), rtol=1e-12)


def test_bad_folders_and_splits(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    with pytest.raises(InputError, match=r"split must be in 0\.\.1"):
        load_uci(folder, split=2)
    with pytest.raises(InputError, match=r"not found.*available"):
        load_uci("no-such-dataset", root=tmp_path)
    (folder / "index_test_1.txt").write_text("0\n99\n")
    with pytest.raises(InputError, match="0-based row indices"):
        load_uci(folder, split=1)
    np.savetxt(folder / "index_test_0.txt", np.loadtxt(folder / "index_train_0.txt", dtype=int)[:2], fmt="%d")
    with pytest.raises(InputError, match="overlap"):
        load_uci(folder, split=0)


def test_name_lookup_under_root_and_environment(tmp_path: Path, monkeypatch) -> None:
    make_folder(tmp_path)
    assert load_uci("toy", split=0, root=tmp_path).name == "toy"
    monkeypatch.setenv("PROBNN_UCI_ROOT", str(tmp_path))
    assert load_uci("toy", split=0).num_train == 9


def test_subsample_train_keeps_the_transform(tmp_path: Path) -> None:
    data = load_uci(make_folder(tmp_path), split=0)
    smaller = data.subsample_train(5, seed=1)
    assert smaller.num_train == 5 and smaller.num_test == data.num_test
    assert smaller.y_mean == data.y_mean and smaller.info["train_subsample"] == {"kept": 5, "of": 9, "seed": 1}
    assert data.subsample_train(50) is data


@needs_uci
@pytest.mark.parametrize("name, features, rows", [("boston", 13, 506), ("concrete", 8, 1030), ("energy", 8, 768),
                                                  ("yacht", 6, 308), ("wine-quality-red", 11, 1599),
                                                  ("naval", 16, 11934)])
def test_shared_uci_sets(name: str, features: int, rows: int) -> None:
    assert num_splits(name) == 20
    data = load_uci(name, split=19)
    assert data.num_features == features
    assert data.num_train + data.num_test == rows  # 0-based indices cover every row once
    assert bool(torch.isfinite(data.x_train).all()) and bool(torch.isfinite(data.x_test).all())
    assert abs(float(data.y_train.mean())) < 1e-10 and abs(float(data.y_train.std()) - 1) < 1e-10


@pytest.mark.parametrize("name, task, classes", [("diabetes", "regression", None),
                                                 ("breast_cancer", "classification", 2),
                                                 ("wine", "classification", 3), ("digits", "classification", 10)])
def test_sklearn_sets(name: str, task: str, classes: int | None) -> None:
    data = load_sklearn(name, test_fraction=0.25, seed=3)
    assert isinstance(data, DataSplit) and data.task == task and data.num_classes == classes
    again = load_sklearn(name, test_fraction=0.25, seed=3)
    assert torch.equal(data.x_test, again.x_test)
    assert not torch.equal(data.x_test, load_sklearn(name, test_fraction=0.25, seed=4).x_test)
    if task == "classification":
        assert data.y_train.dtype == torch.int64 and int(data.y_train.max()) == classes - 1
        assert data.y_to_original(data.y_test) is data.y_test
    else:
        assert abs(float(data.y_train.mean())) < 1e-10
    with pytest.raises(InputError, match="test_fraction"):
        load_sklearn(name, test_fraction=1.5)


def test_unknown_sklearn_name() -> None:
    with pytest.raises(InputError, match="available"):
        load_sklearn("iris")
