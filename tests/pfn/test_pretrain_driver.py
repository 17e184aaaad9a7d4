"""Tests of the shared amortized pre-training driver (contract C)."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from probnn.errors import CheckpointError, InputError
from probnn.inference.pretrain import (
    CHECKPOINT_FILENAME,
    PretrainConfig,
    draw_task_batch,
    load_checkpoint,
    pretrain,
    step_seed,
)

sys.path.insert(0, str(Path(__file__).parent))
from pretrain_helpers import ContextMeanModule, make_prior

HELPERS = Path(__file__).parent / "pretrain_helpers.py"
REPO = Path(__file__).parents[2]


def _config(**overrides):
    settings = dict(steps=40, batch_size=4, num_context=(0, 8), num_target=4, learning_rate=0.05, warmup_steps=5,
                    checkpoint_every=10, seed=3)
    settings.update(overrides)
    return PretrainConfig(**settings)


def test_schedule_warmup_then_cosine_to_zero():
    config = PretrainConfig(steps=100, warmup_steps=10, learning_rate=1.0)
    assert config.learning_rate_at(0) == pytest.approx(0.1)
    assert config.learning_rate_at(9) == pytest.approx(1.0)
    assert config.learning_rate_at(10) == pytest.approx(1.0)
    assert config.learning_rate_at(55) == pytest.approx(0.5)           # half way through the cosine
    assert config.learning_rate_at(100) == pytest.approx(0.0, abs=1e-12)


def test_config_rejects_bad_settings():
    with pytest.raises(InputError, match="num_context"):
        PretrainConfig(steps=10, num_context=(5, 2))
    with pytest.raises(InputError, match="num_points"):
        PretrainConfig(steps=10, num_context=(0, 10), num_points=10)
    with pytest.raises(InputError, match="learning_rate"):
        PretrainConfig(steps=10, learning_rate=-1.0)


def test_fresh_tasks_every_step_and_rank_dependent_seeds():
    config = _config(num_points=12, num_context=(0, 11))
    seeds = {step_seed(3, rank, step) for rank in range(2) for step in range(50)}
    assert len(seeds) == 100
    prior = make_prior()
    first = draw_task_batch(prior, config, torch.Generator().manual_seed(step_seed(3, 0, 0)))
    again = draw_task_batch(prior, config, torch.Generator().manual_seed(step_seed(3, 0, 0)))
    other = draw_task_batch(prior, config, torch.Generator().manual_seed(step_seed(3, 0, 1)))
    assert torch.equal(first.y_all, again.y_all)
    assert first.x_all.shape[1] == 12 and not torch.equal(first.x_all, other.x_all)
    sizes = {draw_task_batch(prior, config, torch.Generator().manual_seed(s)).x_context.shape[1] for s in range(60)}
    assert len(sizes) > 6           # the training-set size is drawn per batch


def test_training_reduces_loss_and_learns_the_noise():
    torch.manual_seed(0)
    module = ContextMeanModule()
    result = pretrain(module, make_prior(), _config(steps=300, checkpoint_every=1000), progress=False)
    assert len(result.losses) == 300
    assert sum(result.losses[-50:]) / 50 < sum(result.losses[:20]) / 20
    assert max(result.grad_norms) < 1e6
    # Predictive std of y* given only a context mean: sqrt(k(0) + noise - explained) lies in (0.3, 1.1).
    assert 0.3 < math.exp(float(module.weights[2].detach())) < 1.1


def test_checkpoint_and_resume_reproduce_an_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    full = ContextMeanModule()
    reference = pretrain(full, make_prior(), _config(), progress=False)
    part = ContextMeanModule()
    first = pretrain(part, make_prior(), _config(), checkpoint_dir=tmp_path, progress=False, stop_after=20)
    assert first.steps == 20 and (tmp_path / CHECKPOINT_FILENAME).exists()
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.step == 20 and len(checkpoint.losses) == 20
    resumed_module = ContextMeanModule()
    resumed = pretrain(resumed_module, make_prior(), _config(), checkpoint_dir=tmp_path, resume=True, progress=False)
    assert resumed.resumed_from == 20 and resumed.steps == 40
    assert torch.equal(resumed_module.weights, full.weights)
    assert resumed.losses == pytest.approx(reference.losses, abs=0)


def test_resume_refuses_changed_schedule(tmp_path):
    pretrain(ContextMeanModule(), make_prior(), _config(steps=10), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="learning_rate"):
        pretrain(ContextMeanModule(), make_prior(), _config(steps=10, learning_rate=0.1), checkpoint_dir=tmp_path,
                 resume=True, progress=False)


def _environment():
    environment = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PROBNN_QUIET="1")
    return environment


def _free_port() -> int:
    """A TCP port that nothing listens on now (the OS picks it), for the rendezvous of the two ranks."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _result_line(output: str) -> list[str]:
    return next(line for line in output.splitlines() if line.startswith("RESULT")).split()


def test_sigkill_then_resume_loses_at_most_one_interval(tmp_path):
    steps, every = 4000, 25
    directory = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(HELPERS), str(directory), str(steps), str(every), "fresh"],
                               env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoint_file = directory / CHECKPOINT_FILENAME
    deadline = time.time() + 120
    while time.time() < deadline and not checkpoint_file.exists():
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    saved = load_checkpoint(directory).step        # the file is intact despite the kill
    assert saved % every == 0 and 0 < saved < steps
    # Continue to a fixed point of the same schedule, then compare with an uninterrupted run to it.
    resumed = subprocess.run([sys.executable, str(HELPERS), str(directory), str(steps), str(every), "resume"],
                             env=_environment(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    line = _result_line(resumed.stdout)
    assert int(line[1]) == saved and int(line[2]) == steps
    reference = subprocess.run([sys.executable, str(HELPERS), str(tmp_path / "reference"), str(steps), str(every),
                                "fresh"], env=_environment(), capture_output=True, text=True, timeout=600)
    assert _result_line(reference.stdout)[3:] == line[3:]


def test_two_process_ddp_with_gloo(tmp_path):
    pytest.importorskip("torch.distributed")
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available in this build")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(_free_port()), str(HELPERS), str(tmp_path), "20", "10", "fresh"]
    result = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith("RESULT")]
    assert len(lines) == 2
    assert lines[0][3:] == lines[1][3:]                 # DDP keeps the replicas identical
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.step == 20 and all(not key.startswith("module.") for key in checkpoint.module_state)
    single = subprocess.run([sys.executable, str(HELPERS), str(tmp_path / "single"), "20", "10", "fresh"],
                            env=_environment(), capture_output=True, text=True, timeout=300)
    assert _result_line(single.stdout)[3:] != lines[0][3:]   # two ranks saw different tasks
