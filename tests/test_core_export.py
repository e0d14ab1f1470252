"""ONNX export and int8 quantization, and the encoder inputs they are fed, on the tiny encoder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
import pytest
import torch
from onnx import numpy_helper
from transformers import AutoTokenizer, BertModel

from nlu_components.core.examples import Example
from nlu_components.core.features import encode_batch
from nlu_components.core.nlu import MultitaskNLU
from nlu_components.core.onnx_export import ClassicBertEncoder, sensitive_feedforward_layers
from nlu_components.core.predictor import Predictor
from nlu_components.core.settings import (
    EncoderSettings,
    LoraSettings,
    ServingSettings,
    TrainingSettings,
)
from tests.tiny_models import CORPUS


@pytest.fixture(scope="module")
def merged(tiny_encoder_dir: Path):
    """A trained tiny model with LoRA merged, as serving sees it."""
    model = MultitaskNLU(
        EncoderSettings(model_name_or_path=str(tiny_encoder_dir)),
        LoraSettings(rank=4, alpha=8),
        TrainingSettings(epochs=2, batch_size=4, learning_rate=1e-2, progress_bar=False),
        ServingSettings(backend="torch"),
    )
    model.fit([Example(text, intent=f"i{i % 3}", entities=None) for i, text in enumerate(CORPUS)])
    return model


def _op_counts(path: Path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def test_the_classic_forward_computes_what_transformers_computes(tiny_encoder_dir: Path):
    bert = BertModel.from_pretrained(tiny_encoder_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    batch = tokenizer(CORPUS[:6], padding=True, return_tensors="pt")  # padded rows included
    with torch.no_grad():
        expected = bert(**batch).last_hidden_state
        classic = ClassicBertEncoder(bert)(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(classic, expected, atol=1e-5, rtol=1e-4)


def _serving(model: MultitaskNLU, backend: str, cache: Path) -> Predictor:
    torch_predictor = model.predictor
    return Predictor(
        torch_predictor.model,
        torch_predictor.encoder,
        torch_predictor.labels,
        torch_predictor.encoder_settings,
        ServingSettings(backend=backend, cache_dir=str(cache)),
    )


def test_the_export_uses_onnx_runtimes_fused_bert_kernels(merged, tmp_path: Path):
    layers = merged.predictor.model.encoder.config.num_hidden_layers
    assert _serving(merged, "onnx", tmp_path).backend == "onnx"
    (exported,) = tmp_path.glob("*.onnx")
    ops = _op_counts(exported)
    assert ops["Attention"] == layers
    assert ops["SkipLayerNormalization"] == 2 * layers
    assert ops["Softmax"] == 0  # no attention left unfused


def test_int8_keeps_the_most_sensitive_projection_in_fp32(merged, tmp_path: Path):
    predictor = merged.predictor
    (sensitive,) = sensitive_feedforward_layers(
        predictor.model, predictor.encoder.tokenizer, predictor.encoder.text_prefix, 1
    )
    assert _serving(merged, "onnx-int8", tmp_path).backend == "onnx-int8"

    (quantized,) = tmp_path.glob("*.onnx")
    graph = onnx.load(str(quantized)).graph
    initializers = {init.name: init for init in graph.initializer}
    fp32_weights = [
        numpy_helper.to_array(initializers[node.input[1]])
        for node in graph.node
        if node.op_type == "MatMul" and node.input[1] in initializers
    ]
    projection = merged.predictor.model.encoder.encoder.layer[sensitive].output.dense.weight
    layers = merged.predictor.model.encoder.config.num_hidden_layers
    assert any(
        w.shape == projection.T.shape and (w == projection.detach().T.numpy()).all()
        for w in fp32_weights
    )
    ops = _op_counts(quantized)
    assert ops["QAttention"] == layers
    # Every other encoder projection is int8: attention output, feed-forward in and out.
    assert ops["MatMulInteger"] >= 3 * layers - 1


@pytest.mark.parametrize("layer", [0, 1])
def test_the_sensitive_layer_is_the_one_whose_inputs_have_an_outlier(
    tiny_encoder_dir: Path, layer: int
):
    """A channel 300x larger than the rest in one layer's feed-forward activations (as real
    encoders have) costs the other channels their int8 resolution there."""
    from nlu_components.core.network import MultitaskNetwork, TaskHeads

    bert = BertModel.from_pretrained(tiny_encoder_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    with torch.no_grad():
        feedforward = bert.encoder.layer[layer]
        feedforward.intermediate.dense.weight[0] *= 300
        feedforward.intermediate.dense.bias[0] = 300
        feedforward.output.dense.weight[:, 0] /= 300
    model = MultitaskNetwork(bert, TaskHeads(bert.config.hidden_size, 2, 3, 0.0), "mean")
    assert sensitive_feedforward_layers(model, tokenizer, "", 1) == [layer]
    assert sensitive_feedforward_layers(model, tokenizer, "", 0) == []


def test_encoder_inputs_are_what_the_transformers_call_gives(tiny_encoder_dir: Path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    texts = [CORPUS[0], "ok", CORPUS[13], " ".join(CORPUS)]  # the last one is truncated
    words = [Example(text).words for text in texts]
    for max_length in (8, 16):
        # The wrapper configures the shared backend differently in between: no influence.
        tokenizer(["x"], padding="max_length", max_length=32, truncation=False)
        encoded = encode_batch(tokenizer, texts, words, "query: ", max_length, 2000)
        expected = tokenizer(
            ["query: " + text for text in texts],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        assert torch.equal(encoded.input_ids, expected["input_ids"])
        assert torch.equal(encoded.attention_mask, expected["attention_mask"])
        assert encoded.input_ids.shape[1] == max_length
