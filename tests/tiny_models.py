"""A tiny random BERT with a WordPiece tokenizer, so tests never need the real encoder."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

# Enough text in enough scripts that every test sentence tokenizes into real pieces.
CORPUS = [
    "where is my order LD-123456",
    "I want to return the red shoes size 42",
    "my parcel arrived damaged and I am furious",
    "thank you so much, great service!",
    "can I speak to a human agent please",
    "refund of 49.99 EUR to anna@example.com",
    "wo ist meine Bestellung? Ich warte seit Tagen",
    "ich möchte die rote Jacke zurückgeben",
    "dónde está mi pedido, llevo una semana esperando",
    "quiero devolver los zapatos rojos",
    "où est ma commande ? livraison à Paris",
    "je veux un remboursement, c'est inadmissible",
    "onde está meu pedido? entrega em Lisboa",
    "我的订单在哪里？我要退货",
    "红色的鞋子太小了，可以换货吗",
    "注文はどこですか？返品したいです",
    "赤い靴を返品したい",
    "أين طلبي؟ أريد استرداد المبلغ",
    "dov'è il mio ordine? voglio un rimborso",
    "waar is mijn bestelling, ik wil retourneren",
    "gdzie jest moje zamówienie",
    "siparişim nerede, iade etmek istiyorum",
    "hello hi hey good morning bye goodbye thanks yes no ok",
    "0123456789 # @ . , ! ? € $ £ ¥ - _ / : ; ( ) 🙂 😡",
]


def build_tiny_encoder(
    directory: Path, hidden_size: int = 32, layers: int = 2, seed: int = 0
) -> Path:
    """Write a random BertModel + fast WordPiece tokenizer into ``directory``; return it.

    Vocabulary and weights are the same in every process: how well a test model fits depends
    on them (the weights are seeded because the global RNG's state depends on which tests ran
    before).
    """
    directory.mkdir(parents=True, exist_ok=True)
    normalizer = normalizers.BertNormalizer(
        lowercase=False, strip_accents=False, handle_chinese_chars=True
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # The vocabulary is built here, not by tokenizers' WordPieceTrainer, whose choice among
    # equally frequent pieces changes from process to process (and with it every test model).
    words = sorted(
        {
            word
            for text in CORPUS
            for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
        }
    )
    characters = sorted({character for word in words for character in word})
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = special + characters + [f"##{c}" for c in characters]
    pieces += [word for word in words if word not in pieces]
    tokenizer = Tokenizer(
        models.WordPiece({piece: i for i, piece in enumerate(pieces)}, unk_token="[UNK]")
    )
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[
            ("[CLS]", tokenizer.token_to_id("[CLS]")),
            ("[SEP]", tokenizer.token_to_id("[SEP]")),
        ],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(directory)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    return directory
