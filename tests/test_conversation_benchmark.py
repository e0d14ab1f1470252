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
