"""Shared fixtures: a tiny encoder built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests run on 2 shared cores: one thread, no OpenMP busy-waiting, no telemetry.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT with a WordPiece tokenizer trained on multilingual chat lines."""
    from tests.tiny_models import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep exported ONNX files of tiny test models out of the user's cache."""
    os.environ["LINGODESK_CACHE_DIR"] = str(tmp_path_factory.mktemp("lingodesk-cache"))
