"""Removal-and-addition of active weights (Li et al., ICLR 2024, Alg. 1 and Sec. 4).

Every ``update_every`` steps until ``update_until * num_steps``, each layer

1. removes the ``k = floor(fraction(t) * num_active)`` active weights with the lowest removal
   score (:mod:`probnn.inference.sparse_scores`), setting their ``mu`` and ``rho`` to exactly 0;
2. adds ``k`` weights among those inactive *before* step 1, with the largest ``|dL/dmu|`` (the
   gradient of the loss at ``mu = 0``, available because the forward pass uses ``m * mu``), and
   initialises them at ``mu = 0`` and ``rho`` = the mean ``rho`` of the layer's remaining active
   weights (the paper) or the initial ``rho`` (``new_weight_std="initial"``).

So the number of active weights per layer never changes. The update fraction follows the cosine
schedule ``fraction(t) = alpha / 2 * (1 + cos(pi t / T_end))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from probnn.errors import InputError
from probnn.inference.sparse_layers import INITIAL_RHO, SparseVariationalLayer
from probnn.inference.sparse_scores import removal_score

ALLOCATIONS = ("uniform", "erk")
NEW_WEIGHT_STDS = ("mean", "initial")


def layer_densities(shapes: list[tuple[int, ...]], density: float, allocation: str = "uniform") -> list[float]:
    """Per-layer densities whose weighted mean (by layer size) is ``density``.

    ``"uniform"``: every layer at ``density`` (the paper's choice for ResNets).

    ``"erk"`` (Erdos-Renyi-kernel; Evci et al., "Rigging the Lottery", ICML 2020, Sec. 3): layer
    ``l`` with weight shape ``s_l`` gets ``d_l = min(1, eps * sum(s_l) / prod(s_l))``, with ``eps``
    chosen so that ``sum_l d_l prod(s_l) = density * sum_l prod(s_l)``. Small layers (a 10-class or
    scalar output layer, the first layer of a narrow input) get a larger share than under a uniform
    split, where e.g. a 200 -> 1 regression head at density 0.1 keeps only 20 of its 200 inputs. A
    layer whose ``d_l`` would exceed 1 is made dense and ``eps`` is re-solved over the others.
    """
    if allocation not in ALLOCATIONS:
        raise InputError(f"allocation must be one of {list(ALLOCATIONS)}; got {allocation!r}")
    if allocation == "uniform" or density >= 1:
        return [float(density)] * len(shapes)
    sizes = [math.prod(shape) for shape in shapes]
    raw = [sum(shape) / size for shape, size in zip(shapes, sizes, strict=True)]
    budget = density * sum(sizes)
    dense: set[int] = set()
    while True:
        free = [index for index in range(len(shapes)) if index not in dense]
        if not free:
            return [1.0] * len(shapes)
        remaining = budget - sum(sizes[index] for index in dense)
        epsilon = remaining / sum(raw[index] * sizes[index] for index in free)
        saturated = {index for index in free if epsilon * raw[index] >= 1}
        if not saturated:
            break
        dense |= saturated
    return [1.0 if index in dense else epsilon * raw[index] for index in range(len(shapes))]


def update_fraction(step: int, end_step: int, alpha: float) -> float:
    """Cosine-decayed fraction ``alpha / 2 * (1 + cos(pi * step / end_step))`` (0 after ``end_step``)."""
    if step > end_step or end_step <= 0:
        return 0.0
    return 0.5 * alpha * (1.0 + math.cos(math.pi * step / end_step))


@dataclass(frozen=True)
class MaskUpdate:
    """What one layer's update did: flat indices removed and added (equal counts)."""

    removed: torch.Tensor
    added: torch.Tensor


@torch.no_grad()
def update_layer_mask(layer: SparseVariationalLayer, gradient: torch.Tensor, fraction: float, *,
                      score: str = "snr", optimizer: torch.optim.Optimizer | None = None,
                      new_weight_std: str = "mean") -> MaskUpdate:
    """Remove and re-grow ``floor(fraction * num_active)`` weights of ``layer`` in place.

    Args:
        layer: a sparse variational layer.
        gradient: ``dL/d(m * mu)``, same shape as the weights (dense: defined for inactive weights).
        fraction: fraction of the active weights to exchange.
        score: removal score kind.
        optimizer: if given, its per-parameter state (e.g. Adam moments) is zeroed at every changed
            entry, so removed weights stay exactly zero and new ones start fresh.
        new_weight_std: ``rho`` of the added weights: ``"mean"`` (the paper: the mean ``rho`` of the
            layer's remaining active weights) or ``"initial"`` (:data:`INITIAL_RHO`, the small std every
            weight starts training with; the official code's ``grow_std="eps"`` is the same idea with
            an even smaller std). A new weight has ``mu = 0`` either way; with ``"mean"`` it enters
            with the (tempered-KL-inflated) typical std of trained weights and adds that much noise to
            the function at once.
    """
    if new_weight_std not in NEW_WEIGHT_STDS:
        raise InputError(f"new_weight_std must be one of {list(NEW_WEIGHT_STDS)}; got {new_weight_std!r}")
    mask = layer.mask.reshape(-1)
    active = mask.nonzero().squeeze(-1)
    inactive = (mask == 0).nonzero().squeeze(-1)
    count = min(math.floor(fraction * active.numel()), inactive.numel(), active.numel() - 1)
    empty = torch.zeros(0, dtype=torch.long)
    if count <= 0:
        return MaskUpdate(empty, empty)
    mu = layer.weight_mu.reshape(-1)
    rho = layer.weight_rho.reshape(-1)
    sigma = torch.nn.functional.softplus(rho[active])
    scores = removal_score(mu[active], sigma, score)
    removed = active[torch.topk(scores, count, largest=False).indices]
    growth = gradient.reshape(-1)[inactive].abs()
    added = inactive[torch.topk(growth, count, largest=True).indices]
    mask[removed] = 0.0
    mu[removed] = 0.0
    rho[removed] = 0.0
    remaining = mask.bool()
    new_rho = rho[remaining].mean() if new_weight_std == "mean" else INITIAL_RHO
    mask[added] = 1.0
    mu[added] = 0.0
    rho[added] = new_rho
    if optimizer is not None:
        changed = torch.cat([removed, added])
        for parameter in (layer.weight_mu, layer.weight_rho):
            for value in optimizer.state.get(parameter, {}).values():
                if torch.is_tensor(value) and value.shape == parameter.shape:
                    value.reshape(-1)[changed] = 0.0
    return MaskUpdate(removed, added)
