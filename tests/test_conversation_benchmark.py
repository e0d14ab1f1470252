"""The conversation benchmark (#17): a malformed conversation file is a clear error naming its
place, and the figures count what a support lead asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.conversations import score
from evaluation.conversation_data import (
    Conversation,
    ConversationDataError,
    read_conversations,
)

SERVED = ("en", "es", "de", "fr", "pt", "zh", "ja", "ar")


def test_a_bad_file_names_its_place(tmp_path: Path) -> None:
    (tmp_path / "xx.yml").write_text(
        "language: xx\nconversations:\n  - id: xx-1\n    kind: angry_one\n"
        "    turns: [hello]\n    expect: {handoff: true}\n"
    )
    with pytest.raises(ConversationDataError, match=r"xx.yml\[0\] \(xx-1\).*expect.queue"):
        read_conversations(tmp_path)


def _said(kind: str, handoff: bool, queue: str | None = "agents_es", minimum: str = "high"):
    return Conversation(
        id=f"es-{kind}",
        language="es",
        kind=kind,
        turns=("hola", "otra vez"),
        handoff=handoff,
        queue=queue if handoff else None,
        min_priority=minimum if handoff else None,
    )


def test_the_figures_count_reached_missed_and_false_escalations() -> None:
    conversations = [
        _said("angry_one", True),
        _said("mixed", True),
        _said("explicit", True, minimum="normal"),
        _said("angry_trend", True),
        _said("calm_complaint", False),
        _said("calm_question", False),
    ]
    outcomes = [
        (2, "agents_es", 2),  # angry: reached, high
        (1, "agents_en", 1),  # mixed: reached the wrong queue at normal
        (2, "agents_es", 1),  # explicit: normal is enough
        (None, None, None),  # angry trend: missed
        (None, None, None),  # calm: kept
        (1, "agents_es", 1),  # calm: sent to a human for nothing
    ]
    figures = score(conversations, outcomes)
    assert figures["recall"] == 0.75 and figures["missed"] == ["es-angry_trend"]
    assert figures["false_escalation"] == 0.5
    assert figures["false_escalations"] == ["es-calm_question"]
    assert figures["queue"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["priority"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["anger_priority"] == 0.5  # the angry one at high, the mixed one at normal
    assert figures["turns"] == pytest.approx(5 / 3, abs=0.01)


SHIPPED = Path(__file__).resolve().parents[1] / "data" / "test" / "conversations"
QUOTED = {  # the conversations of issue #17, in the set verbatim
    "es-mixed-01", "en-angry-one-01", "de-angry-one-01", "fr-angry-one-01", "zh-angry-one-01",
    "zh-calm-question-01",
}  # fmt: skip


def test_the_shipped_set_is_large_held_out_and_holds_the_quoted_conversations() -> None:
    import yaml

    conversations = read_conversations(SHIPPED)
    written = {path.stem for path in SHIPPED.glob("*.yml")} & set(SERVED)
    assert written, "no served language has conversations"
    for language in written:
        mine = [c for c in conversations if c.language == language]
        assert len(mine) >= 40, language
        assert {c.kind for c in mine} >= {"angry_one", "explicit", "calm_question"}, language
        assert {q for q in QUOTED if q.startswith(f"{language}-")} <= {c.id for c in mine}
        assert all(c.queue == f"agents_{language}" for c in mine if c.handoff), language
    unserved = [c for c in conversations if c.language not in SERVED]
    for language in ("it", "nl", "pl", "tr", "ru", "ko"):
        assert sum(c.language == language for c in unserved) >= 10, language
    assert all(c.handoff for c in unserved)
    # Nothing here is a training (or NLU test) example.
    examples = set()
    for path in [*(SHIPPED.parents[1] / "nlu").glob("*.yml"), *SHIPPED.parent.glob("*.yml")]:
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in str(block.get("examples", "")).splitlines():
                examples.add(line.lstrip("- ").strip())
    copied = [t for c in conversations for t in c.turns if t.strip() in examples]
    assert not copied, copied


def test_held_out_data_never_makes_a_model_out_of_date(tmp_path: Path) -> None:
    """Editing the conversation set or the NLU test files leaves the trained model current
    (`lingodesk run` would retrain for nothing); editing training data does not."""
    import os

    from bot.training import needs_training

    for name in ("config.yml", "domain.yml", "data/nlu/en.yml", "data/test/conversations/en.yml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    models = tmp_path / "models"
    models.mkdir()
    model = models / "20260101-000000.tar.gz"
    model.write_text("model")
    older = model.stat().st_mtime - 60
    for path in tmp_path.rglob("*.yml"):
        os.utime(path, (older, older))
    assert not needs_training(tmp_path, models)

    newer = model.stat().st_mtime + 60
    os.utime(tmp_path / "data/test/conversations/en.yml", (newer, newer))
    assert not needs_training(tmp_path, models)
    os.utime(tmp_path / "data/nlu/en.yml", (newer, newer))
    assert needs_training(tmp_path, models)
