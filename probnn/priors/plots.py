"""Plots for functional priors: prior function samples of the target and of the BNN before/after fitting.

matplotlib is imported lazily (inside the function) so ``import probnn`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from probnn.errors import InputError
from probnn.models.base import Model
from probnn.priors.weight import WeightPrior
from probnn.random import GeneratorLike, as_generator, derive_seed


def plot_prior_functions(x: torch.Tensor, target: Model, bnn: Model, fitted_prior: WeightPrior | Any, *,
                         num_functions: int = 10, path: str | Path | None = None,
                         generator: GeneratorLike = None) -> Any:
    """Three panels of prior function draws on 1D inputs: target, BNN with its own prior, BNN fitted.

    Args:
        x: 1D inputs ``[n, 1]`` (sorted for readable lines).
        target: the target process (anything with ``sample_prior_functions``).
        bnn: the BNN; its own ``prior`` is drawn as "before fitting".
        fitted_prior: the fitted :class:`WeightPrior` (or a ``FunctionalPriorFit``, whose ``.prior`` is used).
        num_functions: function draws per panel.
        path: where to save the figure (PNG/PDF by suffix); ``None`` saves nothing.
        generator: seed of the draws.

    Returns:
        The matplotlib ``Figure`` (also saved to ``path`` when given).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim != 2 or x.shape[1] != 1:
        raise InputError(f"x must have shape [n, 1] (1D inputs) for this plot; got {tuple(x.shape)}")
    prior = getattr(fitted_prior, "prior", fitted_prior)
    generator = as_generator(generator)
    with torch.no_grad():
        panels = [
            ("target prior", target.sample_prior_functions(x, num_functions, generator=derive_seed(generator))),
            ("BNN, prior before fitting", bnn.forward_with_weights(
                x.float(), bnn.prior.sample(bnn.layer_shapes, num_functions, generator=generator))),
            ("BNN, fitted prior", bnn.forward_with_weights(
                x.float(), prior.sample(bnn.layer_shapes, num_functions, generator=generator))),
        ]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharex=True)
    grid = x[:, 0].numpy()
    for axis, (title, functions) in zip(axes, panels, strict=True):
        values = functions[..., 0].double().numpy()
        axis.plot(grid, values.T, linewidth=1.0, alpha=0.8)
        axis.set_title(title)
        axis.set_xlabel("x")
        bound = max(3.0, float(abs(panels[0][1]).max()) * 1.5)
        axis.set_ylim(-bound, bound)
    axes[0].set_ylabel("f(x)")
    figure.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    return figure
