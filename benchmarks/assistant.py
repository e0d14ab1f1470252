"""Throw-away copies of a Rasa project to train and serve: the repo's assistant with the fast
stock pipeline of benchmarks/fast_config.yml (what the load benchmark serves; the end-to-end
tests serve it too), or any project's files, trained once and cached by their contents.

    project = prepare_shipped_assistant(tmp_dir)
    model = train_cached(project, cache_dir=CACHE)
    with bot.stack.ProjectStack(project) as stack: ...
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

from benchmarks.common import REPO_ROOT
from bot import training
from bot.supervisor import single_core_environment

FAST_CONFIG = Path(__file__).resolve().parent / "fast_config.yml"
LANGUAGE_ID_MODEL = REPO_ROOT / "models" / "lid.176.ftz"


def prepare_project(
    directory: Path,
    *,
    config: Path,
    domain: Path,
    data: Iterable[Path],
    credentials: Path = REPO_ROOT / "credentials.yml",
    endpoints: Path = REPO_ROOT / "endpoints.yml",
    extra_files: Iterable[Path] = (),
) -> Path:
    """Copy a Rasa project's files into ``directory`` (data files and folders go under data/).

    ``extra_files`` (an actions module, assets) are copied next to the project files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(config, directory / "config.yml")
    shutil.copy(domain, directory / "domain.yml")
    shutil.copy(credentials, directory / "credentials.yml")
    shutil.copy(endpoints, directory / "endpoints.yml")
    data_dir = directory / "data"
    data_dir.mkdir(exist_ok=True)
    for source in data:
        if source.is_dir():
            shutil.copytree(source, data_dir / source.name, dirs_exist_ok=True)
        else:
            shutil.copy(source, data_dir / source.name)
    for source in extra_files:
        shutil.copy(source, directory / source.name)
    return directory


def prepare_shipped_assistant(directory: Path, config: Path = FAST_CONFIG) -> Path:
    """The repo's assistant in ``directory``: domain.yml, data/ (not the held-out data/test),
    credentials.yml and endpoints.yml, trained with ``config`` (fast by default). Its actions
    are the repo's ``actions`` package, `ProjectStack`'s default. The language-ID model the
    set-up built is linked in, where config.yml's relative ``models/lid.176.ftz`` finds it."""
    data = [
        path
        for path in sorted((REPO_ROOT / "data").iterdir())
        if path.name != "test" and (path.is_dir() or path.suffix in (".yml", ".yaml"))
    ]
    project = prepare_project(directory, config=config, domain=REPO_ROOT / "domain.yml", data=data)
    models = project / "models"
    models.mkdir(exist_ok=True)
    if LANGUAGE_ID_MODEL.is_file() and not (models / LANGUAGE_ID_MODEL.name).exists():
        (models / LANGUAGE_ID_MODEL.name).symlink_to(LANGUAGE_ID_MODEL)
    return project


def project_fingerprint(project: Path) -> str:
    """A hash of everything `rasa train` reads, so a cached model is reused only when valid."""
    digest = hashlib.sha256(version("rasa").encode())  # another Rasa cannot load the model
    files = [project / "config.yml", project / "domain.yml", *sorted((project / "data").rglob("*"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(project)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def train_cached(project: Path, cache_dir: Path | None = None, timeout: float = 900) -> Path:
    """Train ``project`` into ``project/models/`` (`rasa train` on one thread a process, its
    output in ``logs/train.log``), reusing the model ``cache_dir`` holds for the same project
    files: training takes a minute or more on two shared cores."""
    cached = cache_dir / f"{project_fingerprint(project)}.tar.gz" if cache_dir else None
    if cached is not None and cached.is_file():
        target = project / "models" / "model.tar.gz"
        target.parent.mkdir(exist_ok=True)
        shutil.copy(cached, target)
        return target
    model = training.train(
        project, single_core_environment(), log=project / "logs" / "train.log", timeout=timeout
    )
    if cached is not None:
        shutil.copy(model, cached)
    return model
