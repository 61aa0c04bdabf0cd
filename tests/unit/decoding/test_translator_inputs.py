"""The Translator over inputs: a long stream is read lazily and comes out in input order, and
search settings that break a rule across keys say so in one line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tiny_translator import SOURCES, tiny_translator

from seq2seq.errors import InputError


def test_stream_keeps_order_and_equals_translating_the_list() -> None:
    translator = tiny_translator()
    sources = [SOURCES[i % len(SOURCES)] + " " + SOURCES[(i * 3) % len(SOURCES)] for i in range(17)]
    streamed = list(translator.translate_stream(iter(sources), chunk_size=4, beam_size=2))
    whole = translator.translate(sources, beam_size=2)
    assert [t.source for t in streamed] == sources
    assert [t.text for t in streamed] == [t.text for t in whole]


def test_stream_holds_one_chunk_of_input_at_a_time() -> None:
    """The first output appears after reading one chunk, not the whole (endless) input."""
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        while True:
            pulled += 1
            yield SOURCES[pulled % len(SOURCES)]

    stream = tiny_translator().translate_stream(endless(), chunk_size=5, beam_size=1)
    first = next(stream)
    assert first.source == SOURCES[1]
    assert pulled == 5


def test_a_rule_across_search_keys_names_them_without_a_placeholder_key() -> None:
    with pytest.raises(InputError) as caught:
        tiny_translator().translate(SOURCES, beam_size=2, n_best=3)
    message = str(caught.value)
    assert message.startswith("search: n_best (3) must be <= beam_size (2)")
    assert "top level" not in message
