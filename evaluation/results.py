"""What a benchmark suite reports: one result type (:class:`SuiteResult`, written as the
suite's JSON) and one table formatter (:func:`render_table`, what ``python -m benchmarks``
prints), shared by every suite so their JSON and tables read alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SuiteResult:
    """One suite's run of one pipeline.

    ``overall`` holds the suite's headline scores (what ``compare`` sets side by side),
    ``per_language`` the same by language. ``counts`` are the suite's own sizes
    (``eval_sentences``, ``messages``), ``details`` its further tables (latency's
    ``settings``), ``serving`` what serving the model costs (parse latency, sizes on disk).
    ``train_sentences`` is left out of the JSON where a suite does not count them.
    """

    suite: str
    pipeline: str
    split: str
    quick: bool
    overall: dict[str, Any]
    per_language: dict[str, Any]
    train_seconds: float | None
    peak_memory_mb: float
    config: dict[str, Any] | None
    train_sentences: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    serving: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON the suite writes, its keys in the order people read them."""
        trained = {} if self.train_sentences is None else {"train_sentences": self.train_sentences}
        return {
            "suite": self.suite,
            "pipeline": self.pipeline,
            "split": self.split,
            "quick": self.quick,
            **trained,
            **self.counts,
            "overall": self.overall,
            "per_language": self.per_language,
            **self.details,
            "train_seconds": self.train_seconds,
            **self.serving,
            "peak_memory_mb": self.peak_memory_mb,
            "config": self.config,
        }


@dataclass(frozen=True)
class Column:
    """A table column: its header, right-aligned in ``width``, and how a row's cell reads
    (``cell`` gives the text, padded to ``width``)."""

    header: str
    width: int
    cell: Callable[[Mapping[str, Any]], str]


def number(header: str, key: str, width: int, spec: str = ".3f") -> Column:
    """A column of ``row[key]`` formatted with ``spec``; blank where the row has no value
    (the mean row of a suite that averages only some columns)."""

    def cell(row: Mapping[str, Any]) -> str:
        value = row.get(key)
        return " " * width if value is None else f"{value:>{width}{spec}}"

    return Column(header, width, cell)


Rows = Iterable[tuple[str, Mapping[str, Any]]]


def format_rows(columns: Sequence[Column], rows: Rows, label_width: int) -> list[str]:
    """One line per ``(label, row)``: the label left-aligned, then each column's cell."""
    return [
        (f"{label:<{label_width}}" + "".join(column.cell(row) for column in columns)).rstrip()
        for label, row in rows
    ]


def render_table(
    title: str,
    columns: Sequence[Column] = (),
    rows: Rows = (),
    footer: Sequence[str] = (),
    label: str = "lang",
    label_width: int = 6,
) -> str:
    """A suite's table: the title line, the column headers and a line per row (where the
    suite has columns), then the footer lines (means, serving costs, notes)."""
    lines = [title]
    if columns:
        lines.append(f"{label:<{label_width}}" + "".join(f"{c.header:>{c.width}}" for c in columns))
        lines += format_rows(columns, rows, label_width)
    return "\n".join([*lines, *footer])


def suite_title(result: Mapping[str, Any], trained: str) -> str:
    """``SUITE (PIPELINE, split=SPLIT, TRAINED)``: the first line of an NLU suite's table."""
    return f"{result['suite']} ({result['pipeline']}, split={result['split']}, {trained})"


def per_language_table(result: Mapping[str, Any], columns: Sequence[Column], trained: str) -> str:
    """An NLU suite's table: :func:`suite_title`, a row per language and the mean of the
    suite's ``overall``, then the serving costs (:func:`serving_line`)."""
    rows = [*result["per_language"].items(), ("mean", result["overall"])]
    return render_table(suite_title(result, trained), columns, rows, [serving_line(result)])


def serving_line(result: Mapping[str, Any]) -> str:
    """A suite's serving costs (batch-1 parse latency, sizes, memory) in one line."""
    encoder = f" + encoder {result['encoder_mb']:.0f} MB" if "encoder_mb" in result else ""
    return (
        f"parse batch 1: p50 {result['parse_p50_ms']:.1f} ms, "
        f"p95 {result['parse_p95_ms']:.1f} ms; model {result['model_mb']:.1f} MB{encoder}; "
        f"peak memory {result['peak_memory_mb']:.0f} MB"
    )
