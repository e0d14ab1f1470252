"""The test data ``lingodesk evaluate`` reads, whatever its format: Rasa NLU files
(:mod:`evaluation.rasa_data`), xSID ``<lang>.<split>.conll`` (:mod:`evaluation.xsid_data`),
Banking77 ``*.csv`` (:mod:`evaluation.banking77_data`, English) and XLM-T
``<language>/<split>_text.txt`` (:mod:`evaluation.xlmt_data`, labels beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evaluation import banking77_data, rasa_data, xlmt_data, xsid_data
from evaluation.records import EvaluationError, Record


def load_test_data(paths: Sequence[Path]) -> list[Record]:
    """Gold records of every test file under ``paths`` (directories are walked in name
    order; files no reader understands are skipped), with nothing predicted yet."""
    records: list[Record] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no test data at {path}")
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for file in files:
            records += read_file(file)
    if not records:
        raise EvaluationError(f"no NLU test examples in {', '.join(map(str, paths))}")
    return records


def read_file(path: Path) -> list[Record]:
    """Gold records of one test file, by its format; none for a file no reader understands."""
    if path.suffix == ".conll":
        return xsid_data.gold_records(path)
    if path.suffix == ".csv":
        return banking77_data.gold_records(path)
    if path.name.endswith(xlmt_data.TEXT_SUFFIX):
        return xlmt_data.gold_records(path)
    return rasa_data.gold_records(path) if rasa_data.is_rasa_nlu_file(path) else []
