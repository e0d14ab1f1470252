"""`lingodesk evaluate` and the metrics it shares with the benchmarks: hand-computed cases for
each metric, and the command end to end on a tiny Rasa model trained with the shipped
pipeline in two languages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from evaluation.metrics import (
    calibration,
    character_tags,
    entity_scores,
    intent_scores,
    label_scores,
)
from evaluation.records import Annotation, Record, short_message
from evaluation.report import build_report, write_report
from nlu_components.core.examples import EntitySpan
from tests.conftest import REPO_ROOT


# -- metrics, against numbers worked out by hand ----------------------------------------------
def test_calibration_matches_the_hand_computed_ece_and_threshold_table():
    # Bins 9, 8, 3, 1: gaps |1-.95|, |0-.85|, |1-.35|, |0-.15|, each a quarter of the messages.
    result = calibration([0.95, 0.85, 0.35, 0.15], [True, False, True, False])
    assert result["ece"] == pytest.approx((0.05 + 0.85 + 0.65 + 0.15) / 4)
    assert [b["count"] for b in result["bins"]] == [0, 1, 0, 1, 0, 0, 0, 0, 1, 1]
    at_half = next(t for t in result["thresholds"] if t["threshold"] == 0.5)
    # 0.95 and 0.85 answered (one right), 0.15 caught as one of the two wrong ones.
    assert at_half == {"threshold": 0.5, "coverage": 0.5, "accuracy": 0.5, "errors_caught": 0.5}


def test_entity_spans_must_match_exactly_per_type():
    text = "order LD-123456 to Köln pls"
    gold = [EntitySpan(6, 15, "order_number"), EntitySpan(19, 23, "city")]
    predicted = [
        EntitySpan(6, 15, "order_number", confidence=0.9),  # exact: a hit
        EntitySpan(19, 22, "city"),  # "Köl": one character short, a miss
        EntitySpan(24, 27, "product"),  # not in gold: a false positive
    ]
    scores = entity_scores([text], [gold], [predicted])
    assert scores["per_type"]["order_number"] == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1,
    }  # fmt: skip
    assert scores["per_type"]["city"]["f1"] == 0.0
    assert scores["per_type"]["product"]["precision"] == 0.0
    # 1 of 3 predicted spans right, 1 of 2 gold spans found.
    assert scores["micro"]["precision"] == pytest.approx(1 / 3)
    assert scores["micro"]["recall"] == pytest.approx(1 / 2)
    assert scores["micro"]["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_character_tags_score_unspaced_text_exactly():
    text = "我的订单LD-551204到哪里了"
    assert character_tags(text, [EntitySpan(4, 13, "order_number")])[3:6] == [
        "O", "B-order_number", "I-order_number",
    ]  # fmt: skip
    one_short = entity_scores(
        [text], [[EntitySpan(4, 13, "order_number")]], [[EntitySpan(4, 12, "order_number")]]
    )
    assert one_short["micro"]["f1"] == 0.0


def test_label_scores_confusion_and_negative_recall():
    gold = ["negative", "negative", "neutral", "positive"]
    predicted = ["negative", "neutral", "neutral", "positive"]
    scores = label_scores(gold, predicted, ("negative", "neutral", "positive"))
    assert scores["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert scores["per_label"]["negative"]["recall"] == 0.5
    assert scores["accuracy"] == 0.75
    # F1: negative 2/3, neutral 2/3, positive 1.
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_intent_macro_f1_is_over_the_gold_classes():
    scores = intent_scores(["a", "a", "b"], ["a", "c", "b"])
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)  # a: P 1, R 1/2; b: 1


def test_short_messages_are_two_words_or_four_characters():
    assert short_message("wo ist meine Bestellung", "de") == "wo ist"
    assert short_message("我的 订单在哪里", "zh") == "我的订单"


def _record(
    text: str, group: str, gold_intent: str, intent: str, confidence: float, lid: str, short: str
) -> Record:
    """A record whose gold language is its group, with language ID ``lid`` on the whole text
    and ``short`` on its short message."""
    gold = Annotation(intent=gold_intent, language=group)
    predicted = Annotation(intent, confidence, language=lid, short_language=short)
    return Record(text, group, gold, predicted)


def test_report_breaks_scores_down_per_language_and_marks_zero_shot(tmp_path: Path):
    records = [
        _record("where is my order", "en", "order_status", "order_status", 0.9, "en", "en"),
        _record("i want a refund", "en", "refund_status", "refund_status", 0.8, "en", "en"),
        _record("dov'è il mio ordine", "it", "order_status", "refund_status", 0.7, "it", "es"),
        _record("voglio un rimborso", "it", "refund_status", "refund_status", 0.4, "it", "it"),
    ]
    report = build_report(records, trained_languages={"en"})
    assert list(report["per_language"]) == ["en", "it"]
    english, italian = report["per_language"]["en"], report["per_language"]["it"]
    assert (english["zero_shot"], italian["zero_shot"]) == (False, True)
    assert english["intent"]["accuracy"] == 1.0
    assert italian["intent"]["accuracy"] == 0.5
    assert report["overall"]["intent"]["accuracy"] == 0.75
    assert italian["language_id"] == {"accuracy": 1.0, "short_accuracy": 0.5, "examples": 2}
    assert italian["sentiment"] is None and italian["entities"] is None  # not in this data
    [confusion] = report["worst_confusions"]
    assert (confusion["gold"], confusion["predicted"], confusion["count"]) == (
        "order_status", "refund_status", 1,
    )  # fmt: skip
    assert confusion["examples"][0]["text"] == "dov'è il mio ordine"

    files = write_report(report, tmp_path / "report")
    names = {f.name for f in files}
    assert {"report.json", "report.md", "per_language.png", "reliability.png"} <= names
    assert "sentiment_confusion.png" not in names  # no sentiment in this data: no empty plot
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| it | 2 | yes | 0.500 |" in markdown


def _anger_record(gold_level: str, score: float, level: str, raw: float = 0.0) -> Record:
    gold = Annotation(anger={"calm": 0.0, "frustrated": 0.5, "angry": 1.0}[gold_level])
    predicted = Annotation(anger=score, anger_level=level, uncalibrated_anger=raw)
    return Record("x", "es", gold, predicted)


def test_anger_is_scored_at_both_levels_routing_acts_on() -> None:
    """AUROC from the scores, precision and recall from the levels the parse result gave."""
    records = [
        _anger_record("calm", 0.1, "calm"),
        _anger_record("calm", 0.5, "frustrated"),  # a false alarm, scored above a true one
        _anger_record("frustrated", 0.45, "frustrated"),
        _anger_record("frustrated", 0.3, "calm"),  # missed
        _anger_record("angry", 0.9, "angry"),
        _anger_record("angry", 0.6, "frustrated"),  # upset found, angry missed
    ]
    anger = build_report(records)["per_language"]["es"]["anger"]
    upset, angry = anger["upset"], anger["angry"]
    # upset: positives scored 0.45, 0.3, 0.9, 0.6 against calm 0.1, 0.5: 6 of 8 pairs ordered.
    assert upset["auroc"] == pytest.approx(6 / 8)
    assert (upset["precision"], upset["recall"]) == (pytest.approx(3 / 4), pytest.approx(3 / 4))
    # angry: 0.9, 0.6 against the other four (max 0.5): every pair ordered.
    assert angry["auroc"] == 1.0
    assert (angry["precision"], angry["recall"]) == (1.0, 0.5)


def test_anger_before_calibration_is_the_raw_score_at_the_default_thresholds() -> None:
    records = [
        _anger_record("calm", 0.1, "calm", raw=0.5),  # raw: frustrated (0.4), a false alarm
        _anger_record("angry", 0.9, "angry", raw=0.6),  # raw: frustrated, angry missed
        _anger_record("angry", 0.8, "angry", raw=0.8),
    ]
    section = build_report(records)["per_language"]["es"]
    before, after = section["anger_uncalibrated"], section["anger"]
    assert (before["angry"]["recall"], after["angry"]["recall"]) == (0.5, 1.0)
    assert (before["upset"]["precision"], after["upset"]["precision"]) == (
        pytest.approx(2 / 3), 1.0,
    )  # fmt: skip


def test_gold_anger_reads_labels_and_counts_unlabelled_calm_messages_calm(tmp_path: Path):
    from evaluation.rasa_data import gold_records

    path = tmp_path / "es.yml"
    path.write_text(
        'version: "3.1"\nnlu:\n- intent: complaint\n  examples:\n'
        "  - text: 'estoy harto'\n    metadata: {sentiment: negative, anger: angry}\n"
        "  - text: 'llego tarde'\n    metadata: {sentiment: negative}\n"
        "  - text: 'todo bien'\n    metadata: {sentiment: positive}\n",
        encoding="utf-8",
    )
    assert [r.gold.anger for r in gold_records(path)] == [1.0, None, 0.0]


# -- the command ------------------------------------------------------------------------------
def test_xsid_files_are_read_with_spans_and_the_parent_language(tmp_path: Path):
    from evaluation.test_data import load_test_data

    conll = tmp_path / "de-ba.valid.conll"
    conll.write_text(
        "# text = weck mi um 7 auf\n# intent = alarm/set_alarm\n"
        "1\tweck\talarm/set_alarm\tO\n2\tmi\talarm/set_alarm\tO\n"
        "3\tum\talarm/set_alarm\tB-datetime\n4\t7\talarm/set_alarm\tI-datetime\n"
        "5\tauf\talarm/set_alarm\tO\n\n",
        encoding="utf-8",
    )
    [record] = load_test_data([tmp_path])
    assert (record.language, record.gold.language) == ("de-ba", "de")
    assert record.gold.intent == "alarm/set_alarm"
    [span] = record.gold.entities or ()
    assert (record.text[span.start : span.end], span.entity) == ("um 7", "datetime")


def test_evaluate_without_a_model_says_what_to_do(tmp_path: Path, capsys):
    from bot.cli import main

    code = main(["--project", str(tmp_path), "evaluate", "--data", str(tmp_path)])
    assert code == 1
    assert "rasa train" in capsys.readouterr().err


# -- the command, end to end ------------------------------------------------------------------
TRAINING = {
    "en": {
        "order_status": [
            "where is my order [LD-123456](order_number)",
            "where is my parcel",
            "order status pls",
            "has my order [LD-654321](order_number) shipped",
        ],
        "thanks": ["thank you so much", "thanks!", "great service, thanks", "thank you"],
    },
    "de": {
        "order_status": [
            "wo ist meine Bestellung [LD-123456](order_number)",
            "wo ist mein Paket",
            "Status meiner Bestellung bitte",
            "ist [LD-654321](order_number) schon verschickt",
        ],
        "thanks": ["danke schön", "vielen Dank", "danke, super Service", "danke!"],
    },
}
TEST = {
    "en": [("order_status", "where is order [LD-111222](order_number)?", "neutral"),
           ("thanks", "thank you, great service", "positive")],
    "de": [("order_status", "wo ist Bestellung [LD-111222](order_number)?", "negative"),
           ("thanks", "danke für die Hilfe", "positive")],
    "it": [("thanks", "grazie mille", "positive")],
}  # fmt: skip


def _write_nlu(
    path: Path, intents: dict[str, list[tuple[str, str | None]]], regex: bool = False
) -> None:
    """A Rasa NLU file; ``regex`` adds the order-number pattern (once per training set)."""
    lines = ['version: "3.1"', "nlu:"]
    for intent, examples in intents.items():
        lines += [f"- intent: {intent}", "  examples:"]
        for text, sentiment in examples:
            lines.append(f"  - text: '{text}'")
            if sentiment:
                lines.append(f"    metadata: {{sentiment: {sentiment}}}")
    if regex:
        lines += ["- regex: order_number", "  examples: |", "    - (?<![A-Za-z0-9])LD-\\d{6}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def tiny_rasa_model(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped NLU pipeline with the tiny encoder, trained on 16 examples in en and de."""
    from rasa.model_training import train_nlu

    from tests.test_rasa_pipeline_e2e import shipped_config_with

    workdir = tmp_path_factory.mktemp("evaluate-model")
    for lang, intents in TRAINING.items():
        (workdir / "nlu").mkdir(exist_ok=True)
        sentiment = {"order_status": "neutral", "thanks": "positive"}
        _write_nlu(
            workdir / "nlu" / f"{lang}.yml",
            {i: [(t, sentiment[i]) for t in texts] for i, texts in intents.items()},
            regex=lang == "en",
        )
    config = shipped_config_with(tiny_encoder_dir, workdir / "config.yml")
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    here = Path.cwd()
    os.chdir(REPO_ROOT)  # the language detector's model path is relative to the project
    try:
        model = train_nlu(str(config), str(workdir / "nlu"), str(workdir / "models"), "tiny")
    finally:
        os.chdir(here)
    assert model, "rasa train nlu produced no model"
    return Path(model)


@pytest.mark.e2e
@pytest.mark.skipif(
    not (REPO_ROOT / "models" / "lid.176.ftz").is_file(),
    reason="models/lid.176.ftz is absent: run scripts/setup",
)
def test_evaluate_command_writes_a_consistent_report(tiny_rasa_model: Path, tmp_path: Path):
    from bot.cli import main

    test_dir = tmp_path / "heldout"
    test_dir.mkdir()
    for lang, examples in TEST.items():
        intents: dict[str, list[tuple[str, str | None]]] = {}
        for intent, text, sentiment in examples:
            intents.setdefault(intent, []).append((text, sentiment))
        _write_nlu(test_dir / f"{lang}.yml", intents)
    out = tmp_path / "report"

    code = main(
        [
            "evaluate", "--model", str(tiny_rasa_model.parent), "--data", str(test_dir),
            "--out", str(out), "--train-data", str(tiny_rasa_model.parent.parent / "nlu"),
        ]
    )  # fmt: skip

    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["examples"] == 5
    languages = report["per_language"]
    assert list(languages) == ["de", "en", "it"]  # trained first, then zero-shot
    assert [languages[lang]["zero_shot"] for lang in languages] == [False, False, True]
    # Overall accuracy is the example-weighted mean of the per-language accuracies.
    weighted = sum(s["intent"]["accuracy"] * s["examples"] for s in languages.values()) / 5
    assert report["overall"]["intent"]["accuracy"] == pytest.approx(weighted)
    # The regex extractor finds the order number exactly, in both languages.
    for lang in ("en", "de"):
        scores = languages[lang]["entities"]["per_type"]["order_number"]
        assert scores["recall"] == 1.0
    assert report["overall"]["sentiment"]["examples"] == 5
    assert languages["de"]["language_id"]["accuracy"] == 1.0  # full sentences are easy
    assert 0.0 <= report["calibration"]["ece"] <= 1.0
    assert sum(b["count"] for b in report["calibration"]["bins"]) == 5
    for name in report["plots"]:
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG"
    assert {"intent_confusion.png", "sentiment_confusion.png", "entity_f1.png"} <= set(
        report["plots"]
    )
    markdown = (out / "report.md").read_text()
    assert "| it | 1 | yes |" in markdown
    assert "![reliability.png](reliability.png)" in markdown
