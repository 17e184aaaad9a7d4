"""Saving gpytorch kernels without pickle: a JSON description of the kernel's structure.

Hyperparameter values travel separately, in the owning module's ``state_dict``. Supported:
gpytorch's RBF, Matern, Periodic, Linear, Polynomial, RationalQuadratic, Scale, Additive and
Product kernels, and any kernel that implements ``get_config()`` plus a ``from_config`` classmethod
(probnn's own kernels, e.g. the NNGP and NTK kernels).
"""

from __future__ import annotations

import importlib
from typing import Any

import gpytorch
import torch

from probnn.errors import CheckpointError

_SIMPLE = {
    "RBFKernel": (),
    "MaternKernel": ("nu",),
    "PeriodicKernel": (),
    "LinearKernel": (),
    "RationalQuadraticKernel": (),
    "PolynomialKernel": ("power",),
}


def kernel_to_config(kernel: gpytorch.kernels.Kernel) -> dict[str, Any]:
    """JSON structure of ``kernel`` (class, ARD dims, batch shape, children)."""
    cls = type(kernel)
    if hasattr(kernel, "get_config") and hasattr(cls, "from_config"):
        return {"class": f"{cls.__module__}:{cls.__qualname__}", "config": kernel.get_config()}
    name = cls.__name__
    common = {"batch_shape": list(kernel.batch_shape)}
    if cls.__module__.startswith("gpytorch") and name in _SIMPLE:
        extra = {attribute: getattr(kernel, attribute) for attribute in _SIMPLE[name]}
        return {"class": name, "ard_num_dims": kernel.ard_num_dims, **common, **extra}
    if isinstance(kernel, gpytorch.kernels.ScaleKernel):
        return {"class": "ScaleKernel", "base": kernel_to_config(kernel.base_kernel), **common}
    if isinstance(kernel, (gpytorch.kernels.AdditiveKernel, gpytorch.kernels.ProductKernel)):
        return {"class": name, "children": [kernel_to_config(child) for child in kernel.kernels]}
    raise TypeError(
        f"cannot save kernel {name}: probnn saves gpytorch's standard kernels and kernels that implement "
        "get_config()/from_config(); add those two methods to your kernel class")


def kernel_from_config(config: dict[str, Any]) -> gpytorch.kernels.Kernel:
    """Rebuild a kernel (with default hyperparameters) from :func:`kernel_to_config`'s output."""
    name = config["class"]
    if ":" in name:
        module, _, qualname = name.partition(":")
        if not module.startswith("probnn."):
            raise CheckpointError(f"refusing to import kernel class {name!r} from outside probnn")
        return getattr(importlib.import_module(module), qualname).from_config(config["config"])
    kernels = gpytorch.kernels
    batch_shape = torch.Size(config.get("batch_shape", []))
    if name in _SIMPLE:
        extra = {attribute: config[attribute] for attribute in _SIMPLE[name]}
        return getattr(kernels, name)(ard_num_dims=config["ard_num_dims"], batch_shape=batch_shape, **extra)
    if name == "ScaleKernel":
        return kernels.ScaleKernel(kernel_from_config(config["base"]), batch_shape=batch_shape)
    if name in ("AdditiveKernel", "ProductKernel"):
        return getattr(kernels, name)(*[kernel_from_config(child) for child in config["children"]])
    raise CheckpointError(f"unknown kernel class {name!r} in saved file")
