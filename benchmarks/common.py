"""Reading the public evaluation data in ``../shared/data`` (see its README.md).

xSID ships ``xsid/<lang>.valid.conll`` here; the upstream test files
(``xsid/<lang>.test.conll``) are held back. Suites evaluate on the test files wherever a data
root has them, else on the valid files, and say which in their JSON (``split``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_ROOT = REPO_ROOT.parent / "shared" / "data"

# The 13 xSID languages with their own standard (Norwegian and the dialects are extra).
XSID_MAIN_LANGUAGES = ("en", "de", "da", "nl", "it", "id", "ja", "zh", "ar", "tr", "kk", "sr", "lt")
# Dialect files without their parent in the name ("de-ba" counts as "de" by its prefix).
_XSID_DIALECT_PARENT = {"gsw": "de", "nap": "it"}


@dataclass(frozen=True)
class Sentence:
    """One annotated xSID utterance: word tokens with BIO slot tags, one intent."""

    text: str
    tokens: tuple[str, ...]
    intent: str
    slots: tuple[str, ...]


def read_conll(path: Path) -> list[Sentence]:
    """Sentences of an xSID ``.conll`` file (``# text =``/``# intent =`` comments, then
    ``index<TAB>token<TAB>intent<TAB>slot`` rows, a blank line between sentences)."""
    sentences: list[Sentence] = []
    text = intent = ""
    tokens: list[str] = []
    slots: list[str] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("# text = "):
            text = line.removeprefix("# text = ").strip()
        elif line.startswith("# intent = "):
            intent = line.removeprefix("# intent = ").strip()
        elif line.strip() and not line.startswith("#"):
            columns = line.split("\t")
            tokens.append(columns[1])
            slots.append(columns[3] if len(columns) > 3 else "O")
        elif not line.strip() and tokens:
            sentences.append(Sentence(text, tuple(tokens), intent, tuple(slots)))
            text = intent = ""
            tokens, slots = [], []
    return sentences


def xsid_files(data_root: Path) -> tuple[str, dict[str, Path]]:
    """The split evaluated on ("test" where the root has test files, else "dev") and its
    files by name ("de", "de-ba", "gsw", ...)."""
    folder = data_root / "xsid"
    test = sorted(folder.glob("*.test.conll"))
    split, files = ("test", test) if test else ("dev", sorted(folder.glob("*.valid.conll")))
    if not files:
        raise FileNotFoundError(f"no xSID .conll files under {folder}")
    return split, {path.name.split(".", 1)[0]: path for path in files}


def xsid_language(name: str) -> str:
    """ISO 639-1 code an xSID file counts for: dialects count for their parent language."""
    return _XSID_DIALECT_PARENT.get(name, name.split("-", 1)[0])
