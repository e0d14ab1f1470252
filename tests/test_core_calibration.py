"""Anger calibration per language (#32): one threshold means the same in every language.

The maps on hand-made scores, then fitted inside MultitaskNLU.fit on the validation slice the
training held out, saved and loaded with the model, applied by language at prediction."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nlu_components.core.calibration import (
    IDENTITY,
    MIN_LANGUAGE_EXAMPLES,
    AngerCalibration,
    fit_anger_calibration,
)
from nlu_components.core.examples import ANGER, Example, anger_level
from nlu_components.core.nlu import MultitaskNLU
from nlu_components.core.settings import (
    EncoderSettings,
    LoraSettings,
    ServingSettings,
    TrainingSettings,
)

LEVELS = {"calm": 0.0, "frustrated": 0.5, "angry": 1.0}


def _tuning_set(language: str, spread: dict[str, float], n: int = 10, seed: int = 0):
    """``n`` examples per level whose raw scores sit around ``spread[level]``."""
    rng = random.Random(seed)
    rows = [
        (min(max(spread[level] + rng.uniform(-0.05, 0.05), 0.01), 0.99), target, language)
        for level, target in LEVELS.items()
        for _ in range(n)
    ]
    return [list(column) for column in zip(*rows)]


def test_a_language_whose_head_scores_low_is_lifted_onto_the_shared_scale() -> None:
    """The head scores Japanese anger timidly (angry around 0.55, under the 0.75 threshold),
    Spanish as labelled: after calibration an angry Japanese message is "angry" and a calm
    one "calm", and Spanish keeps its levels."""
    ja = _tuning_set("ja", {"calm": 0.1, "frustrated": 0.3, "angry": 0.55})
    es = _tuning_set("es", {"calm": 0.1, "frustrated": 0.5, "angry": 0.9}, seed=1)
    calibration = fit_anger_calibration(*(a + b for a, b in zip(ja, es)))

    assert set(calibration.per_language) == {"ja", "es"}
    assert anger_level(0.55) == "frustrated"  # what the raw score would route as
    assert anger_level(calibration.apply(0.55, "ja")) == "angry"
    assert 0.35 < calibration.apply(0.30, "ja") < 0.65  # frustrated: 0.5 on the shared scale
    assert anger_level(calibration.apply(0.10, "ja")) == "calm"
    for raw, level in ((0.9, "angry"), (0.5, "frustrated"), (0.1, "calm")):
        assert anger_level(calibration.apply(raw, "es")) == level


def test_the_map_keeps_the_order_of_scores_within_a_language() -> None:
    calibration = fit_anger_calibration(
        *_tuning_set("de", {"calm": 0.2, "frustrated": 0.4, "angry": 0.6})
    )
    raw = [i / 20 for i in range(1, 20)]
    calibrated = [calibration.apply(score, "de") for score in raw]
    assert calibrated == sorted(calibrated)


def test_a_language_with_too_few_examples_uses_the_shared_map() -> None:
    scores, targets, languages = _tuning_set("fr", {"calm": 0.1, "frustrated": 0.5, "angry": 0.9})
    few = MIN_LANGUAGE_EXAMPLES - 1
    calibration = fit_anger_calibration(
        scores + [0.2] * few, targets + [0.0] * few, languages + ["pt"] * few
    )
    assert "pt" not in calibration.per_language
    assert calibration.apply(0.6, "pt") == calibration.apply(0.6, None)
    assert calibration.apply(0.6, "pt") == calibration.apply(0.6, "zz")


def test_calibration_round_trips_and_an_empty_fit_changes_nothing() -> None:
    calibration = fit_anger_calibration(
        *_tuning_set("ar", {"calm": 0.2, "frustrated": 0.35, "angry": 0.5})
    )
    again = AngerCalibration.from_dict(calibration.to_dict())
    assert again.apply(0.42, "ar") == pytest.approx(calibration.apply(0.42, "ar"))
    assert fit_anger_calibration([], [], []).shared == IDENTITY
    assert AngerCalibration().apply(0.42, "ar") == pytest.approx(0.42)


def test_fit_calibrates_on_the_held_out_slice_and_the_model_keeps_it(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    """With a validation slice, fit() leaves a calibration fitted on it; predictions carry
    the head's own score beside the calibrated one, and save/load keeps the maps."""
    texts = [
        ("where is my order", "calm", "en"), ("THIS IS A DISGRACE!!!", "angry", "en"),
        ("still nothing, great service", "frustrated", "en"),
        ("wo ist meine Bestellung", "calm", "de"),
        ("eine Frechheit!!! niemand hilft", "angry", "de"),
        ("immer noch nichts", "frustrated", "de"),
    ]  # fmt: skip
    examples = [
        Example(
            f"{text} {i}",
            intent="complaint" if level != "calm" else "order_status",
            sentiment="negative" if level != "calm" else "neutral",
            signals={ANGER: LEVELS[level]},
            language=language,
        )
        for i in range(12)
        for text, level, language in texts
    ]
    model = MultitaskNLU(
        EncoderSettings(model_name_or_path=str(tiny_encoder_dir), text_prefix=""),
        LoraSettings(rank=4, alpha=8),
        TrainingSettings(
            epochs=2, batch_size=8, head_warmup_epochs=0, progress_bar=False,
            validation_fraction=0.4, min_examples_for_validation=10,
        ),
        ServingSettings(backend="torch"),
    )  # fmt: skip
    model.fit(examples)
    assert model.anger_calibration is not None
    [prediction] = model.predict(["THIS IS A DISGRACE!!! 3"], languages=["en"])
    raw = prediction.uncalibrated_anger
    assert raw is not None
    assert prediction.signals[ANGER] == pytest.approx(model.anger_calibration.apply(raw, "en"))

    model.save(tmp_path / "model")
    loaded = MultitaskNLU.load(tmp_path / "model", ServingSettings(backend="torch"))
    assert loaded.anger_calibration == model.anger_calibration
    [again] = loaded.predict(["THIS IS A DISGRACE!!! 3"], languages=["en"])
    assert again.signals[ANGER] == pytest.approx(prediction.signals[ANGER], abs=1e-5)
