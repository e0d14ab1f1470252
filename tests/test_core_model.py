"""The framework-free multitask model on the tiny fixture encoder."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from nlu_components.core.examples import EntitySpan, Example
from nlu_components.core.nlu import EncoderMismatchError, ModelFilesError, MultitaskNLU
from nlu_components.core.predictor import CACHE_KEEP_MODELS
from nlu_components.core.settings import (
    EncoderSettings,
    LoraSettings,
    ServingSettings,
    TrainingSettings,
)


def _span(text: str, surface: str, entity: str) -> EntitySpan:
    start = text.index(surface)
    return EntitySpan(start, start + len(surface), entity)


def _examples() -> list[Example]:
    rows = [
        ("where is my order LD-123456", "order_status", "neutral", [("LD-123456", "order_number")]),
        (
            "wo ist meine Bestellung LD-654321",
            "order_status",
            "neutral",
            [("LD-654321", "order_number")],
        ),
        ("I want to return the red shoes", "return_item", "neutral", [("red", "colour")]),
        ("ich möchte die rote Jacke zurückgeben", "return_item", "neutral", [("rote", "colour")]),
        ("my parcel arrived damaged and I am furious", "complaint", "negative", []),
        ("c'est inadmissible", "complaint", "negative", []),
        ("thank you so much, great service!", "thanks", "positive", []),
        ("红色的鞋子太小了", "return_item", None, [("红色", "colour")]),
    ]
    examples = [
        Example(
            text, intent=intent, sentiment=sentiment, entities=[_span(text, s, e) for s, e in spans]
        )
        for text, intent, sentiment, spans in rows
    ]
    examples[-1].words = [(0, 2), (2, 3), (3, 5), (5, 8)]  # what a Chinese word tokenizer gives
    return examples


def _model(
    encoder_dir: Path,
    backend: str = "torch",
    epochs: int = 30,
    frozen_bottom_fraction: float = 0.0,
    head_warmup_epochs: int = 0,
    text_prefix: str = "",
) -> MultitaskNLU:
    return MultitaskNLU(
        EncoderSettings(model_name_or_path=str(encoder_dir), text_prefix=text_prefix),
        LoraSettings(rank=4, alpha=8, frozen_bottom_fraction=frozen_bottom_fraction),
        # A random tiny encoder learns slowly: high learning rates, no smoothing.
        TrainingSettings(
            epochs=epochs,
            batch_size=4,
            learning_rate=1e-2,
            head_learning_rate=0.1,
            label_smoothing=0.0,
            head_warmup_epochs=head_warmup_epochs,
            progress_bar=False,
        ),
        ServingSettings(backend=backend),
    )


@pytest.fixture(scope="module")
def trained(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    model = _model(tiny_encoder_dir)
    report = model.fit(_examples())
    directory = tmp_path_factory.mktemp("trained")
    model.save(directory)
    return model, report, directory


def test_training_reduces_every_tasks_loss(trained):
    _, report, _ = trained
    first, last = report.epoch_losses[0], report.epoch_losses[-1]
    assert set(first) == {"intent", "sentiment", "entities"}
    for task in first:
        assert last[task] < first[task] * 0.8, (task, first[task], last[task])


def test_it_fits_its_training_data(trained):
    model, _, _ = trained
    examples = _examples()
    predictions = model.predict([e.text for e in examples], [e.words for e in examples])
    correct = sum(p.intent == e.intent for p, e in zip(predictions, examples))
    assert correct >= len(examples) - 1


def test_saved_artifacts_are_only_what_was_trained(trained, tiny_encoder_dir: Path):
    _, _, directory = trained
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["adapter.safetensors", "heads.safetensors", "lingodesk_nlu.json"]
    encoder_bytes = sum(p.stat().st_size for p in tiny_encoder_dir.glob("*.safetensors"))
    saved_bytes = sum(p.stat().st_size for p in directory.iterdir())
    assert saved_bytes < encoder_bytes  # the encoder itself is never copied
    manifest = json.loads((directory / "lingodesk_nlu.json").read_text())
    assert manifest["encoder"]["model_name_or_path"] == str(tiny_encoder_dir)
    assert manifest["labels"]["intents"] == ["complaint", "order_status", "return_item", "thanks"]


def test_save_load_round_trips_predictions_exactly(trained):
    model, _, directory = trained
    texts = ["where is my order LD-999999", "红色的鞋子", "ich bin wütend", ""]
    before = model.predict(texts)
    loaded = MultitaskNLU.load(directory, ServingSettings(backend="torch"))
    after = loaded.predict(texts)
    assert before == after


def test_a_model_is_served_with_the_text_prefix_it_was_trained_with(
    tiny_encoder_dir: Path, tmp_path: Path
):
    model = _model(tiny_encoder_dir, epochs=2, text_prefix="query: ")
    model.fit(_examples())
    model.save(tmp_path)
    texts = ["where is my order LD-999999", "红色的鞋子"]
    loaded = MultitaskNLU.load(tmp_path, ServingSettings(backend="torch"))
    assert loaded.encoder_settings.text_prefix == "query: "  # not the tiny encoder's default
    assert loaded.predict(texts) == model.predict(texts)
    # ...and the prefix reaches the encoder: served without it, the same weights answer
    # differently, so the equality above is not one of a prefix both sides ignore.
    unprefixed = MultitaskNLU.load(
        tmp_path, ServingSettings(backend="torch"), encoder_overrides={"text_prefix": ""}
    )
    assert unprefixed.predict(texts) != model.predict(texts)


def test_entity_spans_are_exact_characters_in_cjk_and_accented_text(trained):
    model, _, _ = trained
    texts = ["ich möchte die rote Jacke zurückgeben", "红色的鞋子太小了"]
    words = [
        [(0, 3), (4, 10), (11, 14), (15, 19), (20, 25), (26, 37)],
        [(0, 2), (2, 3), (3, 5), (5, 8)],
    ]
    for text, prediction in zip(texts, model.predict(texts, words)):
        for span in prediction.entities:
            assert span.start in {s for s, _ in words[texts.index(text)]}
            assert text[span.start : span.end].strip() == text[span.start : span.end]
    german, chinese = model.predict(texts, words)
    assert [(texts[0][s.start : s.end], s.entity) for s in german.entities] == [("rote", "colour")]
    assert [(texts[1][s.start : s.end], s.entity) for s in chinese.entities] == [("红色", "colour")]


def test_examples_without_sentiment_or_entity_labels_train(tiny_encoder_dir: Path):
    examples = [
        Example("hello", intent="greet", sentiment=None, entities=None),
        Example("bye", intent="goodbye", sentiment=None, entities=None),
        Example("I am furious", intent="complaint", sentiment="negative", entities=None),
    ]
    report = _model(tiny_encoder_dir, epochs=2).fit(examples)
    assert "sentiment" in report.epoch_losses[0]
    assert "entities" not in report.epoch_losses[0]  # nothing annotated: masked out entirely


def test_training_is_deterministic(tiny_encoder_dir: Path):
    texts = ["where is my order", "thank you"]
    first = _model(tiny_encoder_dir, epochs=2)
    first.fit(_examples())
    second = _model(tiny_encoder_dir, epochs=2)
    second.fit(_examples())
    assert first.predict(texts) == second.predict(texts)


def test_loading_against_a_different_encoder_is_refused(trained, tmp_path: Path):
    from tests.tiny_models import build_tiny_encoder

    _, _, directory = trained
    other = build_tiny_encoder(tmp_path / "other-encoder", hidden_size=32, seed=1)
    with pytest.raises(EncoderMismatchError, match="different weights"):
        MultitaskNLU.load(directory, encoder_overrides={"model_name_or_path": str(other)})


def test_missing_or_corrupt_files_give_clear_errors(trained, tmp_path: Path):
    _, _, directory = trained
    with pytest.raises(ModelFilesError, match=r"lingodesk_nlu\.json missing"):
        MultitaskNLU.load(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(directory, broken)
    (broken / "adapter.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFilesError, match="Cannot read trained weights"):
        MultitaskNLU.load(broken, ServingSettings(backend="torch"))


def test_onnx_int8_serving_agrees_with_torch(trained):
    _, _, directory = trained
    texts = [e.text for e in _examples()]
    torch_model = MultitaskNLU.load(directory, ServingSettings(backend="torch"))
    onnx_model = MultitaskNLU.load(directory, ServingSettings(backend="onnx-int8"))
    assert onnx_model.predictor.backend == "onnx-int8"
    torch_predictions = torch_model.predict(texts)
    onnx_predictions = onnx_model.predict(texts)
    agree = sum(a.intent == b.intent for a, b in zip(torch_predictions, onnx_predictions))
    assert agree >= len(texts) - 1
    for a, b in zip(torch_predictions, onnx_predictions):
        assert abs(a.intent_confidence - b.intent_confidence) < 0.1


def test_the_export_cache_keeps_one_int8_file_per_recent_model(trained, tmp_path: Path):
    _, _, directory = trained
    cache = tmp_path / "cache"
    stale = []
    for age in range(CACHE_KEEP_MODELS):  # older exports, of other trained models
        stale.append(cache / f"{age:032x}-opset17-bertfused-int8pc-fp32ff1.onnx")
        stale[-1].parent.mkdir(exist_ok=True)
        stale[-1].write_bytes(b"")
        os.utime(stale[-1], (1_000_000 + age, 1_000_000 + age))

    model = MultitaskNLU.load(directory, ServingSettings(backend="onnx-int8", cache_dir=str(cache)))
    assert model.predictor.backend == "onnx-int8"

    # The fp32 export was only a step towards int8; of the older models the oldest went.
    kept = sorted(p.name for p in cache.glob("*.onnx"))
    assert len(kept) == CACHE_KEEP_MODELS
    assert stale[0].name not in kept and all(p.name in kept for p in stale[1:])
    assert all("int8" in name for name in kept)


def test_huge_and_empty_inputs_cost_the_same_bounded_work(trained):
    model, _, _ = trained
    huge = "where is my order " * 10_000
    predictions = model.predict([huge, "", "😡😡😡"])
    assert len(predictions) == 3
    assert all(
        p.intent in {"complaint", "order_status", "return_item", "thanks"} for p in predictions
    )


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_a_model_can_learn_sentiment_alone(tiny_encoder_dir: Path, backend: str):
    examples = [
        Example("I am furious", sentiment="negative", entities=None),
        Example("thank you so much", sentiment="positive", entities=None),
    ]
    model = _model(tiny_encoder_dir, backend=backend, epochs=2)
    report = model.fit(examples)
    assert set(report.epoch_losses[0]) == {"sentiment"}
    # The empty intent head must not push serving off ONNX onto the torch fallback.
    assert model.predictor.backend == backend
    (prediction,) = model.predict(["thanks"])
    assert prediction.intent is None and prediction.intent_ranking == []
    assert prediction.sentiment in {"negative", "neutral", "positive"}


def test_the_bottom_layers_can_be_left_without_adapters(tiny_encoder_dir: Path, tmp_path: Path):
    model = _model(tiny_encoder_dir, epochs=1, frozen_bottom_fraction=0.5)  # 1 of the 2 layers
    model.fit(_examples())
    model.save(tmp_path)

    adapted_layers = {name.split("layer.")[1].split(".")[0] for name in model._adapter_state}
    assert adapted_layers == {"1"}
    loaded = MultitaskNLU.load(tmp_path, ServingSettings(backend="torch"))
    texts = [e.text for e in _examples()]
    assert [p.intent for p in loaded.predict(texts)] == [p.intent for p in model.predict(texts)]


def test_head_warm_up_trains_the_heads_and_leaves_the_encoder_alone(tiny_encoder_dir: Path):
    examples = _examples()
    untrained = _model(tiny_encoder_dir, epochs=0)
    untrained.fit(examples)
    warmed = _model(tiny_encoder_dir, epochs=0, head_warmup_epochs=40)
    warmed.fit(examples)

    # LoRA's B matrices start at zero: still zero, so the encoder computes what it did.
    assert all(not value.any() for name, value in warmed._adapter_state.items() if "lora_B" in name)

    # The heads learned from the frozen features: the training intents became likelier (a
    # random tiny encoder's pooled vectors are nearly alike, so not all become right).
    def intent_loss(model: MultitaskNLU) -> float:
        predictions = model.predict([e.text for e in examples])
        return -sum(
            math.log(dict(p.intent_ranking)[e.intent]) for p, e in zip(predictions, examples)
        ) / len(examples)

    assert intent_loss(warmed) < 0.85 * intent_loss(untrained)


def _signal_examples() -> list[Example]:
    rows = [
        ("where is my order LD-123456", "order_status", {"anger": 0.0, "wants_human": 0.0}),
        ("wo ist meine Bestellung", "order_status", {"anger": 0.0, "wants_human": 0.0}),
        ("THIS IS A DISGRACE, third time I write!!!", "complaint", {"anger": 1.0}),
        ("das ist eine Frechheit!!! niemand hilft mir", "complaint", {"anger": 1.0}),
        ("I want to talk to a person please", "request_human", {"anger": 0.0, "wants_human": 1.0}),
        ("ich möchte mit einem Menschen sprechen", "request_human", {"wants_human": 1.0}),
        ("my parcel is late", "complaint", {"anger": 0.0, "threat": 0.0}),
        ("I will call my lawyer and my bank", "complaint", {"anger": 1.0, "threat": 1.0}),
    ]
    return [Example(text, intent=intent, signals=signals) for text, intent, signals in rows]


def test_the_signals_head_learns_anger_requests_and_threats(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    model = _model(tiny_encoder_dir)
    report = model.fit(_signal_examples())
    assert model.labels.signals == ["anger", "wants_human", "threat"]
    assert report.epoch_losses[-1]["signals"] < report.epoch_losses[0]["signals"]
    texts = [e.text for e in _signal_examples()]
    predictions = model.predict(texts)
    assert all(set(p.signals) == {"anger", "wants_human", "threat"} for p in predictions)
    assert all(0.0 <= v <= 1.0 for p in predictions for v in p.signals.values())
    anger = [p.signals["anger"] for p in predictions]
    assert min(anger[2], anger[3], anger[7]) > max(anger[0], anger[1], anger[6])
    assert predictions[4].signals["wants_human"] > predictions[0].signals["wants_human"]
    model.save(tmp_path)
    torch_model = MultitaskNLU.load(tmp_path, ServingSettings(backend="torch"))
    onnx_model = MultitaskNLU.load(tmp_path, ServingSettings(backend="onnx-int8"))
    assert [p.signals for p in torch_model.predict(texts)] == [p.signals for p in predictions]
    for a, b in zip(predictions, onnx_model.predict(texts)):
        assert all(abs(a.signals[k] - b.signals[k]) < 0.15 for k in a.signals)


def test_a_model_saved_before_the_signals_head_loads_without_signals(
    trained, tmp_path: Path
) -> None:
    from safetensors.torch import load_file, save_file

    model, _, directory = trained
    old = tmp_path / "old"
    shutil.copytree(directory, old)
    heads = load_file(old / "heads.safetensors")
    save_file(
        {k: v for k, v in heads.items() if not k.startswith("signals.")}, old / "heads.safetensors"
    )
    manifest = json.loads((old / "lingodesk_nlu.json").read_text())
    del manifest["labels"]["signals"]
    (old / "lingodesk_nlu.json").write_text(json.dumps(manifest))
    loaded = MultitaskNLU.load(old, ServingSettings(backend="torch"))
    prediction = loaded.predict(["where is my order LD-123456"])[0]
    assert prediction.signals == {}
    assert prediction.intent == model.predict(["where is my order LD-123456"])[0].intent
