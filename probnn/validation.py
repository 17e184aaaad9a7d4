"""Input validation shared by every public entry point.

Each check names the argument and says what was expected, so bad input fails at the boundary with
a clear message instead of a deep stack trace or a silently wrong answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from probnn.errors import InputError, InputTypeError

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def to_tensor(value: Any, name: str) -> torch.Tensor:
    """Convert ``value`` (tensor, NumPy array, list, scalar) to a tensor without changing its dtype."""
    if isinstance(value, torch.Tensor):
        return value
    if value is None:
        raise InputTypeError(f"{name} is required; got None")
    try:
        array = np.asarray(value)
    except Exception as error:  # pragma: no cover - numpy raises many types here
        raise InputTypeError(f"{name} could not be converted to an array: {error}") from error
    if array.dtype == object:
        raise InputTypeError(f"{name} must be numeric; got an array of Python objects")
    if array.dtype.kind in "US":
        raise InputTypeError(f"{name} must be numeric; got strings (dtype {array.dtype})")
    return torch.as_tensor(array)


def check_float(value: Any, name: str, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Return ``value`` as a finite floating-point tensor (optionally cast to ``dtype``).

    Integer, boolean and complex inputs are rejected rather than silently cast: a regression input
    given as integers is usually a label column by mistake.
    """
    tensor = to_tensor(value, name)
    if tensor.dtype not in _FLOAT_DTYPES:
        raise InputTypeError(
            f"{name} must have a floating-point dtype (float32 or float64); got {tensor.dtype}. "
            f"Convert it explicitly, e.g. {name}.float()"
        )
    if dtype is not None:
        tensor = tensor.to(dtype)
    check_finite(tensor, name)
    return tensor


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise if ``tensor`` holds NaN or +-inf, saying how many entries and where the first one is."""
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        count = int(bad.sum())
        first = tuple(int(i) for i in bad.nonzero()[0])
        kind = "NaN" if bool(torch.isnan(tensor).any()) else "inf"
        raise InputError(
            f"{name} must be finite; it has {count} non-finite entries ({kind}), first at index {first}"
        )


def check_inputs(x: Any, name: str = "x", *, dtype: torch.dtype | None = None,
                 num_features: int | None = None) -> torch.Tensor:
    """Validate a design matrix: a finite float tensor of shape ``[num_points, num_features]``."""
    tensor = check_float(x, name, dtype=dtype)
    if tensor.ndim != 2:
        hint = f" Use {name}.reshape(-1, 1) for a single feature." if tensor.ndim == 1 else ""
        raise InputError(
            f"{name} must be 2-D with shape [num_points, num_features]; got shape {tuple(tensor.shape)}.{hint}"
        )
    if tensor.shape[0] == 0:
        raise InputError(f"{name} is empty: it must hold at least one point; got shape {tuple(tensor.shape)}")
    if tensor.shape[1] == 0:
        raise InputError(f"{name} has no features; got shape {tuple(tensor.shape)}")
    if num_features is not None and tensor.shape[1] != num_features:
        raise InputError(
            f"{name} must have {num_features} features (as the model was built or fitted with); "
            f"got {tensor.shape[1]}"
        )
    return tensor


def check_targets(y: Any, num_points: int, name: str = "y", *, kind: str = "real",
                  dtype: torch.dtype | None = None, num_classes: int | None = None) -> torch.Tensor:
    """Validate targets matching ``num_points`` inputs.

    ``kind="real"``: a finite float tensor ``[n]`` or ``[n, 1]``, returned as ``[n]``
    (multi-output ``[n, out]`` is kept). ``kind="categorical"``: integer class labels ``[n]`` in
    ``0..num_classes-1`` (a float tensor holding whole numbers is accepted), returned as int64.
    """
    if kind == "categorical":
        tensor = to_tensor(y, name)
        if tensor.ndim == 2 and tensor.shape[1] == 1:
            tensor = tensor[:, 0]
        if tensor.ndim != 1:
            raise InputError(f"{name} must be 1-D class labels [num_points]; got shape {tuple(tensor.shape)}")
        if tensor.dtype.is_floating_point:
            check_finite(tensor, name)
            if not bool((tensor == tensor.round()).all()):
                raise InputTypeError(f"{name} must hold integer class labels; got non-integer floats")
        elif tensor.dtype == torch.bool or tensor.dtype.is_complex:
            raise InputTypeError(f"{name} must hold integer class labels; got dtype {tensor.dtype}")
        tensor = tensor.long()
        if bool((tensor < 0).any()):
            raise InputError(f"{name} must hold class labels >= 0; got minimum {int(tensor.min())}")
        if num_classes is not None and bool((tensor >= num_classes).any()):
            raise InputError(
                f"{name} must hold class labels < num_classes={num_classes}; got maximum {int(tensor.max())}"
            )
    elif kind == "real":
        tensor = check_float(y, name, dtype=dtype)
        if tensor.ndim == 2 and tensor.shape[1] == 1:
            tensor = tensor[:, 0]
        if tensor.ndim not in (1, 2):
            raise InputError(
                f"{name} must have shape [num_points] or [num_points, num_outputs]; got {tuple(tensor.shape)}"
            )
    else:  # pragma: no cover - programming error
        raise ValueError(f"kind must be 'real' or 'categorical'; got {kind!r}")
    if tensor.shape[0] != num_points:
        raise InputError(
            f"x and {name} must have the same number of points; got {num_points} inputs and "
            f"{tensor.shape[0]} targets"
        )
    return tensor


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int ``>= minimum`` or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{name} must be an int >= {minimum}; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_probability(value: Any, name: str, *, open_interval: bool = True) -> float:
    """Return ``value`` as a float in (0, 1) (or [0, 1] when ``open_interval=False``)."""
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise InputTypeError(f"{name} must be a number in (0, 1); got {value!r}") from error
    inside = 0.0 < number < 1.0 if open_interval else 0.0 <= number <= 1.0
    if not inside:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise InputError(f"{name} must lie in {bounds}; got {number}")
    return number
