"""`python -m benchmarks compare`: the side-by-side table of two pipelines' suite results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import main


def _suite_result(pipeline: str, accuracy: float, train_seconds: float, **extra) -> dict:
    return {
        "suite": "banking77",
        "pipeline": pipeline,
        "split": "dev",
        "quick": True,
        "train_sentences": 1540,
        "overall": {"accuracy": accuracy, "macro_f1": accuracy - 0.01},
        "train_seconds": train_seconds,
        "model_mb": 5.0 if pipeline == "lingodesk" else 35.0,
        **extra,
    }


def _write(path: Path, result: dict) -> Path:
    path.write_text(json.dumps(result), encoding="utf-8")
    return path


def test_saved_runs_give_rows_with_ratios(tmp_path: Path):
    ours = _write(tmp_path / "ours.json", _suite_result("lingodesk", 0.9, 100.0, encoder_mb=460.0))
    stock = _write(tmp_path / "stock.json", _suite_result("rasa-default", 0.75, 400.0))
    output = tmp_path / "compare.json"

    main(["compare", "banking77", "--runs", str(ours), str(stock), "--json", str(output)])

    rows = {row["metric"]: row for row in json.loads(output.read_text())["rows"]}
    assert rows["accuracy"]["ratio"] == pytest.approx(0.9 / 0.75)
    assert rows["train_seconds"]["ratio"] == pytest.approx(0.25)
    # Serving lingodesk needs the encoder beside the trained adapters.
    assert rows["serving_mb"]["lingodesk"] == pytest.approx(465.0)
    assert rows["serving_mb"]["rasa-default"] == pytest.approx(35.0)


def test_runs_on_different_training_sets_are_refused(tmp_path: Path):
    ours = _write(tmp_path / "ours.json", _suite_result("lingodesk", 0.9, 100.0))
    other = _suite_result("rasa-default", 0.75, 400.0, train_sentences=9000, quick=False)
    stock = _write(tmp_path / "stock.json", other)

    with pytest.raises(RuntimeError, match="differ in quick"):
        main(["compare", "banking77", "--runs", str(ours), str(stock)])


def test_runs_of_the_wrong_pipeline_are_refused(tmp_path: Path):
    ours = _write(tmp_path / "ours.json", _suite_result("lingodesk", 0.9, 100.0))

    with pytest.raises(ValueError, match="rasa-default pipeline"):
        main(["compare", "banking77", "--runs", str(ours), str(ours)])
