"""A Rasa training-data importer that never trains on held-out test data.

Rasa reads every NLU file under ``data/``, so ``data/test/`` (the held-out evaluation set,
one file per language) would silently become training data on a plain ``rasa train``. This is
Rasa's own ``RasaFileImporter`` with one difference: files inside a directory named ``test``
(configurable) are left out of training. ``rasa test nlu --nlu data/test`` reads them as
before, since Rasa's evaluation loads the path it is given with the default importer.

config.yml::

    importers:
      - name: nlu_components.importer.HeldOutTestDataImporter
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from rasa.shared.importers.rasa import RasaFileImporter

logger = logging.getLogger(__name__)

# Directories (at any depth under the data paths) whose files are never trained on.
HELD_OUT_DIRECTORIES = ("test",)


class HeldOutTestDataImporter(RasaFileImporter):
    """RasaFileImporter that skips NLU and story files under a held-out directory."""

    def __init__(
        self,
        config_file: str | None = None,
        domain_path: str | None = None,
        training_data_paths: list[str] | str | None = None,
        held_out_directories: Iterable[str] = HELD_OUT_DIRECTORIES,
    ) -> None:
        super().__init__(config_file, domain_path, training_data_paths)
        held_out = set(held_out_directories)

        def keep(files: list[str]) -> list[str]:
            kept = [f for f in files if held_out.isdisjoint(Path(f).parent.parts)]
            if len(kept) < len(files):
                logger.debug("Not training on held-out files: %s", sorted(set(files) - set(kept)))
            return kept

        self._nlu_files = keep(self._nlu_files)
        self._story_files = keep(self._story_files)
