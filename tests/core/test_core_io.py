"""Save/load: exact round trips, atomic writes, and clear errors on bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_save
from safetensors.torch import save_file

import probnn
from probnn import io
from probnn.errors import CheckpointError

DTYPE = torch.float64


@pytest.fixture(scope="module")
def posterior() -> probnn.Posterior:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(30, 2, generator=generator, dtype=DTYPE)
    y = torch.sin(4 * x[:, 0]) + 0.1 * torch.randn(30, generator=generator, dtype=DTYPE)
    return probnn.fit(probnn.models.GP(), x, y, method="exact", progress=False, max_iterations=30)


def test_round_trip_gives_identical_predictions(posterior, tmp_path: Path) -> None:
    path = posterior.save(tmp_path / "gp.safetensors")
    loaded = probnn.load(path)
    assert type(loaded) is type(posterior)
    x = torch.rand(17, 2, generator=torch.Generator().manual_seed(1), dtype=DTYPE)
    before, after = posterior.predict(x), loaded.predict(x)
    assert torch.equal(before.mean, after.mean)
    assert torch.equal(before.variance, after.variance)
    assert torch.equal(posterior.sample_functions(x, 3, generator=5), loaded.sample_functions(x, 3, generator=5))
    assert loaded.fit_info["log_marginal_likelihood"] == posterior.fit_info["log_marginal_likelihood"]


def test_directory_path_and_model_round_trip(posterior, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    path = probnn.save(posterior, tmp_path / "run")
    assert path == tmp_path / "run" / io.DEFAULT_FILENAME
    assert probnn.save(posterior, f"{tmp_path}/fresh/") == tmp_path / "fresh" / io.DEFAULT_FILENAME
    assert torch.equal(probnn.load(tmp_path / "run").alpha, posterior.alpha)
    model_path = posterior.model.save(tmp_path / "model.safetensors")
    model = probnn.load(model_path)
    x = torch.rand(5, 2, dtype=DTYPE)
    assert torch.equal(model.kernel_matrix(x), posterior.model.kernel_matrix(x))


def test_interrupted_write_leaves_existing_checkpoint_untouched(posterior, tmp_path: Path, monkeypatch) -> None:
    path = posterior.save(tmp_path / "gp.safetensors")
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        posterior.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gp.safetensors"], "temp file left behind"
    probnn.load(path)


def test_interrupted_payload_write_leaves_checkpoint_untouched(posterior, tmp_path: Path, monkeypatch) -> None:
    path = posterior.save(tmp_path / "gp.safetensors")
    original = path.read_bytes()

    def failing_fsync(descriptor):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        posterior.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert len(list(tmp_path.iterdir())) == 1


def test_truncated_file_raises(posterior, tmp_path: Path) -> None:
    path = posterior.save(tmp_path / "gp.safetensors")
    data = path.read_bytes()
    for cut in (0, 5, 100, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            probnn.load(path)


def test_corrupted_tensor_bytes_raise(posterior, tmp_path: Path) -> None:
    path = posterior.save(tmp_path / "gp.safetensors")
    data = bytearray(path.read_bytes())
    data[-9] ^= 0xFF  # flip bits inside the last tensor's payload
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        probnn.load(path)


def test_corrupted_metadata_raises(posterior, tmp_path: Path) -> None:
    path = posterior.save(tmp_path / "gp.safetensors")
    data = path.read_bytes()
    header_length = int.from_bytes(data[:8], "little")
    header = data[8:8 + header_length].replace(b'"format_version', b'"format_versiom')
    path.write_bytes(data[:8] + header + data[8 + header_length:])
    with pytest.raises(CheckpointError, match="format version"):
        probnn.load(path)


def test_foreign_files_raise(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError):
        probnn.load(garbage)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(plain))
    with pytest.raises(CheckpointError, match="not a probnn file"):
        probnn.load(plain)
    with pytest.raises(CheckpointError, match="no probnn file"):
        probnn.load(tmp_path / "missing.safetensors")


def _forged(tmp_path: Path, type_name: str) -> Path:
    tensors = {"x": torch.zeros(2)}
    metadata = {"format": "probnn", "format_version": 1, "probnn_version": "0", "type": type_name, "config": {},
                "tensor_sha256": io._digest(tensors)}
    path = tmp_path / "forged.safetensors"
    path.write_bytes(safetensors_save(tensors, metadata={"probnn": json.dumps(metadata)}))
    return path


@pytest.mark.parametrize("type_name", ["os:system", "builtins:eval", "probnn.nope:Thing", "probnn.io:load",
                                       "subprocess:Popen", "probnn.api:fit"])
def test_types_outside_probnn_are_never_built(tmp_path: Path, type_name: str) -> None:
    with pytest.raises(CheckpointError):
        probnn.load(_forged(tmp_path, type_name))


def test_unsaveable_object_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot be saved"):
        probnn.save(object(), tmp_path / "x.safetensors")
