"""The neural-network Gaussian-process (NNGP) kernel of an infinitely wide fully connected network.

``NNGPKernel(depth, activation, weight_std, bias_std)`` is the covariance of the output of
``stax.serial(Dense(W_std, b_std), act, ..., act, Dense(W_std, b_std))`` (``depth`` hidden layers)
as every hidden width goes to infinity (Neal 1996; Lee et al. 2018; Matthews et al. 2018). The
layer recursion lives in :mod:`probnn.gp.infinite_width`.

Example:
    >>> import torch
    >>> kernel = NNGPKernel(depth=3, activation="relu", weight_std=1.5, bias_std=0.1).double()
    >>> x = torch.randn(5, 10, dtype=torch.float64)
    >>> kernel(x).to_dense().shape
    torch.Size([5, 5])
"""

from __future__ import annotations

from probnn.gp.infinite_width import InfiniteWidthKernel


class NNGPKernel(InfiniteWidthKernel):
    """NNGP kernel ``K^depth(x, x')`` (see :mod:`probnn.gp.infinite_width` for the recursion).

    Args:
        depth: number of hidden layers (``0`` gives the linear kernel ``W^2 x.x'/d + b^2``).
        activation: ``"relu"`` or ``"erf"`` (closed forms), ``"tanh"``, ``"gelu"``, ``"sigmoid"``,
            ``"sin"``, ``"identity"`` or any elementwise callable (Gauss-Hermite quadrature).
        weight_std, bias_std: ``W_std`` and ``b_std`` (learnable, positive).
        batch_shape: one set of hyperparameters per batch entry.
        derivative: ``phi'`` of a callable activation (only the NTK uses it; default autograd).
        quadrature_points: Gauss-Hermite nodes per dimension for quadrature activations.
    """

    kind = "nngp"
