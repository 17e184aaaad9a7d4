"""The neural tangent kernel (NTK) of an infinitely wide fully connected network.

``NTKKernel(depth, activation, weight_std, bias_std)`` is the NTK of
``stax.serial(Dense(W_std, b_std), act, ..., act, Dense(W_std, b_std))`` in the NTK
parameterisation (Jacot et al. 2018; neural-tangents' default): ``Theta^0 = K^0`` and
``Theta^l = K^l + W_std^2 E[phi'(u) phi'(v)] Theta^(l-1)``; the recursion is in
:mod:`probnn.gp.infinite_width`. Used as a GP kernel it gives the "NTK-GP" (the infinite ensemble of
networks trained by gradient descent is a GP with a related, but not identical, covariance).

Example:
    >>> import torch
    >>> kernel = NTKKernel(depth=2, activation="erf").double()
    >>> x = torch.randn(4, 3, dtype=torch.float64)
    >>> kernel(x, diag=True).shape
    torch.Size([4])
"""

from __future__ import annotations

from probnn.gp.infinite_width import InfiniteWidthKernel


class NTKKernel(InfiniteWidthKernel):
    """NTK ``Theta^depth(x, x')``; same arguments as :class:`probnn.gp.nngp.NNGPKernel`."""

    kind = "ntk"
