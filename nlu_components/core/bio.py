"""BIO tags over words <-> entity spans over characters."""

from __future__ import annotations

from collections.abc import Sequence

from nlu_components.core.examples import EntitySpan

OUTSIDE = "O"


def tag_names(labels: Sequence[str]) -> list[str]:
    """The tag inventory for entity labels: ``O`` first, then ``B-x``/``I-x`` per label."""
    tags = [OUTSIDE]
    for label in sorted(set(labels)):
        tags += [f"B-{label}", f"I-{label}"]
    return tags


def spans_to_tags(words: Sequence[tuple[int, int]], entities: Sequence[EntitySpan]) -> list[str]:
    """Tag each word with the entity it overlaps.

    A word belongs to an entity when their character ranges overlap, so an annotation that
    starts or ends inside a word (``#LD-123456`` annotated without the ``#``) still labels it.
    """
    tags = [OUTSIDE] * len(words)
    for entity in sorted(entities, key=lambda span: span.start):
        inside = [
            index
            for index, (start, end) in enumerate(words)
            if start < entity.end and end > entity.start and tags[index] == OUTSIDE
        ]
        for position, index in enumerate(inside):
            tags[index] = ("B-" if position == 0 else "I-") + entity.label
    return tags


def tags_to_spans(
    words: Sequence[tuple[int, int]],
    tags: Sequence[str],
    confidences: Sequence[float] | None = None,
) -> list[EntitySpan]:
    """Decode BIO tags into character spans.

    Lenient the way seqeval is: an ``I-x`` that does not continue an ``x`` starts a new
    entity, so a model that misses a ``B-`` still yields the span. Confidence is the mean
    of the words' tag probabilities.
    """
    spans: list[EntitySpan] = []
    label: str | None = None
    first = last = 0
    scores: list[float] = []

    def close() -> None:
        if label is not None:
            confidence = sum(scores) / len(scores) if scores else 1.0
            spans.append(EntitySpan.from_label(words[first][0], words[last][1], label, confidence))

    for index, tag in enumerate(tags):
        prefix, _, tag_label = tag.partition("-")
        continues = prefix == "I" and tag_label == label
        if continues:
            last = index
        else:
            close()
            label = tag_label if prefix in ("B", "I") else None
            first = last = index
            scores = []
        if label is not None and confidences is not None:
            scores.append(float(confidences[index]))
    close()
    return spans
