"""Coverage-guided fuzzing of lingodesk's NLU components and log redaction (atheris).

Each input is turned into a message text (any code point, lone surrogates included) and
message metadata, then run through LanguageDetector -> MultilingualTokenizer ->
MultitaskTransformerNLU (a tiny encoder trained here) and through handoff.redaction. A crash is an
exception, an insensible parse (tests/test_robustness_components.py's checks) or personal data
surviving redaction. libFuzzer options bound the run:

    python tests/fuzz_nlu.py -runs=5000 -max_total_time=60 -artifact_prefix=/tmp/fuzz-

tests/test_robustness_fuzz.py runs it briefly in CI; longer runs find more.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris

# Heavy dependencies load uninstrumented; lingodesk's own modules are instrumented below.
import rasa.shared.nlu.training_data.message  # noqa: F401
import torch  # noqa: F401
import transformers  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["nlu_components", "bot"]):
    from handoff.redaction import redact
    from nlu_components.language_detector import LanguageDetector
    from nlu_components.multilingual_tokenizer import MultilingualTokenizer

from tests.test_robustness_components import LID_MODEL, assert_sensible, parse
from tests.tiny_models import build_tiny_encoder

METADATA_KINDS = 4


def build_pipeline(workdir: Path) -> list[Any]:
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from nlu_components.multitask_nlu import MultitaskTransformerNLU
    from tests.test_core_model import _examples, _model

    encoder = build_tiny_encoder(workdir / "encoder")
    model = _model(encoder, backend="onnx-int8", epochs=2)
    model.fit(_examples())
    transformer = MultitaskTransformerNLU.create(
        {"model_name_or_path": str(encoder)},
        LocalModelStorage(workdir / "storage"),
        Resource("nlu"),
        ExecutionContext(GraphSchema({}), node_name="nlu"),
    )
    transformer.nlu = model
    return [
        LanguageDetector({"model_path": str(LID_MODEL), "supported_languages": ["en", "de"]}),
        MultilingualTokenizer({}),
        transformer,
    ]


def metadata(data: atheris.FuzzedDataProvider) -> Any:
    kind = data.ConsumeIntInRange(0, METADATA_KINDS)
    if kind == 0:
        return None
    if kind == 1:
        return {
            "language_hint": data.ConsumeUnicode(12),
            "session_language": data.ConsumeUnicode(4),
        }
    if kind == 2:
        return {"language_hint": data.ConsumeBytes(8), "session_language": data.ConsumeInt(4)}
    if kind == 3:
        return [data.ConsumeUnicode(4)]
    return data.ConsumeUnicode(16)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="lingodesk-fuzz-"))
    pipeline = build_pipeline(workdir)
    intents = set(pipeline[-1].nlu.labels.intents)

    def one_input(raw: bytes) -> None:
        data = atheris.FuzzedDataProvider(raw)
        meta = metadata(data)
        text = data.ConsumeUnicode(data.remaining_bytes())
        assert_sensible(parse(pipeline, text, meta), text, intents)
        masked = redact(f"{text} anna@example.com LD-123456 +49 170 1234567")
        assert "anna@example.com" not in masked and "LD-123456" not in masked
        assert "1234567" not in masked

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
