"""Entry point shared by every benchmark suite.

``python -m benchmarks SUITE [--data ROOT] [--json OUT] [--seed N] [--quick] [suite options]``

A suite is a module in :data:`SUITES` with three functions:

- ``add_arguments(parser)``: its own options, beside the common ones;
- ``run(args) -> dict``: the measurement; the dict is written as JSON and must hold ``suite``
  (the NLU suites build it as an :class:`evaluation.results.SuiteResult`);
- ``format_table(result) -> str``: the human-readable table printed at the end
  (:func:`evaluation.results.render_table`).

Every suite module is imported to build the command line: keep heavy imports inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
from pathlib import Path

from benchmarks.common import DEFAULT_DATA_ROOT

SUITES: dict[str, str] = {
    "langid": "benchmarks.langid",
    "xsid-zeroshot": "benchmarks.xsid",
    "xsid-joint": "benchmarks.xsid",
    "banking77": "benchmarks.banking77",
    "sentiment": "benchmarks.sentiment",
    "latency": "benchmarks.latency",
    "compare": "benchmarks.compare",
    "load": "benchmarks.load",
    "conversations": "benchmarks.conversations",
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help=f"root of the public data sets (default: {DEFAULT_DATA_ROOT})",
    )
    common.add_argument("--json", type=Path, help="write the results here as JSON")
    common.add_argument("--seed", type=int, default=13, help="seed for every random choice")
    common.add_argument("--quick", action="store_true", help="a smaller, faster run")
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    subparsers = parser.add_subparsers(dest="suite", required=True, metavar="SUITE")
    for name, module_name in SUITES.items():
        module = importlib.import_module(module_name)
        summary = (module.__doc__ or name).strip().split("\n")[0]
        module.add_arguments(subparsers.add_parser(name, parents=[common], help=summary))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    random.seed(args.seed)
    module = importlib.import_module(SUITES[args.suite])
    result = module.run(args)
    print(module.format_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
