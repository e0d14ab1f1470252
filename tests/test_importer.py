"""The shipped config's importer never trains on the held-out data/test files."""

from __future__ import annotations

from pathlib import Path

from rasa.shared.importers.rasa import RasaFileImporter

from nlu_components.importer import HeldOutTestDataImporter
from tests.conftest import REPO_ROOT


def test_held_out_test_files_are_not_training_data():
    importer = HeldOutTestDataImporter(
        str(REPO_ROOT / "config.yml"), str(REPO_ROOT / "domain.yml"), [str(REPO_ROOT / "data")]
    )
    nlu_files = {Path(f).relative_to(REPO_ROOT).as_posix() for f in importer._nlu_files}
    assert "data/nlu/en.yml" in nlu_files
    assert not any(f.startswith("data/test/") for f in nlu_files)
    training = importer.get_nlu_data()
    test_texts = {
        m.get("text")
        for path in (REPO_ROOT / "data" / "test").glob("*.yml")
        for m in RasaFileImporter(training_data_paths=[str(path)]).get_nlu_data().nlu_examples
    }
    trained_texts = {m.get("text") for m in training.nlu_examples}
    assert test_texts and not (test_texts & trained_texts)


def test_shipped_config_uses_it():
    assert (
        "nlu_components.importer.HeldOutTestDataImporter" in (REPO_ROOT / "config.yml").read_text()
    )
