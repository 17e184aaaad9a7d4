"""The probnn command line: demo, evaluate, and the subcommand hook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probnn import cli
from probnn.errors import InputError
from probnn.evaluation import ZOO, evaluate_entry, summarise
from probnn.evaluation.zoo import ZooEntry, get_entry, register_entry


def test_demo_quick_writes_table_and_plots(tmp_path: Path, capsys) -> None:
    status = cli.main(["demo", "--out", str(tmp_path), "--quick", "--quiet"])
    output = capsys.readouterr().out
    assert status == 0
    assert "| gp-exact | exact |" in output and "90% coverage" in output
    assert str(tmp_path.resolve()) in output
    for name in ("predictions.png", "calibration.png", "demo.json", "demo.md"):
        assert (tmp_path / name).stat().st_size > 0
    report = json.loads((tmp_path / "demo.json").read_text())
    gp = next(r for r in report["results"] if r["entry"] == "gp-exact")
    # diabetes targets are in the 25..346 range: an honest GP has RMSE ~55 and covers ~90 %
    assert 40 < gp["metrics"]["rmse"] < 75
    assert 0.75 < gp["metrics"]["coverage_90"] <= 1.0


def test_evaluate_writes_json_and_markdown(tmp_path: Path, capsys) -> None:
    status = cli.main(["evaluate", "--data", "diabetes", "--model", "gp-exact", "--splits", "1", "--quick",
                       "--quiet", "--out", str(tmp_path)])
    assert status == 0
    result = json.loads((tmp_path / "diabetes_gp-exact.json").read_text())
    assert result["summary"]["nll"]["count"] == 1
    assert "| nll |" in (tmp_path / "diabetes_gp-exact.md").read_text()


def test_evaluate_rejects_unknown_entries(capsys) -> None:
    assert cli.main(["evaluate", "--data", "diabetes", "--model", "gp-exakt"]) == 2
    assert "Did you mean 'gp-exact'" in capsys.readouterr().err
    with pytest.raises(InputError):
        get_entry("nope")


def test_subcommands_can_be_registered(capsys) -> None:
    def register(subparsers) -> None:
        parser = subparsers.add_parser("hello")
        parser.set_defaults(handler=lambda args: print("hello from a plug-in") or 0)

    cli.register_subcommand(register)
    try:
        assert cli.main(["hello"]) == 0
        assert "hello from a plug-in" in capsys.readouterr().out
    finally:
        cli._REGISTRARS.remove(register)


def test_zoo_entries_and_runner() -> None:
    from probnn.datasets import load_sklearn

    assert ZOO["gp-exact"].task == "regression"
    with pytest.raises(InputError, match="already exists"):
        register_entry(ZOO["gp-exact"])
    with pytest.raises(InputError, match="task"):
        register_entry(ZooEntry("x", "clustering", lambda d: None, "exact"))
    data = load_sklearn("diabetes", seed=1)
    result = evaluate_entry(ZOO["gp-exact"], data, quick=True, progress=False)
    assert result.metrics["rmse"] > 10  # reported in original units, not standardised ones
    summary = summarise([result, result])
    assert summary["rmse"]["standard_error"] == 0.0 and summary["rmse"]["count"] == 2
