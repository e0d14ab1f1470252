"""Training an assistant without ever leaving half a model to serve.

`rasa train` writes into ``models/.training/``, and a complete model is then moved next to
the others in one rename, so a failed or interrupted training (a full disk) leaves no
half-written model for `lingodesk run` (which serves the newest in models/) to pick up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from bot.supervisor import ServiceError, log_tail, rasa_command
from nlu_components.importer import HELD_OUT_DIRECTORIES

# What `rasa train` reads: a model older than any of these is out of date.
PROJECT_FILES = ("config.yml", "domain.yml", "data")
# Under models/: where `rasa train` writes before the model is moved beside the others.
TRAINING_DIR = ".training"
HELD_OUT = frozenset(HELD_OUT_DIRECTORIES)


class TrainingError(ServiceError):
    """`rasa train` failed; ``code`` is its exit status (1 when it exited 0 without a model)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def latest_model(models_dir: Path) -> Path | None:
    """The newest model archive in ``models_dir`` (what `rasa run --model DIR` serves)."""
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def needs_training(project: Path, models_dir: Path) -> bool:
    """True when there is no trained model, or config/domain/data changed after the latest."""
    model = latest_model(models_dir)
    if model is None:
        return True
    built = model.stat().st_mtime
    for name in PROJECT_FILES:
        path = project / name
        files = path.rglob("*") if path.is_dir() else [path]
        # Held-out evaluation data changes nothing a model learns.
        trained = (f for f in files if HELD_OUT.isdisjoint(f.relative_to(project).parts[:-1]))
        if any(f.is_file() and f.stat().st_mtime > built for f in trained):
            return True
    return False


def train(
    project: Path,
    env: Mapping[str, str],
    *,
    log: Path | None = None,
    timeout: float | None = None,
) -> Path:
    """`rasa train` the project into ``project/models/<date-time>.tar.gz`` and return it.

    Rasa's output goes to ``log`` when given, else to the terminal. Raises TrainingError (with
    the log's end) when training fails; the models already there are left as they were.
    """
    models = project / "models"
    staging = models / TRAINING_DIR
    # Training runs alone, so OpenMP's threads may spin between the many small parallel
    # regions of a training step: with the servers' OMP_WAIT_POLICY=PASSIVE each one wakes
    # sleeping threads, and an epoch took a quarter longer.
    env = {name: value for name, value in env.items() if name != "OMP_WAIT_POLICY"}
    staging.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as files:
            output = files.enter_context(_open_log(log)) if log is not None else None
            code = subprocess.call(
                rasa_command("train", "--out", str(staging), "--fixed-model-name", "model"),
                cwd=project,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                timeout=timeout,
            )
        built = staging / "model.tar.gz"
        if code != 0 or not built.is_file():
            tail = f":\n{log_tail(log)}" if log is not None else ""
            raise TrainingError(f"rasa train failed (exit {code}){tail}", code or 1)
        model = models / time.strftime("%Y%m%d-%H%M%S.tar.gz")
        os.replace(built, model)
        return model
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _open_log(log: Path) -> IO[str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    return log.open("w")
