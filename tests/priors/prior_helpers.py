"""Shared by the prior tests: an independent measure of how far a BNN prior is from a target process."""

from __future__ import annotations

import torch

from probnn.priors.distances import SlicedWassersteinDistance


def sliced_distance(bnn, target, x: torch.Tensor, prior, num_seeds: int = 4) -> float:
    """Sliced Wasserstein distance (256 projections) between 256 target and 256 BNN functions at ``x``,
    averaged over ``num_seeds`` fixed seeds: a critic-free check, independent of the fit's own estimate."""
    distance = SlicedWassersteinDistance(256)
    values = []
    for seed in range(num_seeds):
        f_target = target.sample_prior_functions(x, 256, generator=seed)[..., 0].float()
        with torch.no_grad():
            f_model = bnn.forward_with_weights(x.float(), prior.sample(bnn.layer_shapes, 256, generator=seed))
        values.append(float(distance(f_target, f_model[..., 0], generator=seed)))
    return sum(values) / len(values)
