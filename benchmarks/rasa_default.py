"""Stock Rasa as the baseline: the NLU pipeline ``rasa init`` trains, behind the interface the
suites already use for lingodesk's model (``fit``, ``predict``, ``save``).

The pipeline is read from Rasa's own default configuration (what ``rasa init``'s
``config.yml`` falls back to: WhitespaceTokenizer, RegexFeaturizer, LexicalSyntacticFeaturizer,
CountVectorsFeaturizer on words and on char_wb 1-4 grams, DIETClassifier with 100 epochs,
EntitySynonymMapper, ResponseSelector, FallbackClassifier), so it is exactly what a bot builder
gets without lingodesk. Training goes through ``rasa.model_training.train_nlu`` on a temporary
project written from the suite's examples; predictions go through ``Agent`` and
``processor.parse_message`` one message at a time, as the server parses them
(:class:`evaluation.rasa_parsing.RasaParser`, as ``lingodesk evaluate`` parses).

Rasa reads ``/`` in an intent name as a retrieval intent (``faq/ask_name``), so xSID's
``weather/find`` is trained as ``weather__find`` and mapped back in predictions.

Stock Rasa has no sentiment: where examples carry a sentiment label and no intent (the
sentiment suite), DIET learns the sentiment labels as its intents, which is how a Rasa user
would add one; otherwise predictions carry no sentiment.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.rasa_parsing import RasaParser, entity_spans, quiet_rasa
from nlu_components.core.examples import EntitySpan, Example, NLUPrediction

DIET = "DIETClassifier"
# Rasa's retrieval-intent delimiter, and what stands for it in the names Rasa is given.
RESPONSE_DELIMITER = "/"
DELIMITER_STAND_IN = "__"


def default_config() -> dict[str, Any]:
    """Rasa's default NLU configuration (recipe, language, pipeline), read from the installed
    Rasa, with the unique assistant id it wants."""
    import rasa.engine.recipes
    import rasa.shared.utils.io

    path = Path(rasa.engine.recipes.__file__).parent / "config_files" / "default_config.yml"
    stock = rasa.shared.utils.io.read_config_file(str(path))
    return {
        "recipe": stock["recipe"],
        "language": stock["language"],
        "assistant_id": "lingodesk-benchmark-rasa-default",
        "pipeline": copy.deepcopy(stock["pipeline"]),
    }


def config_with_epochs(epochs: int | None) -> dict[str, Any]:
    """The default configuration, with DIET's epochs overridden when ``epochs`` is given (to
    measure what an epoch costs; the baseline itself is always run with Rasa's 100)."""
    config = default_config()
    if epochs:
        for component in config["pipeline"]:
            if component["name"] == DIET:
                component["epochs"] = epochs
    return config


def _rasa_environment() -> None:
    """Quiet, uncached Rasa, set before Rasa and TensorFlow are imported: no telemetry, and
    no training cache, which would skip training on a second run with the same data and
    report a training time of seconds."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet_rasa()


def _messages(examples: Sequence[Example], labels: Sequence[str | None]) -> list[Any]:
    from rasa.shared.nlu.training_data.message import Message

    messages = []
    for example, label in zip(examples, labels):
        data: dict[str, Any] = {"text": example.text, "intent": label}
        if example.entities:
            data["entities"] = [_entity_dict(example.text, span) for span in example.entities]
        messages.append(Message(data=data))
    return messages


def _entity_dict(text: str, span: EntitySpan) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "start": span.start,
        "end": span.end,
        "value": text[span.start : span.end],
        "entity": span.entity,
    }
    if span.role:
        entity["role"] = span.role
    if span.group:
        entity["group"] = span.group
    return entity


class RasaDefaultNLU:
    """Rasa's default NLU pipeline, trained and served through Rasa's own API."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.model_path: Path | None = None
        self._sentiment_as_intent = False
        self._label_of: dict[str, str] = {}  # the intent names Rasa saw -> the suite's labels
        self._parser: RasaParser | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="lingodesk-rasa-default-"))
        weakref.finalize(self, shutil.rmtree, self._workdir, ignore_errors=True)

    def fit(self, examples: Sequence[Example]) -> None:
        """Write a one-file Rasa project from ``examples``, train it, and load the model."""
        _rasa_environment()
        import rasa.shared.utils.io
        from rasa.model_training import train_nlu
        from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
        from rasa.shared.nlu.training_data.training_data import TrainingData

        self._sentiment_as_intent = not any(e.intent for e in examples)
        labels = [e.sentiment if self._sentiment_as_intent else e.intent for e in examples]
        self._label_of = {
            label.replace(RESPONSE_DELIMITER, DELIMITER_STAND_IN): label
            for label in set(labels)
            if label
        }
        if len(self._label_of) < len({label for label in labels if label}):
            raise ValueError(f"intent names collide once '/' is replaced: {sorted(self._label_of)}")
        rasa_names = {label: name for name, label in self._label_of.items()}
        data = TrainingData(_messages(examples, [rasa_names.get(label) for label in labels]))
        nlu_file = self._workdir / "nlu.yml"
        nlu_file.write_text(RasaYAMLWriter().dumps(data), encoding="utf-8")
        config_file = self._workdir / "config.yml"
        rasa.shared.utils.io.write_yaml(self.config, config_file)
        path = train_nlu(
            str(config_file),
            str(nlu_file),
            str(self._workdir / "models"),
            fixed_model_name="nlu",
        )
        if path is None:
            raise RuntimeError(f"rasa train nlu produced no model from {nlu_file}")
        self.model_path = Path(path)
        self._parser = None

    @property
    def parser(self) -> RasaParser:
        """The trained model loaded for serving, on first use: like lingodesk's serving path,
        loading (tens of seconds for DIET, which builds its TensorFlow graph) is not training.
        One parser, so one event loop, for every parse: a message at a time is what the
        latency numbers time."""
        if self._parser is None:
            if self.model_path is None:
                raise RuntimeError("RasaDefaultNLU.predict called before fit().")
            self._parser = RasaParser(self.model_path)
        return self._parser

    def predict(
        self,
        texts: Sequence[str],
        words: Sequence[Sequence[tuple[int, int]]] | None = None,
    ) -> list[NLUPrediction]:
        """Parse each text through the agent. ``words`` is accepted for the interface and not
        used: Rasa's pipeline tokenizes for itself."""
        parser = self.parser
        return [self._prediction(parser.parse(text)[0]) for text in texts]

    def _prediction(self, result: dict[str, Any]) -> NLUPrediction:
        """A parse result (FallbackClassifier undone) as the core's NLUPrediction."""
        ranking = [
            (self._label_of.get(item["name"], item["name"]), float(item["confidence"]))
            for item in result.get("intent_ranking", [])
        ]
        entities = entity_spans(result)
        if self._sentiment_as_intent:
            return NLUPrediction([], ranking[0][0] if ranking else "", dict(ranking), entities)
        return NLUPrediction(ranking, "", {}, entities)

    def save(self, directory: str | Path) -> None:
        """Copy the trained model archive (what ``rasa run`` serves) into ``directory``."""
        if self.model_path is None:
            raise RuntimeError("Nothing to save: the model is not trained.")
        Path(directory).mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.model_path, Path(directory) / self.model_path.name)
