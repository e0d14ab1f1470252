"""Serving: the trained model with LoRA merged into the weights, on ONNX Runtime or torch.

At serving time there are no adapters: ``merge_and_unload`` folds them into the encoder's
linear layers, so a prediction costs exactly one plain encoder pass. On CPU the merged model
is exported to ONNX and (by default) dynamically quantized to int8, which is several times
faster than eager PyTorch; the export is cached on disk by a fingerprint of the weights, so a
server restart reuses it. When export fails the torch path serves instead, with a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nlu_components.core.bio import tags_to_spans
from nlu_components.core.encoder import LoadedEncoder, fingerprint
from nlu_components.core.examples import NLUPrediction
from nlu_components.core.features import encode_batch
from nlu_components.core.network import MultitaskNetwork
from nlu_components.core.onnx_export import (
    EXPORT_VERSION,
    OUTPUT_NAMES,
    export_onnx,
    quantize_int8,
)
from nlu_components.core.settings import EncoderSettings, ServingSettings
from nlu_components.core.trainer import LabelMaps

logger = logging.getLogger(__name__)

BACKENDS = ("onnx-int8", "onnx", "torch")
# Exported models kept in the cache (several servers or benchmarks may share one cache).
CACHE_KEEP_MODELS = 4


def prune_cache(cache: Path, keep: int) -> None:
    """Delete the exports of all but the ``keep`` most recently used trained models.

    Every retrained model gets new files (they are keyed by its weights), so without pruning
    the cache grows by one export per training. A server still running an older model loses
    nothing: ONNX Runtime has read the file, and a restart exports it again.
    """
    by_model: dict[str, list[Path]] = {}
    for path in cache.glob("*.onnx"):
        by_model.setdefault(path.name.split("-", 1)[0], []).append(path)
    newest_first = sorted(
        by_model.values(), key=lambda paths: max(p.stat().st_mtime for p in paths), reverse=True
    )
    for paths in newest_first[keep:]:
        for path in paths:
            path.unlink(missing_ok=True)


def default_cache_dir() -> Path:
    return Path(os.environ.get("LINGODESK_CACHE_DIR", Path.home() / ".cache" / "lingodesk"))


def _continue_shared_pieces(tags: list[str], positions: list[int]) -> list[str]:
    """Words that share one sub-token (two CJK characters in one SentencePiece piece) got the
    same predicted tag; the later ones continue the entity instead of starting a new one."""
    result = list(tags)
    for index in range(1, len(result)):
        if positions[index] == positions[index - 1] and result[index].startswith("B-"):
            result[index] = "I-" + result[index][2:]
    return result


def _softmax(logits: np.ndarray) -> np.ndarray:
    if logits.shape[-1] == 0:  # a head without classes (model trained without intents)
        return logits
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class Predictor:
    """Batched predictions from a merged :class:`MultitaskNetwork`."""

    def __init__(
        self,
        model: MultitaskNetwork,
        encoder: LoadedEncoder,
        labels: LabelMaps,
        encoder_settings: EncoderSettings,
        serving: ServingSettings,
    ) -> None:
        if serving.backend not in BACKENDS:
            raise ValueError(f"serving backend must be one of {BACKENDS}, got {serving.backend!r}")
        self.model = model.eval()
        self.encoder = encoder
        self.labels = labels
        self.encoder_settings = encoder_settings
        self.serving = serving
        self.backend = "torch"
        self._session = None
        head_sizes = (
            len(labels.intents),
            model.heads.sentiment.out_features,
            len(labels.tags),
            len(labels.signals),
        )
        self._kept_outputs = [i for i, size in enumerate(head_sizes) if size]
        self._onnx_output_names = [OUTPUT_NAMES[i] for i in self._kept_outputs]
        if serving.backend != "torch":
            try:
                self._session = self._onnx_session()
                self.backend = serving.backend
            except Exception as error:  # export or runtime problems must not take serving down
                logger.warning(
                    "ONNX serving unavailable (%s: %s); serving with PyTorch instead.",
                    type(error).__name__,
                    error,
                )

    # -- ONNX ---------------------------------------------------------------------------------
    def _onnx_session(self):
        import onnxruntime

        cache = Path(self.serving.cache_dir) if self.serving.cache_dir else default_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        key = f"{fingerprint(self.model)}-{EXPORT_VERSION}"
        fp32_path = cache / f"{key}.onnx"
        kept_fp32 = self.serving.int8_fp32_feedforward_layers
        path = (
            cache / f"{key}-int8pc-fp32ff{kept_fp32}.onnx"
            if self.serving.backend == "onnx-int8"
            else fp32_path
        )
        if not path.exists():
            if not fp32_path.exists():
                export_onnx(self.model, self.encoder.tokenizer, self._kept_outputs, fp32_path)
            if path != fp32_path:
                quantize_int8(
                    self.model,
                    self.encoder.tokenizer,
                    self.encoder.text_prefix,
                    fp32_path,
                    path,
                    kept_fp32,
                )
                fp32_path.unlink()  # only a step towards int8 (470 MB for the default encoder)
        with contextlib.suppress(OSError):  # a read-only cache is served as it is
            path.touch()  # last used now: pruning keeps the models in use
            prune_cache(cache, CACHE_KEEP_MODELS)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.serving.num_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    # -- prediction ---------------------------------------------------------------------------
    def _logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[np.ndarray]:
        if self._session is not None:
            kept = self._session.run(
                self._onnx_output_names,
                {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()},
            )
            # A head without classes was not exported: its logits are empty.
            batch, length = input_ids.shape
            logits = [
                np.zeros((batch, 0)),
                np.zeros((batch, 0)),
                np.zeros((batch, length, 0)),
                np.zeros((batch, 0)),
            ]
            for i, values in zip(self._kept_outputs, kept):
                logits[i] = values
            return logits
        with torch.inference_mode():
            return [t.numpy() for t in self.model(input_ids, attention_mask)]

    def predict(
        self, texts: Sequence[str], words: Sequence[Sequence[tuple[int, int]]]
    ) -> list[NLUPrediction]:
        """Predict intent ranking, sentiment and entity spans for each text."""
        predictions: list[NLUPrediction] = []
        size = self.serving.batch_size
        for start in range(0, len(texts), size):
            predictions += self._predict_batch(
                texts[start : start + size], words[start : start + size]
            )
        return predictions

    def _predict_batch(
        self, texts: Sequence[str], words: Sequence[Sequence[tuple[int, int]]]
    ) -> list[NLUPrediction]:
        encoded = encode_batch(
            self.encoder.tokenizer,
            texts,
            words,
            self.encoder.text_prefix,
            self.encoder_settings.max_length,
            self.encoder_settings.max_chars,
        )
        intent_logits, sentiment_logits, tag_logits, signal_logits = self._logits(
            encoded.input_ids, encoded.attention_mask
        )
        signal_probs = 1.0 / (1.0 + np.exp(-signal_logits))
        intent_probs = _softmax(intent_logits)
        sentiment_probs = _softmax(sentiment_logits)
        tag_probs = _softmax(tag_logits)
        results = []
        for row, positions in enumerate(encoded.word_positions):
            order = np.argsort(-intent_probs[row])
            ranking = [(self.labels.intents[i], float(intent_probs[row, i])) for i in order]
            sentiment_index = int(sentiment_probs[row].argmax())
            kept = [(word, p) for word, p in zip(words[row], positions) if p >= 0]
            word_tag_probs = tag_probs[row, [p for _, p in kept]] if kept else np.zeros((0, 1))
            tags = _continue_shared_pieces(
                [self.labels.tags[i] for i in word_tag_probs.argmax(axis=-1)],
                [p for _, p in kept],
            )
            results.append(
                NLUPrediction(
                    intent_ranking=ranking,
                    sentiment=self.labels.sentiments[sentiment_index],
                    sentiment_scores={
                        label: float(sentiment_probs[row, i])
                        for i, label in enumerate(self.labels.sentiments)
                    },
                    entities=tags_to_spans(
                        [word for word, _ in kept], tags, word_tag_probs.max(axis=-1)
                    ),
                    signals={
                        name: float(signal_probs[row, i])
                        for i, name in enumerate(self.labels.signals)
                    },
                )
            )
        return results
