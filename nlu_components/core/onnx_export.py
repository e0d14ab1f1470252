"""Export of the merged model to ONNX Runtime: trace, fuse into ONNX Runtime's BERT kernels,
quantize to int8.

ONNX Runtime's transformer optimizer recognises BERT by the graph that BERT's classic forward
traces to (``QK^T / sqrt(d) + (1 - mask) * -10000``, softmax, ``@ V``) and replaces each
layer's attention with one ``Attention`` kernel (``QAttention`` after int8 quantization).
transformers 5 computes attention through ``scaled_dot_product_attention`` with a boolean-mask
subgraph and a NaN guard that the optimizer does not match, so its trace keeps every attention
as ~25 small operations. For BERT encoders the export therefore traces
:class:`ClassicBertEncoder`, the same weights computed the classic way (equal outputs, tested);
any other architecture (or BERT with relative positions) is traced as transformers computes
it, its attention unfused.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn
from transformers import BertModel, PreTrainedTokenizerBase

from nlu_components.core.network import MultitaskNetwork

logger = logging.getLogger(__name__)

# Part of the export cache's file names: bump it when what export writes changes, so a cache
# never serves a file written by older code.
EXPORT_VERSION = "opset17-bertfused-signals"
OUTPUT_NAMES = ("intent_logits", "sentiment_logits", "tag_logits", "signal_logits")
_OUTPUT_AXES = {
    "intent_logits": {0: "batch"},
    "sentiment_logits": {0: "batch"},
    "tag_logits": {0: "batch", 1: "sequence"},
    "signal_logits": {0: "batch"},
}
# What the optimizer looks for in the mask path (and what BERT used before transformers 5):
# a large negative number added to the scores of padding, not -inf (no NaN on empty rows).
_MASK_VALUE = -10000.0


class ClassicBertEncoder(nn.Module):
    """A :class:`~transformers.BertModel`'s inference forward (no dropout, no cache, absolute
    positions, one segment) over its own weights, written as BERT's reference implementation
    wrote it, so that the ONNX trace has the shape ONNX Runtime's optimizer fuses."""

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.bert = bert
        config = bert.config
        self.heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        embeddings = self.bert.embeddings
        position_ids = embeddings.position_ids[:, : input_ids.shape[1]]
        hidden = (
            embeddings.word_embeddings(input_ids)
            + embeddings.token_type_embeddings(torch.zeros_like(input_ids))
            + embeddings.position_embeddings(position_ids)
        )
        hidden = embeddings.LayerNorm(hidden)
        mask = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(hidden.dtype)) * _MASK_VALUE
        for layer in self.bert.encoder.layer:
            attended = self._attention(layer.attention.self, hidden, mask)
            hidden = layer.attention.output.LayerNorm(
                layer.attention.output.dense(attended) + hidden
            )
            intermediate = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(hidden))
            hidden = layer.output.LayerNorm(layer.output.dense(intermediate) + hidden)
        return hidden

    def _attention(
        self, attention: nn.Module, hidden: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        batch, length, width = hidden.shape

        def split_heads(states: torch.Tensor) -> torch.Tensor:  # [B, T, H*D] -> [B, T, H, D]
            return states.view(batch, length, self.heads, self.head_size)

        query = split_heads(attention.query(hidden)).permute(0, 2, 1, 3)
        key_transposed = split_heads(attention.key(hidden)).permute(0, 2, 3, 1)
        value = split_heads(attention.value(hidden)).permute(0, 2, 1, 3)
        scores = torch.matmul(query, key_transposed) / (self.head_size**0.5) + mask
        context = torch.matmul(scores.softmax(dim=-1), value)
        return context.permute(0, 2, 1, 3).reshape(batch, length, width)


class ExportGraph(nn.Module):
    """What is exported: the multitask model (through :class:`ClassicBertEncoder` for BERT
    encoders), returning only the outputs of heads that have classes. A model trained without
    intents has an intent head without classes, and ONNX Runtime optimizes its zero-size nodes
    away, leaving an output that nothing produces."""

    def __init__(self, model: MultitaskNetwork, kept_outputs: list[int]) -> None:
        super().__init__()
        self.model = model
        self.kept_outputs = kept_outputs
        encoder = model.encoder
        classic_applies = (
            isinstance(encoder, BertModel)
            and getattr(encoder.config, "position_embedding_type", "absolute") == "absolute"
        )
        self.classic = ClassicBertEncoder(encoder) if classic_applies else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple:
        if self.classic is None:
            outputs = self.model(input_ids, attention_mask)
        else:
            states = self.classic(input_ids, attention_mask)
            outputs = self.model.heads(self.model.pool(states, attention_mask), states)
        return tuple(outputs[i] for i in self.kept_outputs)


def export_onnx(
    model: MultitaskNetwork,
    tokenizer: PreTrainedTokenizerBase,
    kept_outputs: list[int],
    path: Path,
) -> None:
    """Trace ``model`` (LoRA merged) to ``path`` and fuse it for ONNX Runtime. The file
    appears only when complete: a crash mid-export leaves no corrupt cache entry."""
    logger.info("Exporting the merged model to ONNX (%s), once per trained model.", path)
    graph = ExportGraph(model, kept_outputs).eval()
    example = tokenizer(["query: hello world"], return_tensors="pt")
    outputs = [OUTPUT_NAMES[i] for i in kept_outputs]
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, warnings.catch_warnings():
        # The tracer warns about shape checks it folds into constants; they hold for every
        # input here (the mask always matches the ids), so the warnings are noise.
        warnings.simplefilter("ignore")
        tmp_path = Path(tmp) / path.name
        torch.onnx.export(
            graph,
            (example["input_ids"], example["attention_mask"]),
            str(tmp_path),
            input_names=["input_ids", "attention_mask"],
            output_names=outputs,
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                **{name: _OUTPUT_AXES[name] for name in outputs},
            },
            opset_version=17,
            dynamo=False,
        )
        _fuse(tmp_path, model.encoder.config)
        os.replace(tmp_path, path)


def _fuse(path: Path, config) -> None:
    """Fuse attention, LayerNorm (with its residual add) and GELU (with its bias) subgraphs
    into ONNX Runtime's BERT kernels: fewer, larger operations."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(path),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    fused = optimized.get_fused_operator_statistics()
    logger.info("ONNX Runtime fusion: %s", {op: n for op, n in fused.items() if n})
    optimized.save_model_to_file(str(path))


# Sentences the int8 sensitivity of each layer is measured on: short support-desk chat in
# several scripts. Which layers are sensitive is a property of the encoder's activation
# outliers, which any text shows: on e5-small, 64 of the shipped assistant's training
# sentences (pretrained weights) and these 12 (the trained assistant's) single out the
# same, fifth layer.
CALIBRATION_TEXTS = (
    "where is my order LD-204981? it was due on Monday",
    "I want to return the shoes, they are too small",
    "this is the third time I write, nobody answers!!!",
    "wo ist meine Bestellung? Ich warte seit zwei Wochen",
    "quiero devolver la chaqueta roja, ¿cómo lo hago?",
    "le colis est arrivé abîmé, je veux un remboursement",
    "onde está o meu pedido? preciso dele amanhã",
    "我的订单三天前就该到了，现在在哪里？",
    "注文した靴のサイズを交換できますか",
    "أريد التحدث مع موظف من فضلك",
    "можно поговорить с оператором?",
    "thanks, that solved it 🙂",
)


def _fake_quantize_uint8(values: torch.Tensor) -> torch.Tensor:
    """``values`` as ONNX Runtime's dynamic quantization sees them: one asymmetric uint8 scale
    for the whole tensor, from its own minimum and maximum (``DynamicQuantizeLinear``)."""
    low, high = min(values.min().item(), 0.0), max(values.max().item(), 0.0)
    scale = (high - low) / 255 or 1.0
    zero_point = round(-low / scale)
    return (torch.clamp(torch.round(values / scale) + zero_point, 0, 255) - zero_point) * scale


def _round_input(_: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return (_fake_quantize_uint8(args[0]),)


def sensitive_feedforward_layers(
    model: MultitaskNetwork, tokenizer: PreTrainedTokenizerBase, text_prefix: str, count: int
) -> list[int]:
    """The ``count`` layers whose feed-forward output projection moves the encoder's output
    most when its input is rounded as int8 serving rounds it (mean squared error of the last
    hidden states on :data:`CALIBRATION_TEXTS`); [] for encoders other than BERT.

    That projection reads GELU outputs, whose range a few outlier channels stretch: rounded to
    256 levels per message, the other channels keep little resolution. In e5-small the fifth
    layer alone causes 44 % of the int8 model's error in intent logits; keeping its
    projection in fp32 costs 0.09 ms per message (docs/benchmarks.md, latency).
    """
    encoder = model.encoder
    if count <= 0 or not isinstance(encoder, BertModel):
        return []
    inputs = [tokenizer([text_prefix + text], return_tensors="pt") for text in CALIBRATION_TEXTS]

    def last_states(rounded_layer: int | None) -> list[torch.Tensor]:
        hooks = []
        if rounded_layer is not None:
            projection = encoder.encoder.layer[rounded_layer].output.dense
            hooks.append(projection.register_forward_pre_hook(_round_input))
        try:
            with torch.inference_mode():
                return [encoder(**batch).last_hidden_state for batch in inputs]
        finally:
            for hook in hooks:
                hook.remove()

    reference = last_states(None)
    errors = []
    for layer in range(len(encoder.encoder.layer)):
        rounded = last_states(layer)
        errors.append(
            sum(float(((a - b) ** 2).mean()) for a, b in zip(rounded, reference)) / len(reference)
        )
    return sorted(sorted(range(len(errors)), key=lambda i: -errors[i])[:count])


def _matmuls_with_weights(path: Path, weights: list[torch.Tensor]) -> list[str]:
    """Names of the MatMul nodes in the ONNX file at ``path`` whose constant right operand is
    one of these ``nn.Linear`` weights (stored transposed)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    if not weights:
        return []
    wanted = [w.detach().T.numpy() for w in weights]
    graph = onnx.load(str(path)).graph
    initializers = {init.name: init for init in graph.initializer}
    names = []
    for node in graph.node:
        init = initializers.get(node.input[1]) if node.op_type == "MatMul" else None
        if init is None or tuple(init.dims) not in {w.shape for w in wanted}:
            continue
        array = numpy_helper.to_array(init)
        if any(np.array_equal(array, w) for w in wanted):
            names.append(node.name)
    return names


def quantize_int8(
    model: MultitaskNetwork,
    tokenizer: PreTrainedTokenizerBase,
    text_prefix: str,
    source: Path,
    target: Path,
    fp32_feedforward_layers: int,
) -> None:
    """Dynamic int8 quantization of the exported ``model`` at ``source`` (weights per output
    channel, activations per call), but for the feed-forward output projections of the
    ``fp32_feedforward_layers`` most sensitive layers; written to ``target`` only when
    complete."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    layers = sensitive_feedforward_layers(model, tokenizer, text_prefix, fp32_feedforward_layers)
    kept = _matmuls_with_weights(
        source, [model.encoder.encoder.layer[i].output.dense.weight for i in layers]
    )
    if layers:
        logger.info("int8 model: feed-forward output of layer(s) %s kept in fp32.", layers)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        tmp_path = Path(tmp) / target.name
        quantize_dynamic(
            str(source),
            str(tmp_path),
            weight_type=QuantType.QInt8,
            # One scale per output channel, not per tensor: -0.67 instead of -0.83 points of
            # xSID intent accuracy against fp32 (benchmarks/latency.py, before attention
            # was fused), same speed.
            per_channel=True,
            nodes_to_exclude=kept,
            # Shape inference cannot type the outputs of ORT's fused contrib ops.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        os.replace(tmp_path, target)
