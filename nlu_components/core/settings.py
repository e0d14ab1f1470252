"""Configuration of the multitask model, as dataclasses whose fields document themselves.

Every field maps 1:1 to a key of the Rasa component's config (see
``MultitaskTransformerNLU.get_default_config``), so what a user writes in config.yml is what
the core receives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class EncoderSettings:
    """Which pretrained encoder to fine-tune and how to read it."""

    # Hugging Face model name or local directory. The offline default is built by
    # `python -m nlu_components.assets`; `bert-base-multilingual-cased` works where a hub is
    # reachable.
    model_name_or_path: str = "models/multilingual-e5-small"
    # "mean" (masked mean of the last layer: what e5 was trained with) or "cls".
    # None: read from the encoder directory's lingodesk_encoder.json, else "cls".
    pooling: str | None = None
    # Prepended to every text. None: from lingodesk_encoder.json (e5: "query: "), else "".
    # Without e5's prefix a message is a fifth fewer tokens (0.54 instead of 0.67 GFLOP) and
    # xSID zero-shot scored the same, but the shipped assistant lost 1.8 points of intent
    # accuracy and 2.1 of entity F1, so "" is an option, not the default.
    text_prefix: str | None = None
    # Sub-word tokens fed to the encoder; longer input is truncated (and text is capped at
    # max_chars before tokenizing, so a 100k-character message costs the same as a short one).
    max_length: int = 128
    max_chars: int = 2000


@dataclass
class LoraSettings:
    """LoRA adapters on the encoder's linear layers (peft).

    Defaults measured on xSID zero-shot with e5-small (docs/benchmarks.md): rank 16 on all
    attention and feed-forward projections beat rank 8 on query/value only.

    ``frozen_bottom_fraction`` trades languages seen in training against unseen ones. Trained
    on English alone (xSID, 300 sentences, 30 epochs), leaving the bottom third of the layers
    without adapters raised the mean intent accuracy over 12 unseen languages from 0.840 to
    0.857 at the same slot F1 (0.640 / 0.639): the lower layers keep the pretrained
    cross-lingual alignment that zero-shot transfer relies on. Trained on the shipped
    assistant's 8 languages (8 epochs) the same setting lowered held-out intent accuracy from
    0.871 to 0.852 and entity F1 from 0.879 to 0.856, so the default tunes every layer; set
    1/3 when training data is (nearly) all in one language.
    """

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.1
    # Module-name suffixes that get adapters ("dense" covers the attention output and both
    # feed-forward layers of BERT).
    target_modules: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])
    # Share of the encoder's layers, from the bottom, left without adapters (rounded down:
    # 1/3 of 12 is 4). 0 tunes every layer.
    frozen_bottom_fraction: float = 0.0


@dataclass
class TrainingSettings:
    """The multi-task training loop."""

    epochs: int = 20
    batch_size: int = 16
    # Batch texts of similar length together (batching.epoch_batches): the padding a random
    # batch carries made 61 % of the shipped assistant's training tokens.
    group_by_length: bool = True
    learning_rate: float = 5e-4  # LoRA adapters
    head_learning_rate: float = 2e-3  # task heads start from scratch and learn faster
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # linear warm-up, then linear decay to zero
    label_smoothing: float = 0.1
    # Epochs of training the heads alone on the frozen encoder's outputs before fine-tuning
    # (linear probing, then fine-tuning; see trainer._warm_up_heads). 0: fine-tune from
    # randomly initialised heads. 10 raised xSID zero-shot from 0.857 / 0.639 to 0.878 / 0.665
    # (intent accuracy / slot F1) and Banking77 from 0.906 to 0.922 (docs/benchmarks.md).
    head_warmup_epochs: int = 10
    # Relative weight of each task's loss.
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"intent": 1.0, "sentiment": 0.5, "entities": 1.0}
    )
    # "balanced": inverse-sqrt-frequency class weights per task; "none": plain cross-entropy.
    class_weighting: str = "balanced"
    # A held-out slice for early stopping, used only when there are at least
    # `min_examples_for_validation` examples.
    validation_fraction: float = 0.1
    min_examples_for_validation: int = 500
    early_stopping_patience: int = 3
    dropout: float = 0.1  # before the heads
    seed: int = 42
    num_threads: int | None = None  # torch threads while training; None leaves torch's default
    progress_bar: bool = True  # a tqdm bar with the running losses, when stderr is a terminal


@dataclass
class ServingSettings:
    """How predictions are computed after training or loading."""

    # "onnx-int8": ONNX Runtime with dynamic int8 quantization (fastest on CPU);
    # "onnx": ONNX Runtime fp32; "torch": the merged PyTorch model (always available, and
    # the fallback when ONNX export fails).
    backend: str = "onnx-int8"
    num_threads: int = 1
    batch_size: int = 32
    # In the int8 model, how many layers keep their feed-forward output projection in fp32:
    # the ones where int8 rounding moves the encoder's output most, measured at export. On
    # e5-small 1 (the fifth layer) removed 44 % of the intent-logit error (mean squared error
    # 0.032 -> 0.018) for 0.09 ms per message; 0 quantizes everything.
    int8_fp32_feedforward_layers: int = 1
    # Where exported ONNX files are cached (keyed by a fingerprint of the trained weights).
    # None: $LINGODESK_CACHE_DIR or ~/.cache/lingodesk.
    cache_dir: str | None = None


# Flat config keys (as in Rasa's config.yml) -> the dataclass they configure. LoRA and serving
# keys carry a prefix because their field names would otherwise clash with training's.
_FLAT_PREFIXES: tuple[tuple[type, str], ...] = (
    (EncoderSettings, ""),
    (LoraSettings, "lora_"),
    (TrainingSettings, ""),
    (ServingSettings, "serving_"),
)


def flat_defaults() -> dict[str, Any]:
    """Every setting as a flat ``{key: default}`` dict, for a component's default config."""
    return {
        prefix + name: value
        for cls, prefix in _FLAT_PREFIXES
        for name, value in asdict(cls()).items()
    }


def from_flat_config(
    config: dict[str, Any],
) -> tuple[EncoderSettings, LoraSettings, TrainingSettings, ServingSettings]:
    """Split a flat config (unknown keys ignored: they belong to the caller) into settings."""
    built = []
    for cls, prefix in _FLAT_PREFIXES:
        values = {f.name: config[prefix + f.name] for f in fields(cls) if prefix + f.name in config}
        built.append(cls(**values))
    encoder, lora, training, serving = built
    return encoder, lora, training, serving


def settings_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Build a settings dataclass from a dict, refusing unknown keys with a clear message."""
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(
            f"Unknown {cls.__name__} option(s) {sorted(unknown)}; known: {sorted(known)}"
        )
    return cls(**values)


def settings_to_dict(settings: Any) -> dict[str, Any]:
    """Inverse of :func:`settings_from_dict`."""
    return asdict(settings)
