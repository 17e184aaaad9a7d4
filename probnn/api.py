"""``probnn.fit``: the single entry point for every model and inference backend."""

from __future__ import annotations

import copy
import importlib
import inspect
import time
from collections.abc import Callable
from typing import Any

from probnn.errors import InputTypeError, MethodError
from probnn.models.base import Model
from probnn.posterior import Posterior
from probnn.validation import check_inputs, check_targets


def resolve_backend(model: Model, method: str | None) -> tuple[str, Callable[..., Posterior]]:
    """Return ``(method, backend_function)`` for ``model``, with a clear error for bad methods."""
    valid = model.supported_methods
    if method is None:
        method = model.default_method or (valid[0] if valid else None)
        if method is None:
            raise MethodError(f"{type(model).__name__} declares no inference methods")
    if not isinstance(method, str):
        raise MethodError(f"method must be a string, one of {list(valid)}; got {type(method).__name__}")
    if method not in valid:
        import difflib

        close = difflib.get_close_matches(method, valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise MethodError(
            f"method={method!r} is not supported by {type(model).__name__}; valid methods: {list(valid)}.{hint}")
    module_name, _, function_name = model.backends[method].partition(":")
    backend = getattr(importlib.import_module(module_name), function_name)
    return method, backend


def check_options(method: str, backend: Callable[..., Any], options: dict[str, Any]) -> None:
    """Reject options the backend does not take, listing the ones it does."""
    parameters = inspect.signature(backend).parameters
    accepted = [name for name, p in parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise MethodError(f"unknown option(s) {unknown} for method={method!r}; valid options: {sorted(accepted)}")


def fit(model: Model, x: Any, y: Any, method: str | None = None, **options: Any) -> Posterior:
    """Condition ``model`` on data ``(x, y)`` with an inference ``method``; return a :class:`Posterior`.

    Args:
        model: any probnn model (GP, BNN, scale-mixture NNGP, neural process, ...).
        x: inputs ``[num_points, num_features]`` (tensor, NumPy array or nested lists; floating point).
        y: targets ``[num_points]`` (or ``[num_points, 1]``); integer labels for classifiers.
        method: an entry of ``model.supported_methods`` (default: ``model.default_method``).
        **options: keyword options of the chosen backend (e.g. ``num_samples``, ``generator``,
            ``progress``); an unknown option raises :class:`probnn.MethodError` listing valid ones.

    The model is deep-copied first: fitting never changes the object passed in.

    Example:
        >>> import torch, probnn
        >>> x = torch.linspace(0, 1, 20, dtype=torch.float64).unsqueeze(-1)
        >>> posterior = probnn.fit(probnn.models.GP(), x, torch.sin(6 * x[:, 0]), method="exact", progress=False)
        >>> posterior.predict(x).mean.shape
        torch.Size([20])
    """
    if not isinstance(model, Model):
        raise InputTypeError(f"model must be a probnn model (probnn.models.*); got {type(model).__name__}")
    method, backend = resolve_backend(model, method)
    check_options(method, backend, options)
    inputs = check_inputs(x, "x")
    targets = check_targets(y, inputs.shape[0], "y", kind=model.target_kind,
                            num_classes=getattr(model, "num_classes", None))
    model = copy.deepcopy(model)
    start = time.perf_counter()
    posterior = backend(model, inputs, targets, **options)
    posterior.method = method
    posterior.fit_info.setdefault("fit_seconds", time.perf_counter() - start)
    return posterior
