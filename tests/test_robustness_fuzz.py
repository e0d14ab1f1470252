"""A bounded coverage-guided fuzz run (atheris, tests/fuzz_nlu.py) over the NLU components
and log redaction: no exception, no insensible parse, no personal data left unmasked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_robustness_components import LID_MODEL

pytest.importorskip("atheris", reason="pip install atheris==2.3.0 (a cp310 wheel)")
pytestmark = pytest.mark.skipif(not LID_MODEL.is_file(), reason="run scripts/setup")

FUZZER = Path(__file__).with_name("fuzz_nlu.py")


def test_fuzzing_finds_no_crash(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(FUZZER), "-runs=3000", "-max_total_time=45", "-max_len=2048",
         "-len_control=0", "-rss_limit_mb=4096", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    report = run.stdout[-2000:] + run.stderr[-4000:]
    assert run.returncode == 0, report
    assert not list(tmp_path.glob("crash-*")), report
    assert "Done" in run.stderr, report  # libFuzzer's summary: the run really happened
