"""BIO encoding and decoding between word tags and character spans."""

from nlu_components.core.bio import spans_to_tags, tag_names, tags_to_spans
from nlu_components.core.examples import EntitySpan, whitespace_words


def test_tag_inventory_has_outside_first_and_both_prefixes():
    assert tag_names(["product", "colour", "product"]) == [
        "O",
        "B-colour",
        "I-colour",
        "B-product",
        "I-product",
    ]


def test_round_trip_multi_word_entity_and_role():
    text = "ship to New York from Berlin"
    words = whitespace_words(text)
    entities = [
        EntitySpan(8, 16, "city", role="destination"),
        EntitySpan(22, 28, "city", role="origin"),
    ]
    tags = spans_to_tags(words, entities)
    assert tags == ["O", "O", "B-city@destination", "I-city@destination", "O", "B-city@origin"]
    decoded = tags_to_spans(words, tags)
    assert [(text[s.start : s.end], s.entity, s.role) for s in decoded] == [
        ("New York", "city", "destination"),
        ("Berlin", "city", "origin"),
    ]


def test_annotation_inside_a_word_labels_the_whole_word():
    text = "order #LD-123456 please"
    words = whitespace_words(text)
    assert spans_to_tags(words, [EntitySpan(7, 16, "order_number")]) == [
        "O",
        "B-order_number",
        "O",
    ]


def test_stray_inside_tag_starts_an_entity_and_confidence_is_the_mean():
    words = [(0, 3), (4, 7), (8, 11)]
    spans = tags_to_spans(words, ["O", "I-product", "I-product"], [0.9, 0.8, 0.6])
    assert len(spans) == 1
    assert (spans[0].start, spans[0].end, spans[0].entity) == (4, 11, "product")
    assert abs(spans[0].confidence - 0.7) < 1e-9


def test_adjacent_entities_of_different_types_stay_apart():
    words = [(0, 1), (2, 3)]
    spans = tags_to_spans(words, ["B-size", "B-colour"])
    assert [(s.start, s.end, s.entity) for s in spans] == [(0, 1, "size"), (2, 3, "colour")]
