"""lingodesk against stock Rasa: one NLU suite run with both pipelines on the same split, and a
table of both and their ratio (quality, training time, parse latency, model size, memory).

``python -m benchmarks compare SUITE [--quick] [--lingodesk-args="..."] [--rasa-args="..."]``
``python -m benchmarks compare SUITE --runs LINGODESK.json RASA.json`` (tabulate saved runs)

Each pipeline runs as its own ``python -m benchmarks SUITE --pipeline P`` child process with
this run's ``--data``, ``--seed`` and ``--quick``, so both train and evaluate on the same
split, and each peak-memory figure is that pipeline's alone. ``--lingodesk-args`` and
``--rasa-args`` pass further suite options to one side only (``--encoder``, ``--epochs``).
The JSON holds the table and both suites' full results.

On 2 cores stock Rasa's 100 DIET epochs over Banking77's or the sentiment set's full training
data take hours (docs/benchmarks.md): ``--quick`` trains both pipelines on the suites'
subsamples.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT
from benchmarks.pipelines import LINGODESK, PIPELINES, RASA_DEFAULT
from evaluation.results import Column, number, render_table

COMPARED_SUITES = ("xsid-zeroshot", "xsid-joint", "banking77", "sentiment", "latency")
# What a run costs, beside the suite's own scores in "overall"; smaller is better.
COST_KEYS = (
    "train_seconds",
    "parse_p50_ms",
    "parse_p95_ms",
    "model_mb",
    "serving_mb",
    "peak_memory_mb",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", choices=COMPARED_SUITES, metavar="SUITE", help=", ".join(COMPARED_SUITES)
    )
    parser.add_argument(
        "--lingodesk-args",
        default="",
        help='more options for the lingodesk run, e.g. --lingodesk-args="--epochs 3"',
    )
    parser.add_argument("--rasa-args", default="", help="more options for the rasa-default run")
    parser.add_argument(
        "--runs",
        nargs=2,
        type=Path,
        metavar=("LINGODESK_JSON", "RASA_JSON"),
        help="compare two saved suite results (--json of each pipeline's run) instead of "
        "running both; they must be the same suite, split, --quick and training set",
    )


def _run_suite(args: argparse.Namespace, pipeline: str, extra: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "result.json"
        command = [
            sys.executable, "-m", "benchmarks", args.target, "--pipeline", pipeline,
            "--data", str(args.data), "--seed", str(args.seed), "--json", str(output),
            *(["--quick"] if args.quick else []), *shlex.split(extra),
        ]  # fmt: skip
        print(f"== {pipeline}: {shlex.join(command[1:])}", flush=True)
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO_ROOT, check=True)
        result = json.loads(output.read_text(encoding="utf-8"))
    result["wall_seconds"] = time.perf_counter() - started
    return result


def comparison_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per number both runs report: the suite's overall scores, then the costs,
    each with the ratio lingodesk / rasa-default."""
    ours, theirs = results[LINGODESK], results[RASA_DEFAULT]
    scores = [
        ("overall", key)
        for key, value in ours["overall"].items()
        if isinstance(value, (int, float)) and isinstance(theirs["overall"].get(key), (int, float))
    ]
    costs = [(None, key) for key in COST_KEYS if key in ours and key in theirs]
    rows = []
    for section, key in scores + costs:
        mine = ours[section][key] if section else ours[key]
        stock = theirs[section][key] if section else theirs[key]
        rows.append(
            {
                "metric": key,
                "kind": "score" if section else "cost",
                LINGODESK: mine,
                RASA_DEFAULT: stock,
                "ratio": mine / stock if stock else None,
            }
        )
    return rows


def _saved_runs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results = {}
    for pipeline, path in zip(PIPELINES, args.runs):
        result = json.loads(path.read_text(encoding="utf-8"))
        if (result.get("suite"), result.get("pipeline")) != (args.target, pipeline):
            raise ValueError(f"{path} is not a {args.target} run of the {pipeline} pipeline")
        results[pipeline] = result
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.runs:
        results = _saved_runs(args)
    else:
        extra = {LINGODESK: args.lingodesk_args, RASA_DEFAULT: args.rasa_args}
        results = {pipeline: _run_suite(args, pipeline, extra[pipeline]) for pipeline in PIPELINES}
    for result in results.values():
        # What serving needs on disk: the trained artifact plus, for lingodesk, its encoder.
        if "model_mb" in result:
            result["serving_mb"] = result["model_mb"] + result.get("encoder_mb", 0.0)
    ours, theirs = results[LINGODESK], results[RASA_DEFAULT]
    for key in ("split", "quick", "train_sentences"):
        if ours.get(key) != theirs.get(key):
            raise RuntimeError(
                f"the two runs differ in {key} ({ours.get(key)!r} vs {theirs.get(key)!r}); "
                "the comparison is void"
            )
    return {
        "suite": "compare",
        "target": args.target,
        "split": ours["split"],
        "quick": ours.get("quick", args.quick),
        "seed": args.seed,
        "train_sentences": ours.get("train_sentences"),
        "rows": comparison_rows(results),
        "runs": results,
    }


def _ratio(row: dict[str, Any]) -> str:
    return f"{'–' if row['ratio'] is None else format(row['ratio'], '.2f'):>9}"


def format_table(result: dict[str, Any]) -> str:
    trained = result["train_sentences"]
    title = (
        f"{result['target']}: lingodesk vs stock Rasa (split={result['split']}"
        f"{', quick' if result['quick'] else ''}"
        f"{f', {trained} training sentences' if trained else ''})"
    )
    columns = [number(LINGODESK, LINGODESK, 12), number(RASA_DEFAULT, RASA_DEFAULT, 14)]
    rows = [(row["metric"], row) for row in result["rows"]]
    footer = ["ratio = lingodesk / rasa-default (scores: higher is better; costs: lower)"]
    return render_table(title, [*columns, Column("ratio", 9, _ratio)], rows, footer, "metric", 18)
