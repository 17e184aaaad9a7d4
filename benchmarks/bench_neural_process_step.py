"""CPU cost of one training step (forward + backward + Adam) of every neural process.

Width 128 (the bnp width), 8 heads, batch 16 tasks of 50 points, context sizes 5 / 25 / 45 (the
mean over the three), one thread, CPU time (``time.process_time``) so that other processes on a
shared machine do not inflate the figure. Writes ``benchmarks/results/neural_process_step.{json,md}``.

Run: ``python benchmarks/bench_neural_process_step.py [--quick] [--width 128] [--repeats 10]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probnn.datasets.tasks import sample_task_batch, uniform_inputs
from probnn.models.neural_process import CNP, MPANP, MPNP, AttentiveCNP, LatentNP, RandomKernelGP

RESULTS = Path(__file__).resolve().parent / "results"


def models(width: int, heads: int) -> dict:
    return {"CNP": lambda: CNP(width=width), "NP": lambda: LatentNP(width=width),
            "ACNP": lambda: AttentiveCNP(width=width, heads=heads), "MPNP": lambda: MPNP(width=width, heads=heads),
            "MPNP (no pseudo term)": lambda: MPNP(width=width, heads=heads, pseudo_loss=False),
            "MPNP (K=1)": lambda: MPNP(width=width, heads=heads, num_train_sets=1),
            "MPANP": lambda: MPANP(width=width, heads=heads)}


def step_milliseconds(build, batches, repeats: int) -> tuple[float, int]:
    torch.manual_seed(0)
    model = build()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def step(batch):
        optimiser.zero_grad()
        model.loss(batch, generator=generator).backward()
        optimiser.step()

    for batch in batches:   # warm-up (allocator, first-call overheads)
        step(batch)
    started = time.process_time()
    for _ in range(repeats):
        for batch in batches:
            step(batch)
    seconds = (time.process_time() - started) / (repeats * len(batches))
    return 1000 * seconds, sum(parameter.numel() for parameter in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="width 16, 1 repeat, no files written")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.width, args.heads, args.repeats = 16, 4, 1
    generator = torch.Generator().manual_seed(0)
    batches = [sample_task_batch(RandomKernelGP("rbf"), batch_size=args.batch_size, num_context=context,
                                 num_target=50 - context, input_sampler=uniform_inputs(-2.0, 2.0), generator=generator)
               for context in (5, 25, 45)]
    rows = []
    for name, build in models(args.width, args.heads).items():
        milliseconds, parameters = step_milliseconds(build, batches, args.repeats)
        rows.append({"model": name, "cpu_ms_per_step": milliseconds, "parameters": parameters})
        print(json.dumps(rows[-1]), flush=True)
    if args.quick:
        return
    cnp = next(row["cpu_ms_per_step"] for row in rows if row["model"] == "CNP")
    settings = {"width": args.width, "heads": args.heads, "batch_size": args.batch_size, "repeats": args.repeats,
                "context_sizes": [5, 25, 45], "points": 50, "threads": 1}
    (RESULTS / "neural_process_step.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=1))
    lines = ["# One training step of each neural process (CPU time, 1 thread)", "",
             f"Width {args.width}, {args.heads} heads, {args.batch_size} tasks of 50 points, context 5 / 25 / 45 "
             "(mean), forward + backward + Adam.", "",
             "| model | CPU ms per step | x CNP | parameters |", "|---|---|---|---|"]
    lines += [f"| {row['model']} | {row['cpu_ms_per_step']:.1f} | {row['cpu_ms_per_step'] / cnp:.1f} | "
              f"{row['parameters']} |" for row in rows]
    (RESULTS / "neural_process_step.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
