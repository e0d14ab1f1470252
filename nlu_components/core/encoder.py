"""Loading a pretrained encoder by Hugging Face name or local path, and fingerprinting it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from nlu_components.core.settings import EncoderSettings

# Written beside a converted encoder by nlu_components.assets: how that encoder wants to be read.
ENCODER_INFO_FILE = "lingodesk_encoder.json"


class EncoderNotFoundError(RuntimeError):
    """The configured encoder cannot be loaded."""


@dataclass
class LoadedEncoder:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    pooling: str
    text_prefix: str


def load_encoder(settings: EncoderSettings) -> LoadedEncoder:
    """Load encoder weights (fp32, CPU) and its fast tokenizer.

    Works with any Hugging Face model name (where a hub is reachable) or local directory.
    Pooling and text prefix come from the settings, else from the directory's
    ``lingodesk_encoder.json``, else CLS pooling and no prefix (what BERT-style models expect).
    """
    name = settings.model_name_or_path
    info = _encoder_info(name)
    # A per-tensor progress bar on every Rasa start and test is noise, not information.
    transformers_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, use_fast=True)
        model = AutoModel.from_pretrained(name, dtype=torch.float32, add_pooling_layer=False)
    except OSError as error:
        hint = (
            "Run `scripts/setup` (or `python -m nlu_components.assets`) to build the offline "
            "encoder into models/."
            if name.startswith("models/")
            else "Check the name, or that the Hugging Face hub is reachable."
        )
        raise EncoderNotFoundError(f"Cannot load encoder {name!r}: {error}. {hint}") from error
    if not tokenizer.is_fast:
        raise EncoderNotFoundError(
            f"Encoder {name!r} has no fast tokenizer; lingodesk needs character offsets."
        )
    model.eval()
    return LoadedEncoder(
        model=model,
        tokenizer=tokenizer,
        pooling=settings.pooling or info.get("pooling", "cls"),
        text_prefix=settings.text_prefix
        if settings.text_prefix is not None
        else info.get("query_prefix", ""),
    )


def _encoder_info(name_or_path: str) -> dict:
    path = Path(name_or_path) / ENCODER_INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def fingerprint(model: torch.nn.Module) -> str:
    """A stable hash of a model's weights, cheap enough to compute at every load.

    Hashes every parameter's name and shape plus a strided sample of its values: any two
    differently trained encoders differ there, and it takes milliseconds instead of the
    seconds needed to hash 470 MB.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1).to(torch.float32)
        step = max(1, flat.numel() // 4096)
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(flat[::step].numpy().tobytes())
    return digest.hexdigest()[:32]
