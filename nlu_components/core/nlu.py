"""MultitaskNLU: the one object the Rasa component and the benchmarks use.

Life cycle: ``MultitaskNLU(settings...)`` -> ``fit(examples)`` -> ``predict(texts, words)``;
``save(dir)`` writes only what was trained (LoRA adapter, heads, label maps, settings and the
encoder's identity), a few MB; ``MultitaskNLU.load(dir)`` reads exactly that back against
the same encoder and refuses a different one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from nlu_components.core.batching import validation_split
from nlu_components.core.bio import tag_names
from nlu_components.core.calibration import AngerCalibration, fit_anger_calibration
from nlu_components.core.encoder import LoadedEncoder, fingerprint, load_encoder
from nlu_components.core.examples import ANGER, SIGNALS, Example, NLUPrediction
from nlu_components.core.network import MultitaskNetwork, TaskHeads
from nlu_components.core.predictor import Predictor
from nlu_components.core.settings import (
    EncoderSettings,
    LoraSettings,
    ServingSettings,
    TrainingSettings,
    settings_from_dict,
    settings_to_dict,
)
from nlu_components.core.trainer import (
    LabelMaps,
    TrainingReport,
    train_multitask,
)

FORMAT_VERSION = 1
MANIFEST = "lingodesk_nlu.json"
ADAPTER_FILE = "adapter.safetensors"
HEADS_FILE = "heads.safetensors"


class EncoderMismatchError(RuntimeError):
    """A trained model was loaded against an encoder other than the one it was trained on."""


class ModelFilesError(RuntimeError):
    """Saved model files are missing, unreadable or of an unknown format."""


class MultitaskNLU:
    """Intent, sentiment and entities from one LoRA-tuned encoder pass."""

    def __init__(
        self,
        encoder: EncoderSettings | None = None,
        lora: LoraSettings | None = None,
        training: TrainingSettings | None = None,
        serving: ServingSettings | None = None,
    ) -> None:
        self.encoder_settings = encoder or EncoderSettings()
        self.lora_settings = lora or LoraSettings()
        self.training_settings = training or TrainingSettings()
        self.serving_settings = serving or ServingSettings()
        self.labels: LabelMaps | None = None
        self.encoder_fingerprint: str | None = None
        self._encoder: LoadedEncoder | None = None
        self._model: MultitaskNetwork | None = None
        # What save() writes: captured before serving merges the adapters into the weights.
        self._adapter_state: dict[str, torch.Tensor] | None = None
        self._predictor: Predictor | None = None
        # Per-language anger maps fitted on the validation slice (None: scores as the head
        # gives them: no anger signal, or no slice to fit on).
        self.anger_calibration: AngerCalibration | None = None

    # -- training -----------------------------------------------------------------------------
    def fit(self, examples: Sequence[Example]) -> TrainingReport:
        """Train adapters and heads on ``examples``; afterwards the model predicts."""
        if not examples:
            raise ValueError("No training examples.")
        intents = sorted({e.intent for e in examples if e.intent})
        if not intents and not any(e.sentiment or e.entities for e in examples):
            raise ValueError("No training example has an intent, sentiment or entity label.")
        entity_labels = [span.label for e in examples for span in (e.entities or [])]
        signals = [name for name in SIGNALS if any(name in e.signals for e in examples)]
        self.labels = LabelMaps(intents=intents, tags=tag_names(entity_labels), signals=signals)
        self._build(self.labels)
        assert self._model is not None and self._encoder is not None
        report = train_multitask(
            self._model,
            self._encoder.tokenizer,
            self._encoder.text_prefix,
            examples,
            self.labels,
            self.encoder_settings,
            self.training_settings,
        )
        self._adapter_state = _detached(get_peft_model_state_dict(self._model.encoder))
        self._predictor = None
        self.anger_calibration = None  # the fit below reads the head's own scores
        self.anger_calibration = self._fit_anger_calibration(examples)
        return report

    def _fit_anger_calibration(self, examples: Sequence[Example]) -> AngerCalibration | None:
        """Anger maps fitted on the validation slice the training held out, as served (the
        serving backend's scores); None without an anger signal or a slice."""
        _, validation = validation_split(examples, self.training_settings)
        tuning = [e for e in validation if ANGER in e.signals]
        if not tuning or self.labels is None or ANGER not in self.labels.signals:
            return None
        predictions = self.predict([e.text for e in tuning], [e.words for e in tuning])
        return fit_anger_calibration(
            [p.signals[ANGER] for p in predictions],
            [e.signals[ANGER] for e in tuning],
            [e.language for e in tuning],
        )

    def _build(self, labels: LabelMaps) -> None:
        torch.manual_seed(self.training_settings.seed)  # heads' initial weights
        encoder = load_encoder(self.encoder_settings)
        self.encoder_fingerprint = fingerprint(encoder.model)
        # Record what was resolved from the encoder directory, so the saved model says it.
        self.encoder_settings = replace(
            self.encoder_settings, pooling=encoder.pooling, text_prefix=encoder.text_prefix
        )
        lora = self.lora_settings
        n_layers = encoder.model.config.num_hidden_layers
        frozen = int(n_layers * lora.frozen_bottom_fraction + 1e-9)
        peft_encoder = get_peft_model(
            encoder.model,
            LoraConfig(
                r=lora.rank,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=list(lora.target_modules),
                layers_to_transform=list(range(frozen, n_layers)) if frozen else None,
                bias="none",
            ),
        )
        heads = TaskHeads(
            encoder.model.config.hidden_size,
            len(labels.intents),
            len(labels.tags),
            self.training_settings.dropout,
            len(labels.signals),
        )
        self._encoder = encoder
        self._model = MultitaskNetwork(peft_encoder, heads, encoder.pooling)

    # -- inference ----------------------------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        return self._model is not None and self._adapter_state is not None

    def predict(
        self,
        texts: Sequence[str],
        words: Sequence[Sequence[tuple[int, int]]] | None = None,
        languages: Sequence[str | None] | None = None,
    ) -> list[NLUPrediction]:
        """Predict each text; ``words`` are word spans (whitespace words when omitted),
        ``languages`` the texts' languages, which calibrate anger (shared map when omitted)."""
        if not self.is_trained:
            raise RuntimeError("MultitaskNLU.predict called before fit() or load().")
        if words is None:
            words = [Example(text).words for text in texts]
        predictions = self.predictor.predict(list(texts), list(words))
        for index, prediction in enumerate(predictions):
            if ANGER in prediction.signals:
                raw = prediction.signals[ANGER]
                prediction.uncalibrated_anger = raw
                if self.anger_calibration is not None:
                    language = languages[index] if languages else None
                    prediction.signals[ANGER] = self.anger_calibration.apply(raw, language)
        return predictions

    @property
    def predictor(self) -> Predictor:
        """The serving path, built on first use: LoRA merged, exported per the settings."""
        if self._predictor is None:
            assert self._model is not None and self._encoder is not None and self.labels
            # Merge in place: the adapters are kept in _adapter_state for save(), and serving
            # then costs one plain encoder pass with no adapter overhead and no second copy.
            self._model.encoder = self._model.encoder.merge_and_unload()
            self._predictor = Predictor(
                self._model,
                self._encoder,
                self.labels,
                self.encoder_settings,
                self.serving_settings,
            )
        return self._predictor

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write adapter, heads and manifest into ``directory`` (created if needed)."""
        if not self.is_trained:
            raise RuntimeError("Nothing to save: the model is not trained.")
        assert self._model is not None and self.labels is not None and self._adapter_state
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(self._adapter_state, directory / ADAPTER_FILE)
        save_file(self._model.heads.state_dict(), directory / HEADS_FILE)
        manifest = {
            "format_version": FORMAT_VERSION,
            "encoder": settings_to_dict(self.encoder_settings),
            "encoder_fingerprint": self.encoder_fingerprint,
            "lora": settings_to_dict(self.lora_settings),
            "training": settings_to_dict(self.training_settings),
            "labels": {
                "intents": self.labels.intents,
                "tags": self.labels.tags,
                "sentiments": self.labels.sentiments,
                "signals": self.labels.signals,
            },
            "anger_calibration": (
                self.anger_calibration.to_dict() if self.anger_calibration else None
            ),
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))

    @classmethod
    def load(
        cls,
        directory: str | Path,
        serving: ServingSettings | None = None,
        encoder_overrides: dict[str, Any] | None = None,
    ) -> MultitaskNLU:
        """Read a saved model. ``encoder_overrides`` may relocate the encoder
        (``{"model_name_or_path": ...}``); its weights must still be the ones trained on."""
        directory = Path(directory)
        manifest = _read_manifest(directory)
        encoder_settings = settings_from_dict(EncoderSettings, manifest["encoder"])
        if encoder_overrides:
            encoder_settings = replace(encoder_settings, **encoder_overrides)
        model = cls(
            encoder_settings,
            settings_from_dict(LoraSettings, manifest["lora"]),
            settings_from_dict(TrainingSettings, manifest["training"]),
            serving,
        )
        labels = LabelMaps(**manifest["labels"])
        model.labels = labels
        if manifest.get("anger_calibration"):  # none in models saved before calibration
            model.anger_calibration = AngerCalibration.from_dict(manifest["anger_calibration"])
        model._build(labels)
        if model.encoder_fingerprint != manifest["encoder_fingerprint"]:
            raise EncoderMismatchError(
                f"The model in {directory} was trained on encoder "
                f"{manifest['encoder']['model_name_or_path']!r} (fingerprint "
                f"{manifest['encoder_fingerprint']}), but "
                f"{encoder_settings.model_name_or_path!r} has different weights (fingerprint "
                f"{model.encoder_fingerprint}). Load it with the encoder it was trained on, or "
                "retrain."
            )
        assert model._model is not None
        try:
            adapter = load_file(directory / ADAPTER_FILE)
            set_peft_model_state_dict(model._model.encoder, adapter)
            heads = load_file(directory / HEADS_FILE)
            for name, empty in model._model.heads.state_dict().items():
                if empty.numel() == 0:  # a head without outputs (a model saved before signals)
                    heads.setdefault(name, empty)
            model._model.heads.load_state_dict(heads)
            model._adapter_state = adapter
        except (OSError, RuntimeError, ValueError, SafetensorError) as error:
            raise ModelFilesError(f"Cannot read trained weights in {directory}: {error}") from error
        model._model.eval()
        return model


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ModelFilesError(
            f"No trained lingodesk model at {directory} ({MANIFEST} missing)."
        ) from error
    except (OSError, ValueError) as error:
        raise ModelFilesError(f"Unreadable {path}: {error}") from error
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFilesError(
            f"{path} has format version {manifest.get('format_version')!r}; this lingodesk "
            f"reads version {FORMAT_VERSION}. Retrain the model."
        )
    return manifest


def _detached(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone().contiguous() for name, tensor in state.items()}
