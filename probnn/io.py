"""Saving and loading probnn objects: safetensors for tensors, JSON metadata, atomic writes.

File format (one file, ``format_version`` 1): a standard safetensors file whose header metadata
holds one key, ``"probnn"``, a JSON document::

    {"format": "probnn", "format_version": 1, "probnn_version": "...",
     "type": "probnn.gp.regression:ExactGPPosterior",   # a registered probnn class
     "config": {...},                                   # JSON constructor/config data
     "tensor_sha256": "..."}                            # digest of every tensor, in key order

Loading never unpickles anything: the type must name a class inside the ``probnn`` package that was
registered with :func:`register` (importing ``probnn.*`` modules only), tensors come from
safetensors, and the digest catches corrupted tensor bytes that the safetensors header cannot.

Writes are atomic: the file is written to a temporary name in the same directory, flushed and
fsynced, then renamed over the target with :func:`os.replace`, so an interrupted save leaves any
existing checkpoint untouched.

Objects take part by implementing ``get_state() -> (config, tensors)`` and a classmethod
``from_state(config, tensors)``; nested objects are stored with :func:`encode_child` /
:func:`decode_child` under a key prefix.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_save

from probnn.errors import CheckpointError

FORMAT_NAME = "probnn"
FORMAT_VERSION = 1
#: File name used when ``save``/``load`` are given a directory.
DEFAULT_FILENAME = "probnn.safetensors"

_REGISTRY: dict[str, type] = {}
T = TypeVar("T", bound=type)


@runtime_checkable
class Stateful(Protocol):
    """What a saveable object implements."""

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]: ...

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Any: ...


def type_name(cls: type) -> str:
    """The stable name a class is saved under: ``module:QualifiedName``."""
    return f"{cls.__module__}:{cls.__qualname__}"


def register(cls: T) -> T:
    """Class decorator: allow ``cls`` to be loaded by name. Only ``probnn`` classes may register."""
    name = type_name(cls)
    if not name.startswith("probnn."):
        raise TypeError(f"only classes inside the probnn package can be registered; got {name}")
    _REGISTRY[name] = cls
    return cls


def resolve_type(name: str) -> type:
    """Return the probnn class called ``name`` (``module:QualifiedName``), importing its module.

    Only modules inside the ``probnn`` package are imported, and the class must implement
    ``from_state``; nothing else named in a file is ever touched.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    module, _, qualname = name.partition(":")
    if not module.startswith("probnn.") or not module.replace(".", "").replace("_", "").isalnum():
        raise CheckpointError(f"the file names type {name!r}, which is not a probnn class")
    try:
        namespace: Any = importlib.import_module(module)
    except ImportError as error:
        raise CheckpointError(f"the file names type {name!r}, whose module cannot be imported: {error}") from error
    for part in qualname.split("."):
        namespace = getattr(namespace, part, None)
    if not isinstance(namespace, type) or not hasattr(namespace, "from_state"):
        raise CheckpointError(f"the file names type {name!r}, which is not a loadable probnn class")
    _REGISTRY[name] = namespace
    return namespace


# ---------------------------------------------------------------------------- nesting helpers
def encode_child(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Encode a nested stateful object: its tensors go into ``tensors`` under ``prefix + '.'``."""
    if not isinstance(obj, Stateful):
        raise TypeError(f"{type(obj).__name__} cannot be saved: it has no get_state/from_state")
    config, child_tensors = obj.get_state()
    for key, value in child_tensors.items():
        tensors[f"{prefix}.{key}"] = value
    return {"type": type_name(type(obj)), "config": config}


def decode_child(encoded: Mapping[str, Any], prefix: str, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode_child`."""
    cls = resolve_type(encoded["type"])
    start = prefix + "."
    child = {key[len(start):]: value for key, value in tensors.items() if key.startswith(start)}
    return cls.from_state(dict(encoded["config"]), child)


def distribution_to_config(distribution: torch.distributions.Distribution) -> dict[str, Any]:
    """JSON description of a ``torch.distributions`` (or registered probnn) distribution.

    Stores the class and the constructor parameters listed in ``arg_constraints`` (skipping the
    redundant ``logits``/``probs`` twin), so ``distribution_from_config`` rebuilds it exactly.
    """
    cls = type(distribution)
    if isinstance(distribution, Stateful):
        tensors: dict[str, torch.Tensor] = {}
        encoded = encode_child(distribution, "distribution", tensors)
        encoded["tensors"] = {key: value.tolist() for key, value in tensors.items()}
        return {"kind": "stateful", **encoded}
    module = cls.__module__
    if not (module.startswith("torch.distributions") or module.startswith("probnn.")):
        raise TypeError(f"cannot save distribution {cls.__name__}: only torch.distributions and probnn "
                        "distributions can be saved")
    params = {}
    for name in distribution.arg_constraints:
        if name in ("logits",) and "probs" in params:
            continue
        value = getattr(distribution, name)
        params[name] = torch.as_tensor(value).tolist()
    return {"kind": "torch", "class": f"{module}:{cls.__qualname__}", "params": params}


def distribution_from_config(config: Mapping[str, Any]) -> torch.distributions.Distribution:
    """Inverse of :func:`distribution_to_config`."""
    if config.get("kind") == "stateful":
        tensors = {key: torch.tensor(value) for key, value in config["tensors"].items()}
        return decode_child(config, "distribution", tensors)
    module, _, qualname = config["class"].partition(":")
    if not (module.startswith("torch.distributions") or module.startswith("probnn.")):
        raise CheckpointError(f"refusing to build distribution class {config['class']!r}")
    cls = getattr(importlib.import_module(module), qualname)
    params = {name: torch.tensor(value, dtype=torch.float64) for name, value in config["params"].items()}
    return cls(**params)


# ---------------------------------------------------------------------------- files
def _resolve_path(path: str | os.PathLike[str], *, for_writing: bool) -> Path:
    target = Path(path)
    if target.is_dir() or str(path).endswith(("/", os.sep)):
        if for_writing:
            target.mkdir(parents=True, exist_ok=True)
        return target / DEFAULT_FILENAME
    if for_writing:
        target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].detach().contiguous().cpu()
        digest.update(key.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    try:  # make the rename itself durable
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError:  # pragma: no cover - some filesystems do not support fsync on directories
        pass


def save_state(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], type_: str,
               path: str | os.PathLike[str]) -> Path:
    """Write a config + tensors pair to ``path`` in the probnn format and return the file path."""
    from probnn import __version__

    target = _resolve_path(path, for_writing=True)
    clean = {key: value.detach().contiguous().cpu() for key, value in tensors.items()}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "probnn_version": __version__,
        "type": type_,
        "config": config,
        "tensor_sha256": _digest(clean),
    }
    try:
        text = json.dumps(metadata, allow_nan=True)
    except TypeError as error:
        raise TypeError(f"cannot save {type_}: its config is not JSON-serialisable ({error})") from error
    atomic_write_bytes(target, safetensors_save(clean, metadata={"probnn": text}))
    return target


def save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Save a probnn object (posterior, model, prior, predictive checkpoint) to ``path``.

    ``path`` is a file name, or a directory (then ``probnn.safetensors`` inside it). Returns the
    path of the file written.
    """
    if not isinstance(obj, Stateful):
        raise TypeError(f"{type(obj).__name__} cannot be saved: it has no get_state/from_state")
    config, tensors = obj.get_state()
    return save_state(config, tensors, type_name(type(obj)), path)


def read_state(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify a probnn file: returns ``(type, config, tensors)`` or raises CheckpointError."""
    source = _resolve_path(path, for_writing=False)
    if not source.exists():
        raise CheckpointError(f"no probnn file at {source}")
    try:
        with safe_open(str(source), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{source} is not a readable probnn file (truncated, corrupted or not safetensors): {error}"
        ) from error
    if "probnn" not in header:
        raise CheckpointError(f"{source} is a safetensors file but not a probnn file (no probnn metadata)")
    try:
        metadata = json.loads(header["probnn"])
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{source} has corrupted probnn metadata: {error}") from error
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{source} is not a probnn file (format {metadata.get('format')!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{source} has format version {metadata.get('format_version')!r}; this probnn reads "
            f"version {FORMAT_VERSION}"
        )
    if _digest(tensors) != metadata.get("tensor_sha256"):
        raise CheckpointError(f"{source} is corrupted: its tensors do not match the stored checksum")
    return metadata["type"], metadata["config"], tensors


def load(path: str | os.PathLike[str]) -> Any:
    """Load an object written by :func:`save` (or ``obj.save``). Never unpickles anything."""
    type_, config, tensors = read_state(path)
    cls = resolve_type(type_)
    return cls.from_state(config, tensors)
