"""``probnn pretrain``: files written, resume, continuation from an existing PFN, argparse wiring."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

import probnn
from probnn.errors import InputError
from probnn.inference.pfn import fit_pfn
from probnn.inference.pretrain import load_checkpoint
from probnn.inference.pretrain_cli import add_subcommand, main
from probnn.models.pfn import PFN

TINY = ["--width", "16", "--depth", "1", "--heads", "2", "--buckets", "20", "--batch-size", "4", "--max-context",
        "8", "--warmup-steps", "2", "--checkpoint-every", "5", "--border-batches", "3", "--quiet"]


def test_pretrain_command_writes_model_checkpoint_and_record_and_resumes(tmp_path):
    out = tmp_path / "run"
    assert main(["--prior", "gp-hyperprior", "--steps", "12", "--out", str(out), "--stop-after", "5", *TINY]) == 0
    assert load_checkpoint(out).step == 5
    assert main(["--prior", "gp-hyperprior", "--steps", "12", "--out", str(out), "--resume", *TINY]) == 0
    assert load_checkpoint(out).step == 12
    record = json.loads((out / "training.json").read_text())
    assert [s["from_step"] for s in record["sessions"]] == [0, 5] and record["steps_completed"] == 12
    assert record["hardware"]["device"] and record["config"]["num_features"] == [1, 3]
    network = probnn.load(out / "model.safetensors")
    assert isinstance(network, PFN) and network.max_features == 3 and network.metadata["prior"] == "gp-hyperprior"
    x = torch.rand(6, 3, dtype=torch.float64)
    posterior = fit_pfn(probnn.models.GP(), x, x.sum(1), checkpoint=out)
    assert posterior.predict(x).batch_shape == (6,)
    again = tmp_path / "continued"
    main(["--prior", "gp-hyperprior", "--steps", "3", "--out", str(again), "--init-from", str(out), *TINY])
    continued = probnn.load(again / "model.safetensors")
    assert continued.metadata["initialised_from"][0]["steps"] == 12
    assert torch.equal(continued.borders, network.borders)
    # continuing on the raw-units preset switches what the network sees: a standardising PFN's answer
    # moves exactly with a shift of y, the raw one's does not (it knows the prior mean is 0)
    raw = tmp_path / "raw"
    main(["--prior", "gp-hyperprior-raw", "--steps", "3", "--out", str(raw), "--init-from", str(out), *TINY])
    switched = probnn.load(raw / "model.safetensors")
    assert switched.target_normalisation == "none" and network.target_normalisation == "standardise"
    assert switched.metadata["prior"] == "gp-hyperprior-raw"
    assert switched.metadata["initialised_from"][-1]["target_normalisation_before"] == "standardise"
    y = x.sum(1)
    for module, equivariant in ((continued, True), (switched, False)):
        base = fit_pfn(probnn.models.GP(), x, y, checkpoint=module).predict(x).mean
        shifted = fit_pfn(probnn.models.GP(), x, y + 5.0, checkpoint=module).predict(x).mean
        assert torch.allclose(shifted, base + 5.0, atol=1e-6) == equivariant


def test_subcommand_registers_on_a_parent_parser():
    parser = argparse.ArgumentParser(prog="probnn")
    add_subcommand(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(["pretrain", "--prior", "gp", "--steps", "3", "--out", "x", "--features", "1"])
    assert arguments.handler.__name__ == "run" and arguments.prior == "gp"
    with pytest.raises(SystemExit):
        parser.parse_args(["pretrain", "--prior", "nonsense", "--steps", "3", "--out", "x"])


def test_unknown_prior_name_is_a_clear_error():
    from probnn.inference.pfn_priors import get_preset

    with pytest.raises(InputError, match="available"):
        get_preset("gpp")


def test_probnn_cli_has_the_pretrain_subcommand():
    from probnn.cli import build_parser

    arguments = build_parser().parse_args(["pretrain", "--prior", "gp-hyperprior", "--steps", "5", "--out", "x"])
    assert arguments.command == "pretrain" and arguments.steps == 5
