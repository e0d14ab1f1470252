"""Where the benchmarks find things: the repository, and the public evaluation data in
``../shared/data`` (see its README.md; the readers of each data set are in :mod:`evaluation`).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
