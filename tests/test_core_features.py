"""Word-to-sub-token alignment with a SentencePiece-style tokenizer (XLM-R's and e5's kind),
which the tiny WordPiece fixture cannot show."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

from nlu_components.core.features import encode_batch


@pytest.fixture(scope="module")
def sentencepiece_tokenizer() -> PreTrainedTokenizerFast:
    # No "▁明日" piece: a text starting with 明日 gets a lone "▁" first, as XLM-R's does.
    pieces = ["<unk>", "<s>", "</s>", "<pad>", "▁", "明日", "の", "天気", "▁hello", "▁東京"]
    backend = Tokenizer(models.Unigram([(piece, -1.0) for piece in pieces], unk_id=0))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.post_processor = TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )


@pytest.mark.parametrize("prefix", ["", "query: "])
def test_a_word_is_read_from_its_own_piece_not_a_boundary_marker(
    sentencepiece_tokenizer: PreTrainedTokenizerFast, prefix: str
):
    text = "明日の天気 東京"
    words = [(0, 2), (2, 3), (3, 5), (6, 8)]
    encoded = encode_batch(sentencepiece_tokenizer, [text], [words], prefix, 32, 2000)
    tokens = sentencepiece_tokenizer.convert_ids_to_tokens(encoded.input_ids[0].tolist())
    assert "▁" in tokens  # the marker the first word must not be read from
    assert [tokens[p] for p in encoded.word_positions[0]] == ["明日", "の", "天気", "▁東京"]
