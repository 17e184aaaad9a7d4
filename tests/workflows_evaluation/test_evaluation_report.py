"""`probnn evaluate` over several models x datasets: JSON, markdown table and calibration plots."""

import json

import pytest

from probnn.cli import main
from probnn.evaluation.report import markdown_table, report_from_json


def test_evaluate_two_models_writes_json_table_and_plots(tmp_path):
    from probnn.evaluation.zoo import ZOO, ZooEntry, register_entry

    if "gp-exact-fixed" not in ZOO:  # a second backend configuration: fixed hyperparameters
        gp = ZOO["gp-exact"]
        register_entry(ZooEntry("gp-exact-fixed", "regression", gp.make_model, "exact", {"optimize": False},
                                {"optimize": False}, "exact GP at its data-based initial hyperparameters"))
    code = main(["evaluate", "--data", "diabetes", "--model", "gp-exact,gp-exact-fixed", "--quick", "--max-train",
                 "120", "--splits", "2", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "evaluation.json").read_text())
    assert {(r["entry"], r["split"]) for r in data["results"]} == {
        (e, s) for e in ("gp-exact", "gp-exact-fixed") for s in (0, 1)}
    assert "| gp-exact | exact | 2 |" in (tmp_path / "evaluation.md").read_text()
    assert (tmp_path / "calibration_diabetes.png").exists()


@pytest.mark.slow
def test_evaluate_suite_on_sklearn_writes_json_table_and_plots(tmp_path):
    code = main(["evaluate", "--data", "diabetes,breast_cancer", "--model", "all", "--quick", "--max-train", "120",
                 "--quiet", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "evaluation.json").read_text())
    results = data["results"]
    regression = [r for r in results if r["task"] == "regression"]
    assert regression, "at least the exact GP evaluates on diabetes"
    from probnn.evaluation.zoo import ZOO

    evaluated = {(r["entry"], r["dataset"]) for r in results} | {(f["entry"], f["dataset"]) for f in data["failures"]}
    # every zoo entry whose task matches a dataset was attempted on it
    for entry in ZOO.values():
        for dataset, task in (("diabetes", "regression"), ("breast_cancer", "classification")):
            if entry.task == task:
                assert any(e == entry.name and dataset in d for e, d in evaluated), (entry.name, dataset)
    for record in regression:
        calibration = record["metrics"]["calibration"]
        assert len(calibration["levels"]) == len(calibration["coverage"])
        assert all(0.0 <= c <= 1.0 for c in calibration["coverage"])
    table = (tmp_path / "evaluation.md").read_text()
    assert "| gp-exact | exact | 1 |" in table
    assert list(tmp_path.glob("calibration_*.png"))
    # the report rebuilds from JSON alone
    rebuilt = report_from_json(tmp_path / "evaluation.json", tmp_path / "again")
    assert rebuilt["markdown"].read_text() == table


def test_markdown_table_mean_and_standard_error():
    results = [{"entry": "m", "method": "exact", "dataset": "d", "task": "regression", "fit_seconds": 1.0,
                "metrics": {"nll": value, "rmse": 1.0, "crps": 0.5, "coverage_90": 0.9, "calibration_error": 0.0}}
               for value in (1.0, 3.0)]
    table = markdown_table(results)
    # mean 2, standard error = sd / sqrt(n) = sqrt(2) / sqrt(2) = 1
    assert "| m | exact | 2 | 2.000 ± 1.000 | 1.000 ± 0.000 |" in table


def test_evaluate_needs_data():
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "all", "--bad-flag"])
    assert main(["evaluate", "--model", "all"]) == 2
