"""Tokenizers: round trips, deterministic sentencepiece training, save/load and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seq2seq.data.tokenizers import (
    SPACE,
    TOKENIZER_KINDS,
    CharTokenizer,
    SentencePieceTokenizer,
    WordTokenizer,
    load_tokenizer,
    train_tokenizer,
)
from seq2seq.errors import ConfigError, DataError, ModelDirError

TEXTS = [
    "El niño comió una manzana roja.",
    "Ça va très bien, merci beaucoup !",
    "The quick brown fox jumps over the lazy dog.",
    "Müller und Söhne fahren über die Brücke.",
    "São Paulo é uma cidade enorme.",
    "Le café est déjà prêt.",
] * 5


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def sp_tokenizer(request: pytest.FixtureRequest) -> SentencePieceTokenizer:
    return SentencePieceTokenizer.train(TEXTS, vocab_size=120, model_type=request.param)


@pytest.mark.parametrize("text", ["hello world", "  two  spaces ", "niño, café déjà", "a\tb", ""])
def test_char_round_trip(text: str) -> None:
    tokenizer = CharTokenizer()
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_char_marks_spaces() -> None:
    assert CharTokenizer().encode("a b") == ["a", SPACE, "b"]


# "<" excluded: special tokens such as "<sep>" are one token (tested in test_fields.py).
@given(st.text(alphabet=st.characters(blacklist_characters=SPACE + "<")))
def test_char_round_trip_property(text: str) -> None:
    tokenizer = CharTokenizer()
    tokens = tokenizer.encode(text)
    assert len(tokens) == len(text)
    assert tokenizer.decode(tokens) == text


@pytest.mark.parametrize("text", ["hello world", "niño comió café", "one"])
def test_word_round_trip(text: str) -> None:
    tokenizer = WordTokenizer()
    assert tokenizer.encode(text) == text.split(" ")
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_word_collapses_whitespace() -> None:
    assert WordTokenizer().encode(" a \t b  ") == ["a", "b"]


@pytest.mark.parametrize("text", [*TEXTS[:6], "the fox and the niño", "déjà vu"])
def test_sentencepiece_round_trip(sp_tokenizer: SentencePieceTokenizer, text: str) -> None:
    tokens = sp_tokenizer.encode(text)
    assert all(isinstance(token, str) for token in tokens)
    assert sp_tokenizer.decode(tokens) == text


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_sentencepiece_training_is_deterministic(model_type: str) -> None:
    first = SentencePieceTokenizer.train(TEXTS, vocab_size=100, model_type=model_type, seed=3)
    second = SentencePieceTokenizer.train(TEXTS, vocab_size=100, model_type=model_type, seed=3)
    assert first.model_proto == second.model_proto
    assert first.encode(TEXTS[0]) == second.encode(TEXTS[0])


def test_sentencepiece_vocab_size_is_a_soft_limit() -> None:
    tokenizer = SentencePieceTokenizer.train(["a tiny corpus"], vocab_size=8000)
    assert 0 < tokenizer.vocab_size < 8000


def test_sentencepiece_save_load(sp_tokenizer: SentencePieceTokenizer, tmp_path: Path) -> None:
    sp_tokenizer.save(tmp_path, "src")
    assert (tmp_path / "src.model").is_file()
    for loaded in (
        SentencePieceTokenizer.load(tmp_path / "src.model"),
        load_tokenizer("sentencepiece", tmp_path, "src"),
    ):
        assert loaded.kind == "sentencepiece"
        for text in TEXTS[:6]:
            assert loaded.encode(text) == sp_tokenizer.encode(text)


@pytest.mark.parametrize("kind", ["char", "word"])
def test_stateless_save_load(kind: str, tmp_path: Path) -> None:
    tokenizer = train_tokenizer(kind, TEXTS)
    tokenizer.save(tmp_path, "tgt")
    loaded = load_tokenizer(kind, tmp_path, "tgt")
    assert loaded.kind == tokenizer.kind == kind
    assert loaded.encode(TEXTS[0]) == tokenizer.encode(TEXTS[0])


def test_train_tokenizer_covers_every_kind() -> None:
    for kind in TOKENIZER_KINDS:
        tokenizer = train_tokenizer(kind, TEXTS, vocab_size=100)
        assert tokenizer.kind == kind
        assert tokenizer.decode(tokenizer.encode(TEXTS[1])) == TEXTS[1]


def test_unknown_kind_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'bytes' is not one of char, word, sentencepiece"):
        train_tokenizer("bytes", TEXTS)
    with pytest.raises(ConfigError, match="bytes"):
        load_tokenizer("bytes", tmp_path, "src")


def test_bad_model_type() -> None:
    with pytest.raises(ConfigError, match="'wordpiece' is not one of unigram, bpe"):
        train_tokenizer("sentencepiece", TEXTS, model_type="wordpiece")


def test_no_training_text() -> None:
    with pytest.raises(DataError, match="no text"):
        SentencePieceTokenizer.train(["", "  "], vocab_size=50)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match=r"src\.model.*retrain"):
        load_tokenizer("sentencepiece", tmp_path, "src")


def test_corrupt_model_file(tmp_path: Path) -> None:
    (tmp_path / "src.model").write_bytes(b"this is not a model")
    with pytest.raises(ModelDirError, match=r"src\.model: not a valid sentencepiece model"):
        load_tokenizer("sentencepiece", tmp_path, "src")
