"""Simulation-based calibration (Talts et al., 2018) of method="nuts" on a small BNN-family model.

For each replicate: theta ~ prior, y ~ p(y | theta), NUTS draws theta_1..L from p(theta | y); the rank of the
true theta among the draws must be uniform on {0..L}. Checked with a chi-square test over 10 bins
(p > 0.001 per scalar parameter, Bonferroni-free since the threshold is already strict).
"""

from __future__ import annotations

import pytest
import torch
from scipy import stats

import probnn
from probnn.models import BNN

REPLICATES = 60
DRAWS = 99  # L: ranks take L + 1 = 100 values, 10 per bin


@pytest.mark.slow
def test_nuts_simulation_based_calibration() -> None:
    model = BNN(1, hidden=(), noise=0.5)
    generator = torch.Generator().manual_seed(123)
    x = torch.linspace(-1, 1, 8).unsqueeze(-1)
    ranks = {"w0": [], "b0": []}
    for _ in range(REPLICATES):
        layers = model.prior.sample(model.layer_shapes, 1, generator=generator)
        f = model.forward_with_weights(x, layers)
        y = model.sample_observations(f, generator=generator)[0, :, 0]
        posterior = probnn.fit(model, x, y, method="nuts", num_warmup=200, num_samples=DRAWS, num_chains=1,
                               thinning=3, generator=generator, progress=False)
        draws = posterior.flat_draws()
        for name, truth in (("w0", layers[0][0]), ("b0", layers[0][1])):
            ranks[name].append(int((draws[name].reshape(DRAWS) < truth.reshape(())).sum()))
    for name, values in ranks.items():
        counts = torch.bincount(torch.tensor(values) // 10, minlength=10).numpy()
        assert stats.chisquare(counts).pvalue > 1e-3, (name, counts)
