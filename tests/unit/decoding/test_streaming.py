"""``Translator.translate_stream``: a long input is read lazily and comes out in input order."""

from __future__ import annotations

from collections.abc import Iterator

from tiny_translator import SOURCES, tiny_translator


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
