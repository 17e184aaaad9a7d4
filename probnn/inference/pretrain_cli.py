"""``probnn pretrain``: pre-train a PFN on a named prior, with checkpoints and ``--resume``.

Usage::

    probnn pretrain --prior gp-hyperprior --steps 20000 --out runs/gp-hyperprior [--resume]
    torchrun --nproc_per_node 2 -m probnn.inference.pretrain_cli --prior gp --steps 2000 --out runs/gp

Writes into ``--out``: ``checkpoint.safetensors`` (training state, every ``--checkpoint-every``
steps, atomic), ``model.safetensors`` (the trained :class:`probnn.models.pfn.PFN`, loadable with
``probnn.load`` and usable as ``fit(..., method="pfn", checkpoint=...)``) and ``training.json``
(command, settings, steps, wall time, hardware, loss curve summary).

The same thing from Python: :func:`pretrain_pfn`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from probnn import io
from probnn.inference.pfn_priors import PRESETS, get_preset
from probnn.inference.pretrain import CHECKPOINT_FILENAME, PretrainConfig, load_checkpoint, pretrain
from probnn.models.pfn import PFN

MODEL_FILENAME = "model.safetensors"
RECORD_FILENAME = "training.json"


def pretrain_pfn(prior: str, steps: int, out: str | os.PathLike[str], *, resume: bool = False,
                 batch_size: int = 16, max_context: int = 50, num_points: int | None = None,
                 num_features: int | tuple[int, int] | None = None, width: int = 128, depth: int = 4,
                 heads: int = 4, num_buckets: int = 500, learning_rate: float = 3e-4, warmup_steps: int = 500,
                 checkpoint_every: int = 250, seed: int = 0, device: str = "cpu", progress: bool | None = None,
                 stop_after: int | None = None, border_batches: int = 200,
                 init_from: str | os.PathLike[str] | None = None,
                 command: str | None = None) -> PFN:
    """Pre-train a PFN on the preset ``prior`` and write model, checkpoint and record into ``out``.

    Args:
        prior: a name from :data:`probnn.inference.pfn_priors.PRESETS`.
        steps: optimiser steps (batch ``batch_size`` per process).
        out: output folder.
        resume: continue from ``out/checkpoint.safetensors`` (same settings required).
        max_context: largest training-set size; sizes ``0..max_context`` are drawn uniformly per batch.
        num_points: points per task (training + query); default ``max_context + 10``.
        num_features: input dimension or range; default: the preset's.
        width, depth, heads, num_buckets: PFN architecture (see :class:`probnn.models.pfn.PFN`).
        learning_rate, warmup_steps, checkpoint_every, seed: see :class:`PretrainConfig`.
        stop_after: stop after this many steps of this call (continue later with ``resume=True``).
        border_batches: task batches drawn to place the bucket borders at prior quantiles.
        init_from: start from the weights (and borders, architecture) of an existing PFN or
            ``probnn pretrain`` output instead of a fresh network, with a fresh optimiser and
            schedule: continued training, e.g. a final annealing phase.

    Returns:
        The trained PFN (also saved as ``out/model.safetensors``).
    """
    preset = get_preset(prior)
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    features = preset.num_features if num_features is None else num_features
    config = PretrainConfig(steps=steps, batch_size=batch_size, num_context=(0, max_context),
                            num_points=num_points or max_context + 10, num_features=features,
                            learning_rate=learning_rate, warmup_steps=warmup_steps, checkpoint_every=checkpoint_every,
                            seed=seed)
    checkpoint_path = directory / CHECKPOINT_FILENAME
    if resume and checkpoint_path.exists():
        module = load_checkpoint(checkpoint_path).build_module()
    elif init_from is not None:
        from probnn.inference.pfn import load_pfn

        module = load_pfn(init_from, use_cache=False)
        history = list(module.metadata.get("initialised_from", []))
        steps_before = module.metadata.get("training", {}).get("steps_completed")
        if steps_before is None:
            try:
                steps_before = load_checkpoint(init_from).step
            except Exception:  # a bare PFN file has no training checkpoint to read
                steps_before = None
        entry: dict[str, Any] = {"source": str(init_from), "steps": steps_before}
        if module.target_normalisation != preset.target_normalisation:
            # continued training on a preset that normalises targets differently (e.g. gp-hyperprior ->
            # gp-hyperprior-raw): the weights are a starting point, the preset decides what the network sees
            entry["target_normalisation_before"] = module.target_normalisation
            module.target_normalisation = preset.target_normalisation
        history.append(entry)
        module.metadata["initialised_from"] = history
        if module.metadata.get("prior") != preset.name:
            entry["prior_before"] = module.metadata.get("prior")
            module.metadata.update({"prior": preset.name, "prior_description": preset.description,
                                    "prior_settings": preset.settings})
    else:
        metadata = {"prior": preset.name, "prior_description": preset.description, "prior_settings": preset.settings,
                    "max_context": max_context, "num_features": list(features) if isinstance(features, tuple)
                    else features}
        module = PFN.for_prior(preset.factory, config, num_buckets=num_buckets, num_border_batches=border_batches,
                               width=width, depth=depth, heads=heads,
                               target_normalisation=preset.target_normalisation, seed=seed, metadata=metadata)
    module.to(device)
    started = time.time()
    result = pretrain(module, preset.factory, config, checkpoint_dir=directory, resume=resume, device=device,
                      progress=progress, stop_after=stop_after)
    rank = torch.distributed.get_rank() if torch.distributed.is_available() and torch.distributed.is_initialized() \
        else int(os.environ.get("RANK", "0"))
    if rank == 0:
        module = module.cpu()
        record = _training_record(directory, config, module, result, command, started)
        module.metadata["training"] = {key: record[key] for key in ("command", "steps_completed", "hardware",
                                                                     "wall_seconds_total")}
        io.save(module, directory / MODEL_FILENAME)
        io.atomic_write_bytes(directory / RECORD_FILENAME, json.dumps(record, indent=2).encode())
    return module


def _training_record(directory: Path, config: PretrainConfig, module: PFN, result: Any, command: str | None,
                     started: float) -> dict[str, Any]:
    previous: dict[str, Any] = {}
    record_path = directory / RECORD_FILENAME
    if result.resumed_from and record_path.exists():
        previous = json.loads(record_path.read_text())
    losses = result.losses
    window = max(1, min(200, len(losses) // 10))
    sessions = [*previous.get("sessions", []),
                {"command": command, "from_step": result.resumed_from, "to_step": result.steps,
                 "wall_seconds": round(time.time() - started, 1), "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                              time.gmtime())}]
    return {
        "command": previous.get("command") or command,
        "sessions": sessions,
        "steps_planned": config.steps,
        "steps_completed": result.steps,
        "wall_seconds_total": round(sum(s["wall_seconds"] for s in sessions), 1),
        "hardware": {"device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(),
                     "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                     "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "config": config.to_json(),
        "architecture": {"width": module.width, "depth": module.depth, "heads": module.heads,
                         "hidden": module.hidden, "num_buckets": module.num_buckets,
                         "parameters": module.num_parameters(), "target_normalisation": module.target_normalisation},
        "loss_first_window": sum(losses[:window]) / window if losses else None,
        "loss_last_window": sum(losses[-window:]) / window if losses else None,
        "loss_window": window,
        "loss_every_100_steps": [round(sum(losses[i:i + 100]) / len(losses[i:i + 100]), 4)
                                 for i in range(0, len(losses), 100)],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``pretrain`` options (shared by the subcommand and ``python -m``)."""
    parser.add_argument("--prior", required=True, choices=sorted(PRESETS), help="named prior to train on")
    parser.add_argument("--steps", type=int, required=True, help="optimiser steps")
    parser.add_argument("--out", required=True, help="output folder (model, checkpoint, training record)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.safetensors")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-context", type=int, default=50, help="largest training-set size")
    parser.add_argument("--num-points", type=int, default=None, help="points per task (default max-context + 10)")
    parser.add_argument("--features", default=None, help="input dimension, e.g. 1 or 1-3 (default: the prior's)")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--buckets", type=int, default=500)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--warmup-steps", type=int, default=500)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this many steps (resume later)")
    parser.add_argument("--border-batches", type=int, default=200,
                        help="task batches used to place the bucket borders at prior quantiles")
    parser.add_argument("--init-from", default=None,
                        help="start from this PFN (file or pretrain folder) with a fresh optimiser and schedule")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(arguments: argparse.Namespace) -> int:
    """Execute ``probnn pretrain`` from parsed arguments."""
    features: int | tuple[int, int] | None = None
    if arguments.features:
        low, _, high = str(arguments.features).partition("-")
        features = (int(low), int(high)) if high else int(low)
    device = arguments.device
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        torch.cuda.set_device(device)
    pretrain_pfn(arguments.prior, arguments.steps, arguments.out, resume=arguments.resume,
                 batch_size=arguments.batch_size, max_context=arguments.max_context, num_points=arguments.num_points,
                 num_features=features, width=arguments.width, depth=arguments.depth, heads=arguments.heads,
                 num_buckets=arguments.buckets, learning_rate=arguments.learning_rate,
                 warmup_steps=arguments.warmup_steps, checkpoint_every=arguments.checkpoint_every, seed=arguments.seed,
                 device=device, progress=False if arguments.quiet else None, stop_after=arguments.stop_after,
                 init_from=arguments.init_from, border_batches=arguments.border_batches,
                 command="probnn pretrain " + " ".join(sys.argv[1:] if sys.argv[1:2] != ["pretrain"] else sys.argv[2:]))
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``pretrain`` on the ``probnn`` CLI's subparsers (``probnn/cli.py`` calls this)."""
    parser = subparsers.add_parser("pretrain", help="pre-train a PFN on a named prior",
                                   description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m probnn.inference.pretrain_cli ...`` (also under torchrun)."""
    parser = argparse.ArgumentParser(prog="probnn pretrain", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


#: The hook :mod:`probnn.cli` calls for modules listed in its ``SUBCOMMAND_MODULES``.
register = add_subcommand


if __name__ == "__main__":
    raise SystemExit(main())
