"""Synthetic regression tasks drawn from any model's prior (the prior contract's task sampler).

A *task* is a dataset ``{(x_i, y_i)}`` drawn from a prior over functions, split into a context set
(what a neural process or PFN conditions on) and a target set (what it must predict). This is what
PFN pre-training, neural-process training and functional-prior diagnostics consume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from probnn.errors import InputError
from probnn.random import GeneratorLike, as_generator
from probnn.validation import check_positive_int

if TYPE_CHECKING:  # imported for annotations only: models import this module
    from probnn.models.base import Model

InputSampler = Callable[[tuple[int, int, int], torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class TaskBatch:
    """A batch of tasks that share context and target sizes.

    Shapes: ``x_context [B, nc, d]``, ``y_context [B, nc, out]``, ``x_target [B, nt, d]``,
    ``y_target [B, nt, out]``; ``f_target`` holds the noiseless function values at the targets.
    The context and target sets are disjoint.
    """

    x_context: torch.Tensor
    y_context: torch.Tensor
    x_target: torch.Tensor
    y_target: torch.Tensor
    f_target: torch.Tensor

    @property
    def x_all(self) -> torch.Tensor:
        """Context followed by target inputs ``[B, nc + nt, d]``."""
        return torch.cat([self.x_context, self.x_target], dim=1)

    @property
    def y_all(self) -> torch.Tensor:
        """Context followed by target outputs ``[B, nc + nt, out]``."""
        return torch.cat([self.y_context, self.y_target], dim=1)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> TaskBatch:
        """Move every tensor to ``device`` / ``dtype``."""
        return TaskBatch(*(tensor.to(device=device, dtype=dtype) for tensor in
                           (self.x_context, self.y_context, self.x_target, self.y_target, self.f_target)))


def uniform_inputs(low: float | torch.Tensor = -2.0, high: float | torch.Tensor = 2.0) -> InputSampler:
    """Input sampler drawing ``x ~ U[low, high]^d`` independently per point."""

    def sample(shape: tuple[int, int, int], generator: torch.Generator) -> torch.Tensor:
        lower = torch.as_tensor(low, dtype=torch.float64)
        upper = torch.as_tensor(high, dtype=torch.float64)
        return lower + (upper - lower) * torch.rand(shape, generator=generator, dtype=torch.float64)

    return sample


def _draw_size(size: int | tuple[int, int], name: str, generator: torch.Generator) -> int:
    if isinstance(size, tuple):
        low, high = size
        if not 0 <= low <= high:
            raise InputError(f"{name} range must satisfy 0 <= low <= high; got {size}")
        return int(torch.randint(low, high + 1, (1,), generator=generator))
    return check_positive_int(size, name, minimum=0)


def sample_task_batch(model: Model, *, batch_size: int, num_context: int | tuple[int, int],
                      num_target: int | tuple[int, int], num_features: int = 1,
                      input_sampler: InputSampler | None = None,
                      generator: GeneratorLike = None) -> TaskBatch:
    """Draw ``batch_size`` tasks from ``model``'s prior.

    Args:
        model: any probnn model implementing the prior contract.
        batch_size: number of tasks ``B``.
        num_context: context size, or an inclusive range ``(low, high)`` sampled once per batch.
        num_target: target size, or an inclusive range sampled once per batch.
        num_features: input dimension ``d``.
        input_sampler: draws inputs of shape ``(B, n, d)``; default ``U[-2, 2]^d`` (the standard
            1D neural-process protocol).
        generator: seed or generator; the same seed gives the same batch.
    """
    generator = as_generator(generator)
    batch_size = check_positive_int(batch_size, "batch_size")
    num_features = check_positive_int(num_features, "num_features")
    context = _draw_size(num_context, "num_context", generator)
    target = _draw_size(num_target, "num_target", generator)
    if context + target == 0:
        raise InputError("num_context + num_target must be positive")
    sampler = input_sampler or uniform_inputs()
    x = sampler((batch_size, context + target, num_features), generator)
    f, y = model.sample_prior_batch(x, generator=generator)
    return TaskBatch(x_context=x[:, :context], y_context=y[:, :context], x_target=x[:, context:],
                     y_target=y[:, context:], f_target=f[:, context:])
