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


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.translate("la casa"), "sources: expected a list of sentences, got str"),
        (lambda t: list(t.translate_stream("la casa")), "for one sentence pass \\[text\\]"),
        (lambda t: t.translate(["la casa", None]), "sources: item 1 is NoneType"),
        (lambda t: t.translate([5]), "sources: item 0 is int 5, not a sentence"),
        (lambda t: t.translate(["un"], constraints=["a"]), "constraints: item 0 is str"),
        (lambda t: t.translate(["un"], constraints=[[1]]), "constraints of source 0: item 0"),
        (lambda t: t.translate(["caf\udce9"]), "sources: item 0: not valid Unicode text"),
        (lambda t: t.translate(["un"], constraints=[["\ud800"]]), "not valid Unicode text"),
    ],
    ids=["str", "str-stream", "none", "int", "str-phrases", "int-phrase", "surrogate", "phrase"],
)
def test_wrong_input_types_are_named_instead_of_translated_piecewise(
    call: object, message: str
) -> None:
    # A str is a sequence of one-character strs: taken for a list it would be translated
    # (and constrained) character by character. A lone surrogate breaks every tokenizer.
    with pytest.raises(InputError, match=message):
        call(tiny_translator())  # type: ignore[operator]


def test_search_values_out_of_range_are_refused_before_decoding() -> None:
    translator = tiny_translator()
    for option, value in [
        ("length_penalty", float("inf")),
        ("length_penalty", 11.0),
        ("coverage_penalty", 1e39),
        ("temperature", float("inf")),
        ("min_len_ratio", float("inf")),
        ("max_len_ratio", float("nan")),
        ("seed", 2**64),
        ("seed", -1),
    ]:
        with pytest.raises(InputError, match=f"search: {option}"):
            translator.translate(["un perro"], **{option: value})


@pytest.mark.parametrize("beam_size", [1, 3])
def test_candidates_carry_attention_only_when_asked_for(beam_size: int) -> None:
    translator = tiny_translator(beam_size=beam_size)
    plain = translator.translate(SOURCES)
    with_attention = translator.translate(SOURCES, return_attention=True)
    for without, with_ in zip(plain, with_attention, strict=True):
        best, best_with = without.candidates[0], with_.candidates[0]
        assert (best.text, best.score) == (best_with.text, best_with.score)
        assert best.attention is None
        assert best_with.attention is not None
        assert best_with.attention.shape == (
            len(best_with.token_log_probs),
            len(with_.source_tokens) + 1,
        )
