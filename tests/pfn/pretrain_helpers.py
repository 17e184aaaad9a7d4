"""A tiny amortized module and a runnable training script for the pre-training driver's tests."""

from __future__ import annotations

import math
import sys

import torch

from probnn.datasets.tasks import TaskBatch


class ContextMeanModule(torch.nn.Module):
    """Predicts ``y* ~ N(a * mean(y_context) + b, exp(2 c))``: three parameters, learns in a few steps."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = torch.nn.Parameter(torch.tensor([0.0, 0.5, 1.0]))

    def loss(self, batch: TaskBatch, *, generator: torch.Generator) -> torch.Tensor:
        y_context = batch.y_context[..., 0]
        context_mean = y_context.mean(1, keepdim=True) if y_context.shape[1] else torch.zeros_like(
            batch.y_target[..., 0][:, :1])
        mean = self.weights[0] * context_mean + self.weights[1]
        log_std = self.weights[2]
        residual = batch.y_target[..., 0] - mean
        return (0.5 * residual**2 * torch.exp(-2 * log_std) + log_std + 0.5 * math.log(2 * math.pi)).mean()


def make_prior():
    from probnn.gp import GP

    return GP(noise=0.1, mean="zero", num_features=1)


def run(directory: str, steps: int, checkpoint_every: int, resume: bool) -> None:
    """Train the tiny module; prints the final weights (used by the SIGKILL and DDP tests)."""
    from probnn.inference.pretrain import PretrainConfig, pretrain

    torch.set_num_threads(1)
    module = ContextMeanModule()
    config = PretrainConfig(steps=steps, batch_size=4, num_context=(0, 8), num_target=4, learning_rate=0.05,
                            warmup_steps=5, checkpoint_every=checkpoint_every, seed=3)
    result = pretrain(module, make_prior(), config, checkpoint_dir=directory, resume=resume, progress=False)
    print("RESULT", result.resumed_from, result.steps, " ".join(f"{v:.10f}" for v in module.weights.tolist()),
          flush=True)


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "resume")
