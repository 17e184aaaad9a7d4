"""Fast ReLU NNGP / NTK recursion for kernel matrices that need no gradient (prediction, benchmarks).

For ReLU the layer map is the arc-cosine kernel of order 1 (Cho & Saul 2009). With
``s_i = sqrt(K^(l-1)(x_i, x_i))``, ``c_ij = K^(l-1)(x_i, x'_j) / (s_i s'_j)`` and ``theta = arccos c``:

    K^l_ij     = sigma_w^2 s_i s'_j J(c_ij) / (2 pi) + sigma_b^2,   J(c) = sqrt(1 - c^2) + (pi - theta) c
    Theta^l_ij = K^l_ij + sigma_w^2 (pi - theta_ij) / (2 pi) Theta^(l-1)_ij
    K^l_ii     = sigma_w^2 K^(l-1)_ii / 2 + sigma_b^2                   (c = 1: J(1) = pi)

Only the ``n1 x n2`` matrix needs the arc-cosine; the diagonals follow the scalar recursion on the
last line (``n1 + n2`` values per layer). The matrix work is organised for memory traffic, which is
what limits an elementwise recursion on a large matrix:

* the normalisation ``c = K / (s s'^T)`` and the rescaling ``s s'^T J`` are broadcast products with the
  two vectors ``1/s``, ``s'`` -- no ``n1 x n2`` square root or outer-product matrix is formed;
* ``sin(arccos c)`` is computed as ``sqrt(1 - c^2)`` (one transcendental per entry instead of two);
* all operations are in place on tiles of the output (fewer than ``_TILE_ENTRIES`` = 32768 entries,
  128-256 KiB) and every layer of a tile is finished before the next tile starts, so the
  temporaries stay in cache, instead of allocating (and page-faulting) about ten fresh ``n1 x n2``
  matrices per layer;
* with ``T = torch.get_num_threads() > 1``, ``T`` Python worker threads take tiles from a shared
  queue. A tile is below torch's parallel grain size (32768 elements), so each operation runs inline in
  its worker (torch releases the GIL inside operations) and there is no parallel region (barrier)
  per operation: on an oversubscribed machine thousands of barriers, each waiting for a descheduled
  peer, made the recursion 10-100 times slower; the queue also balances the load between cores.

In-place updates destroy values autograd would need, so :func:`relu_kernels_no_grad` is used only
when no input requires a gradient; training goes through the differentiable recursion in
:mod:`probnn.gp.infinite_width`, which gives the same values up to rounding.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import torch

#: Upper bound (exclusive) on the entries of one tile: torch's elementwise grain size
#: (``at::internal::GRAIN_SIZE`` = 32768), below which an operation runs inline in the calling thread.
#: A tile and its two temporaries (3 x 256 KiB in float64) stay in a typical 1-2 MiB L2 cache
#: (measured on 3000 x 3000, one thread: tiles of 2^14-2^18 entries within 10 %, 2^24 twice as slow).
_TILE_ENTRIES = 2**15
#: Matrices with fewer entries are computed in the calling thread (thread start-up, ~0.1 ms, would
#: dominate).
_PARALLEL_MIN_ENTRIES = 2**18


def _num_workers() -> int:
    """Worker threads: torch's intra-op thread count (``torch.set_num_threads``), the user's CPU budget."""
    return torch.get_num_threads()


def relu_diagonals(diagonal: torch.Tensor, weight_variance: torch.Tensor, bias_variance: torch.Tensor,
                   depth: int) -> list[torch.Tensor]:
    """Layer variances ``[K^0_ii, ..., K^depth_ii]`` by ``K^l_ii = sigma_w^2 K^(l-1)_ii / 2 + sigma_b^2``.

    ``diagonal`` is ``K^0_ii`` (any shape broadcasting with the variances).
    """
    diagonals = [diagonal]
    for _ in range(depth):
        diagonals.append(weight_variance * diagonals[-1] * 0.5 + bias_variance)
    return diagonals


def relu_kernels_no_grad(first_layer: torch.Tensor, rows: list[torch.Tensor], columns: list[torch.Tensor],
                         weight_variance: torch.Tensor, bias_variance: torch.Tensor, with_ntk: bool
                         ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """ReLU NNGP ``K^depth`` (and NTK ``Theta^depth``) from the input layer, overwriting ``first_layer``.

    Args:
        first_layer: ``K^0`` between ``x1`` and ``x2``, ``[*batch, n1, n2]``; it is overwritten by
            ``K^depth`` (the caller passes a fresh tensor).
        rows: ``[K^0_ii, ..., K^depth_ii]`` for ``x1``, each ``[*batch, n1, 1]``.
        columns: the same for ``x2``, each ``[*batch, 1, n2]``.
        weight_variance, bias_variance: ``sigma_w^2``, ``sigma_b^2`` as ``[*batch, 1, 1]`` (or scalars).
        with_ntk: also return ``Theta^depth`` (a separate ``[*batch, n1, n2]`` tensor).

    Returns:
        ``(nngp, ntk)``; ``nngp`` is ``first_layer`` itself; ``ntk`` is ``None`` unless ``with_ntk``.
    """
    depth = len(rows) - 1
    kernel = first_layer
    ntk = first_layer.clone() if with_ntk else None
    if depth == 0:
        return kernel, ntk
    # A layer variance that underflows to 0 (weight_std, bias_std -> 0) has a zero row of K too: the
    # smallest normal float keeps 1/s finite, so c = 0 there and the kernel stays ~0 instead of 0/0 = NaN.
    tiny = torch.finfo(kernel.dtype).tiny
    row_scales = [row.clamp_min(tiny).sqrt() for row in rows[:-1]]
    column_scales = [column.clamp_min(tiny).sqrt() for column in columns[:-1]]
    # Per layer: c = K * (1/s) * (1/s'), and K^l = (sigma_w^2 / (2 pi) s) * s' * J + sigma_b^2.
    row_inverse = [scale.reciprocal() for scale in row_scales]
    column_inverse = [scale.reciprocal() for scale in column_scales]
    row_factor = [weight_variance * (1 / (2 * math.pi)) * scale for scale in row_scales]
    step_factor = weight_variance * (1 / (2 * math.pi))
    one = torch.ones((), dtype=kernel.dtype, device=kernel.device)

    def tile(rows_part: slice, columns_part: slice) -> None:
        part = kernel[..., rows_part, columns_part]
        ntk_part = ntk[..., rows_part, columns_part] if ntk is not None else None
        for layer in range(depth):
            # c = K / (s s'), clamped so that rounding stays inside arccos' domain
            part.mul_(row_inverse[layer][..., rows_part, :]).mul_(column_inverse[layer][..., columns_part])
            part.clamp_(-1.0, 1.0)
            theta = torch.arccos(part)
            shape = torch.addcmul(one, part, part, value=-1.0).sqrt_()  # sqrt(1 - c^2) = sin(theta)
            shape.add_(part, alpha=math.pi).addcmul_(theta, part, value=-1.0)  # J(c) = sin + (pi - theta) c
            shape.mul_(column_scales[layer][..., columns_part])
            torch.addcmul(bias_variance, shape, row_factor[layer][..., rows_part, :], out=part)  # K^l
            if ntk_part is not None:
                # Theta^l = K^l + sigma_w^2 (pi - theta) / (2 pi) Theta^(l-1)
                theta.neg_().add_(math.pi).mul_(step_factor)
                ntk_part.mul_(theta).add_(part)

    num_rows, num_columns = kernel.shape[-2], kernel.shape[-1]
    batch_entries = max(1, kernel[..., :1, :1].numel())
    tile_columns = max(1, min(num_columns, (_TILE_ENTRIES - 1) // batch_entries))
    tile_rows = max(1, (_TILE_ENTRIES - 1) // (batch_entries * tile_columns))
    tiles = [(slice(row, min(row + tile_rows, num_rows)), slice(column, min(column + tile_columns, num_columns)))
             for row in range(0, num_rows, tile_rows) for column in range(0, num_columns, tile_columns)]
    workers = min(_num_workers(), len(tiles)) if kernel.numel() >= _PARALLEL_MIN_ENTRIES else 1
    if workers <= 1:
        for rows_part, columns_part in tiles:
            tile(rows_part, columns_part)
        return kernel, ntk
    queue = iter(tiles)  # list iterators advance atomically under the GIL: a shared work queue

    def worker() -> None:
        with torch.no_grad():  # grad mode is thread-local
            for rows_part, columns_part in queue:
                tile(rows_part, columns_part)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probnn-relu-kernel") as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    return kernel, ntk
