"""Amortized pre-training: the one driver that trains PFNs and neural processes on prior tasks.

An *amortized* model learns the posterior predictive map ``data -> p(y* | x*, data)`` for a whole
prior at once (Müller et al., "Transformers Can Do Bayesian Inference", ICLR 2022; Garnelo et al.,
"Conditional Neural Processes", 2018). Training minimises the expected negative log predictive

    L(theta) = E_{D ~ prior} E_{split} [ -log q_theta(y_target | x_target, D_context) ],

whose minimiser is the prior's exact posterior predictive. The driver draws **fresh tasks from the
prior every step** (:func:`probnn.datasets.sample_task_batch`; no fixed training set, so there is
nothing to overfit), with a context (training-set) size sampled per batch, and takes one optimiser
step on the module's :meth:`AmortizedModule.loss`.

Optimisation: Adam (decoupled weight decay, i.e. AdamW, when ``weight_decay > 0``), a linear
learning-rate warm-up over ``warmup_steps`` followed by cosine decay to zero at ``steps``,
gradient-norm clipping at ``grad_clip`` (1.0, as in the PFN code), all explicit in this file.

Reproducibility and resumption. The tasks of step ``t`` on rank ``r`` are drawn from a generator
seeded by mixing ``(seed, r, t)`` (NumPy ``SeedSequence``), so the data stream is a pure function of
the step: a resumed run sees exactly the batches an uninterrupted run would have seen, and ranks see
different tasks. Every ``checkpoint_every`` steps, rank 0 writes one atomic checkpoint with
:mod:`probnn.io` (weights, optimiser moments, the step, loss history, the module's own config when it
is saveable, and torch's global RNG state for modules that draw from it). ``resume=True`` restores it
and continues the same learning-rate schedule; a run killed at any moment (even by SIGKILL) loses at
most ``checkpoint_every`` steps. On CPU with one thread a resumed run reproduces the uninterrupted
run bit for bit.

Distributed data parallel. Under ``torchrun`` (``WORLD_SIZE > 1`` in the environment) the driver
initialises ``torch.distributed`` (gloo on CPU, nccl on GPU) if needed, wraps the module in
:class:`torch.nn.parallel.DistributedDataParallel`, gives each rank its own prior-task stream, and
only rank 0 writes checkpoints (saved without the DDP ``module.`` prefix). Each rank draws
``batch_size`` tasks, so the effective batch is ``world_size * batch_size``.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from probnn import io
from probnn.datasets.tasks import InputSampler, TaskBatch, sample_task_batch
from probnn.errors import CheckpointError, InputError, InputTypeError
from probnn.models.base import Model
from probnn.progress import progress_bar
from probnn.validation import check_positive_int

#: File name of the training checkpoint inside ``checkpoint_dir``.
CHECKPOINT_FILENAME = "checkpoint.safetensors"

#: A prior: one model, or a factory ``num_features -> model`` when the input dimension is sampled.
PriorLike = Model | Callable[[int], Model]


@runtime_checkable
class AmortizedModule(Protocol):
    """What :func:`pretrain` trains: a ``torch.nn.Module`` with a task-batch loss.

    ``loss(batch, *, generator)`` returns a scalar: the mean over tasks (and target points) of the
    negative log predictive density of ``batch.y_target`` given the context set. ``generator`` is
    for modules that sample internally (latent neural processes, pseudo-context generators).
    Modules that implement ``get_state``/``from_state`` are also stored whole in the checkpoint, so
    ``probnn.load`` of the final file returns them ready to use.
    """

    def loss(self, batch: TaskBatch, *, generator: torch.Generator) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True) -> Any: ...


@dataclass
class PretrainConfig:
    """Settings of one pre-training run.

    Attributes:
        steps: optimiser steps (the cosine schedule reaches zero here).
        batch_size: tasks per step (per process under DDP).
        num_context: context (training-set) size, or an inclusive range ``(low, high)`` drawn
            uniformly per batch, so every training-set size gets equal weight.
        num_target: target (query) size, or an inclusive range drawn per batch. Ignored when
            ``num_points`` is set.
        num_points: if set, each task has exactly this many points and
            ``num_target = num_points - num_context`` (the PFN "cut point" scheme).
        num_features: input dimension, or an inclusive range drawn per batch (then the prior
            must be a factory ``num_features -> Model``).
        input_sampler: draws task inputs ``(B, n, d)`` from a generator; default ``U[0, 1]^d``.
        learning_rate: peak learning rate (reached at the end of warm-up).
        warmup_steps: linear warm-up length.
        weight_decay: decoupled weight decay (AdamW); 0 gives plain Adam.
        grad_clip: maximum global gradient norm (1.0 as in the PFN code); ``None`` disables.
        checkpoint_every: steps between checkpoints.
        seed: seed of the prior-task stream (mixed with rank and step).
        min_learning_rate_fraction: the cosine decays to this fraction of the peak (0 by default).
    """

    steps: int
    batch_size: int = 16
    num_context: int | tuple[int, int] = (0, 50)
    num_target: int | tuple[int, int] = 50
    num_points: int | None = None
    num_features: int | tuple[int, int] = 1
    input_sampler: InputSampler | None = None
    learning_rate: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    checkpoint_every: int = 500
    seed: int = 0
    min_learning_rate_fraction: float = 0.0

    def __post_init__(self) -> None:
        check_positive_int(self.steps, "steps")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.checkpoint_every, "checkpoint_every")
        check_positive_int(self.warmup_steps, "warmup_steps", minimum=0)
        check_positive_int(self.seed, "seed", minimum=0)
        for name in ("num_context", "num_target", "num_features"):
            value = getattr(self, name)
            if isinstance(value, list):
                value = tuple(value)
                setattr(self, name, value)
            if isinstance(value, tuple):
                if len(value) != 2 or not all(isinstance(v, int) for v in value) or not 0 <= value[0] <= value[1]:
                    raise InputError(f"{name} must be an int or a range (low, high) with 0 <= low <= high; "
                                     f"got {value!r}")
            else:
                check_positive_int(value, name, minimum=0)
        if self.num_points is not None:
            check_positive_int(self.num_points, "num_points")
            high = self.num_context[1] if isinstance(self.num_context, tuple) else self.num_context
            if high >= self.num_points:
                raise InputError(f"num_context (at most {high}) must be < num_points={self.num_points} so "
                                 "every task keeps at least one target point")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise InputError(f"learning_rate must be a positive finite float; got {self.learning_rate}")
        if self.weight_decay < 0:
            raise InputError(f"weight_decay must be >= 0; got {self.weight_decay}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InputError(f"grad_clip must be > 0 or None; got {self.grad_clip}")
        if not 0 <= self.min_learning_rate_fraction <= 1:
            raise InputError(f"min_learning_rate_fraction must lie in [0, 1]; got {self.min_learning_rate_fraction}")

    def to_json(self) -> dict[str, Any]:
        """JSON-able settings (the input sampler is recorded by name only)."""
        settings = asdict(self)
        sampler = settings.pop("input_sampler")
        settings["input_sampler"] = None if sampler is None else getattr(sampler, "__qualname__", repr(sampler))
        for key, value in settings.items():
            if isinstance(value, tuple):
                settings[key] = list(value)
        return settings

    def learning_rate_at(self, step: int) -> float:
        """Learning rate of optimiser step ``step`` (0-based).

        Linear warm-up ``lr * (step + 1) / warmup_steps`` for ``step < warmup_steps``, then
        ``lr * (m + (1 - m) * (1 + cos(pi * p)) / 2)`` with progress ``p`` from 0 to 1 over the
        remaining steps and floor fraction ``m``.
        """
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / self.warmup_steps
        remaining = max(1, self.steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / remaining)
        floor = self.min_learning_rate_fraction
        return self.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


#: Settings that must agree between a checkpoint and a resumed run (else the schedule or the task
#: stream would silently change).
_RESUME_KEYS = ("steps", "batch_size", "learning_rate", "warmup_steps", "weight_decay", "seed",
                "min_learning_rate_fraction")


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns.

    Attributes:
        losses: training loss of every step run so far (including steps restored from a checkpoint).
        steps: steps completed.
        seconds: wall time of this call.
        resumed_from: the step a resumed run started at (0 for a fresh run).
        checkpoint: path of the last checkpoint written (``None`` without ``checkpoint_dir``).
    """

    losses: list[float]
    steps: int
    seconds: float
    resumed_from: int = 0
    checkpoint: Path | None = None
    grad_norms: list[float] = field(default_factory=list)


def uniform_unit_inputs(shape: tuple[int, int, int], generator: torch.Generator) -> torch.Tensor:
    """Default input sampler of pre-training: ``x ~ U[0, 1]^d`` (PFN inputs are rescaled to the unit cube)."""
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def step_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit seed for the tasks of ``step`` on ``rank``, well mixed by NumPy's ``SeedSequence``."""
    state = np.random.SeedSequence([int(seed), int(rank), int(step)]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _draw_range(value: int | tuple[int, int], generator: torch.Generator) -> int:
    if isinstance(value, tuple):
        return int(torch.randint(value[0], value[1] + 1, (1,), generator=generator))
    return int(value)


def draw_task_batch(prior: PriorLike, config: PretrainConfig, generator: torch.Generator,
                    priors_by_dimension: dict[int, Model] | None = None) -> TaskBatch:
    """One batch of fresh prior tasks with sizes drawn per :class:`PretrainConfig`.

    Shared by the driver and by tools that need the same task distribution (e.g. choosing a PFN's
    bar borders from prior quantiles).
    """
    num_features = _draw_range(config.num_features, generator)
    model = _prior_for(prior, num_features, priors_by_dimension)
    context = _draw_range(config.num_context, generator)
    target = config.num_points - context if config.num_points is not None else _draw_range(config.num_target, generator)
    return sample_task_batch(model, batch_size=config.batch_size, num_context=context, num_target=max(target, 1),
                             num_features=num_features,
                             input_sampler=config.input_sampler or uniform_unit_inputs, generator=generator)


def _prior_for(prior: PriorLike, num_features: int, cache: dict[int, Model] | None) -> Model:
    if isinstance(prior, Model):
        return prior
    if cache is not None and num_features in cache:
        return cache[num_features]
    model = prior(num_features)
    if not isinstance(model, Model):
        raise InputTypeError(f"the prior factory must return a probnn Model; got {type(model).__name__}")
    if cache is not None:
        cache[num_features] = model
    return model


# ----------------------------------------------------------------------------- checkpoints
@io.register
class PretrainCheckpoint:
    """A training checkpoint: module weights (and config), optimiser state, step, losses, RNG state."""

    def __init__(self, *, step: int, config: dict[str, Any], module_state: dict[str, torch.Tensor],
                 optimizer_state: dict[str, Any], losses: list[float], rng_state: torch.Tensor,
                 module_config: dict[str, Any] | None = None,
                 module_tensors: dict[str, torch.Tensor] | None = None) -> None:
        self.step = step
        self.config = config
        self.module_state = module_state
        self.optimizer_state = optimizer_state
        self.losses = losses
        self.rng_state = rng_state
        self.module_config = module_config
        self.module_tensors = module_tensors or {}

    def build_module(self) -> Any:
        """Rebuild the trained module from the checkpoint alone (modules with ``get_state``)."""
        if self.module_config is None:
            raise CheckpointError("this checkpoint holds weights of a module that cannot rebuild itself; "
                                  "construct the module and load checkpoint.module_state")
        tensors = {f"module.{key}": value for key, value in self.module_tensors.items()}
        return io.decode_child(self.module_config, "module", tensors)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors: dict[str, torch.Tensor] = {f"weights.{k}": v for k, v in self.module_state.items()}
        tensors["losses"] = torch.tensor(self.losses, dtype=torch.float64)
        tensors["rng_state"] = self.rng_state
        optimizer_config = _flatten_optimizer(self.optimizer_state, tensors)
        for key, value in self.module_tensors.items():
            tensors[f"module.{key}"] = value
        config = {"step": self.step, "config": self.config, "optimizer": optimizer_config,
                  "module": self.module_config}
        return config, tensors

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> PretrainCheckpoint:
        weights = {k[len("weights."):]: v for k, v in tensors.items() if k.startswith("weights.")}
        module_tensors = {k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")}
        return cls(step=int(config["step"]), config=config["config"], module_state=weights,
                   optimizer_state=_unflatten_optimizer(config["optimizer"], tensors),
                   losses=tensors["losses"].tolist(), rng_state=tensors["rng_state"],
                   module_config=config["module"], module_tensors=module_tensors)


def _flatten_optimizer(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Split ``optimizer.state_dict()`` into JSON (param groups, scalars) and tensors."""
    per_parameter: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        entry: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
                entry[name] = {"tensor": True}
            else:
                entry[name] = value
        per_parameter[str(index)] = entry
    return {"state": per_parameter, "param_groups": state["param_groups"]}


def _unflatten_optimizer(config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for index, values in config["state"].items():
        state[int(index)] = {name: tensors[f"optimizer.{index}.{name}"] if isinstance(value, dict) else value
                             for name, value in values.items()}
    return {"state": state, "param_groups": config["param_groups"]}


def load_checkpoint(path: str | os.PathLike[str]) -> PretrainCheckpoint:
    """Read a checkpoint file (or ``checkpoint_dir``) written by :func:`pretrain`."""
    target = Path(path)
    if target.is_dir():
        target = target / CHECKPOINT_FILENAME
    checkpoint = io.load(target)
    if not isinstance(checkpoint, PretrainCheckpoint):
        raise CheckpointError(f"{target} is a probnn file but not a pre-training checkpoint")
    return checkpoint


# ----------------------------------------------------------------------------- distributed
@dataclass
class _Distributed:
    rank: int = 0
    world_size: int = 1
    initialised_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _setup_distributed(device: torch.device) -> _Distributed:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 or not torch.distributed.is_available():
        return _Distributed()
    initialised_here = False
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
        initialised_here = True
    return _Distributed(torch.distributed.get_rank(), torch.distributed.get_world_size(), initialised_here)


class _LossForward(torch.nn.Module):
    """Routes ``forward`` to ``module.loss`` so DistributedDataParallel's gradient hooks see it."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: TaskBatch, generator: torch.Generator) -> torch.Tensor:
        return self.module.loss(batch, generator=generator)


# ----------------------------------------------------------------------------- the driver
def pretrain(module: torch.nn.Module, prior: PriorLike, config: PretrainConfig, *,
             checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
             device: torch.device | str | None = None, progress: bool | None = None,
             stop_after: int | None = None) -> PretrainResult:
    """Train ``module`` on fresh tasks from ``prior`` (see the module docstring for the algorithm).

    Args:
        module: an :class:`AmortizedModule` (``torch.nn.Module`` with ``loss(batch, *, generator)``).
        prior: a probnn model implementing the prior contract, or a factory
            ``num_features -> Model`` when ``config.num_features`` is a range.
        config: the run's settings.
        checkpoint_dir: folder for ``checkpoint.safetensors`` (written every
            ``config.checkpoint_every`` steps and at the end, atomically, by rank 0).
        resume: continue from the checkpoint in ``checkpoint_dir`` if one exists (a fresh run
            otherwise). The settings that fix the schedule and the data stream must match.
        device: where the module trains (default: where its parameters are).
        progress: show a progress bar (``None`` follows :func:`probnn.set_quiet`).
        stop_after: stop after this many steps *of this call* (the schedule still targets
            ``config.steps``): for time-boxed runs continued later with ``resume=True``.

    Returns:
        A :class:`PretrainResult` with the loss of every step.

    Example:
        >>> from probnn.models.pfn import PFN
        >>> from probnn.gp import GP
        >>> prior = GP(noise=0.01, mean="zero", num_features=1)
        >>> result = pretrain(PFN.for_prior(prior, num_features=1), prior,
        ...                   PretrainConfig(steps=5, batch_size=4), progress=False)   # doctest: +SKIP
    """
    if not isinstance(config, PretrainConfig):
        raise InputTypeError(f"config must be a PretrainConfig; got {type(config).__name__}")
    if not callable(getattr(module, "loss", None)) or not isinstance(module, torch.nn.Module):
        raise InputTypeError("module must be a torch.nn.Module with a loss(batch, *, generator) method")
    if isinstance(config.num_features, tuple) and isinstance(prior, Model) and config.num_features[0] != \
            config.num_features[1]:
        raise InputError("config.num_features is a range, so prior must be a factory num_features -> Model")
    parameters = [p for p in module.parameters() if p.requires_grad]
    if not parameters:
        raise InputError("module has no trainable parameters")
    device = torch.device(device) if device is not None else parameters[0].device
    module.to(device)
    dtype = parameters[0].dtype
    distributed = _setup_distributed(device)
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay) \
        if config.weight_decay > 0 else torch.optim.Adam(parameters, lr=config.learning_rate)
    losses: list[float] = []
    grad_norms: list[float] = []
    start_step = 0
    if resume and directory is not None and (directory / CHECKPOINT_FILENAME).exists():
        checkpoint = load_checkpoint(directory)
        _check_resumable(checkpoint.config, config)
        module.load_state_dict(checkpoint.module_state)
        optimizer.load_state_dict(checkpoint.optimizer_state)
        torch.set_rng_state(checkpoint.rng_state)
        losses = list(checkpoint.losses)
        start_step = checkpoint.step
    trainer: torch.nn.Module = _LossForward(module)
    if distributed.enabled:
        trainer = torch.nn.parallel.DistributedDataParallel(
            trainer, device_ids=[device.index] if device.type == "cuda" else None)
    priors_by_dimension: dict[int, Model] = {}
    last_step = config.steps if stop_after is None else min(config.steps, start_step + stop_after)
    bar = progress_bar(total=config.steps, desc="pretrain", progress=progress if distributed.rank == 0 else False)
    bar.update(start_step)
    written: Path | None = None
    started = time.perf_counter()
    module.train()
    finished = False
    try:
        for step in range(start_step, last_step):
            generator = torch.Generator().manual_seed(step_seed(config.seed, distributed.rank, step))
            batch = draw_task_batch(prior, config, generator, priors_by_dimension).to(device=device, dtype=dtype)
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate_at(step)
            optimizer.zero_grad(set_to_none=True)
            loss = trainer(batch, generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"pre-training loss became {float(loss)} at step {step}")
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip if config.grad_clip else math.inf)
            optimizer.step()
            value = loss.detach()
            if distributed.enabled:
                torch.distributed.all_reduce(value)
                value = value / distributed.world_size
            losses.append(float(value))
            grad_norms.append(float(norm))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{config.learning_rate_at(step):.2e}")
            done = step + 1
            if directory is not None and (done % config.checkpoint_every == 0 or done == last_step):
                written = _write_checkpoint(directory, module, optimizer, config, done, losses, distributed)
        finished = True
    finally:
        bar.close()
        module.eval()
        del trainer                     # DDP's reducer holds the process group: release it before the group
        if distributed.initialised_here:
            _shut_down_process_group(clean=finished)
    return PretrainResult(losses=losses, steps=last_step, seconds=time.perf_counter() - started,
                          resumed_from=start_step, checkpoint=written, grad_norms=grad_norms)


def _shut_down_process_group(*, clean: bool) -> None:
    """Tear down the process group this driver created, in step on every rank.

    A rank that destroys its group (and exits) while another rank still works -- rank 0 writing the last
    checkpoint -- can make gloo's background threads abort the process at exit ("terminate called
    without an active exception", seen about once in 15 two-rank runs on a loaded machine). After a
    clean run every rank first waits at a barrier; after an error there is no barrier, because the other
    ranks may never reach it.
    """
    if clean:
        torch.distributed.barrier()
    gc.collect()                        # drop any last reference to the reducer's buckets and work handles
    torch.distributed.destroy_process_group()


def _check_resumable(saved: dict[str, Any], config: PretrainConfig) -> None:
    current = config.to_json()
    different = [key for key in _RESUME_KEYS if saved.get(key) != current.get(key)]
    if different:
        details = ", ".join(f"{key}: checkpoint {saved.get(key)!r} vs now {current.get(key)!r}" for key in different)
        raise CheckpointError(f"cannot resume: the run's settings changed ({details}); resuming would not "
                              "continue the same schedule and task stream")


def _write_checkpoint(directory: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                      config: PretrainConfig, step: int, losses: Sequence[float], distributed: _Distributed
                      ) -> Path | None:
    if distributed.rank != 0:
        return None
    module_config = None
    module_tensors: dict[str, torch.Tensor] = {}
    if isinstance(module, io.Stateful):
        module_config = io.encode_child(module, "module", module_tensors)
        module_tensors = {k[len("module."):]: v for k, v in module_tensors.items()}
    checkpoint = PretrainCheckpoint(
        step=step, config=config.to_json(),
        module_state={k: v.detach().cpu() for k, v in module.state_dict().items()},
        optimizer_state=optimizer.state_dict(), losses=list(losses), rng_state=torch.get_rng_state(),
        module_config=module_config, module_tensors=module_tensors)
    return io.save(checkpoint, directory / CHECKPOINT_FILENAME)
