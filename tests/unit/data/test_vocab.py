"""Vocab: specials, deterministic building, encode/decode and save/load errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq.data.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab
from seq2seq.errors import ModelDirError

SENTENCES = [["b", "a", "c"], ["a", "b"], ["a", "d"], ["e"]]  # a:3 b:2 c:1 d:1 e:1


def test_specials_have_fixed_ids() -> None:
    vocab = Vocab.build(SENTENCES)
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert [vocab.id_to_token(i) for i in range(4)] == [PAD, UNK, BOS, EOS]
    assert all(vocab.token_to_id(tok) == i for i, tok in enumerate(SPECIALS))


def test_build_orders_by_frequency_then_token() -> None:
    vocab = Vocab.build(SENTENCES)
    assert vocab.tokens == [*SPECIALS, "a", "b", "c", "d", "e"]
    assert len(vocab) == 9
    assert "a" in vocab and "z" not in vocab


def test_build_is_independent_of_input_order() -> None:
    assert Vocab.build(SENTENCES) == Vocab.build(list(reversed(SENTENCES)))


def test_build_max_size_counts_specials() -> None:
    vocab = Vocab.build(SENTENCES, max_size=6)
    assert vocab.tokens == [*SPECIALS, "a", "b"]


def test_build_min_freq() -> None:
    assert Vocab.build(SENTENCES, min_freq=2).tokens == [*SPECIALS, "a", "b"]


def test_build_ignores_special_tokens_in_data() -> None:
    vocab = Vocab.build([[UNK, "x", EOS]])
    assert vocab.tokens == [*SPECIALS, "x"]


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"max_size": 3}, "max_size"), ({"min_freq": 0}, "min_freq")]
)
def test_build_rejects_bad_limits(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Vocab.build(SENTENCES, **kwargs)


def test_unknown_tokens_map_to_unk() -> None:
    vocab = Vocab.build(SENTENCES)
    assert vocab.token_to_id("zzz") == vocab.unk_id
    assert vocab.encode(["a", "zzz"]) == [4, vocab.unk_id]


def test_encode_with_bos_eos() -> None:
    vocab = Vocab.build(SENTENCES)
    assert vocab.encode(["a", "b"], add_bos=True, add_eos=True) == [2, 4, 5, 3]
    assert vocab.encode(["a"], add_eos=True) == [4, 3]
    assert vocab.encode([]) == []


def test_decode_stops_at_eos_and_drops_pad_bos() -> None:
    vocab = Vocab.build(SENTENCES)
    assert vocab.decode([2, 4, 0, 1, 5, 3, 6, 0]) == ["a", UNK, "b"]
    assert vocab.decode(vocab.encode(["c", "d"], add_bos=True, add_eos=True)) == ["c", "d"]


def test_id_to_token_out_of_range() -> None:
    with pytest.raises(IndexError, match="99"):
        Vocab.build(SENTENCES).id_to_token(99)


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ([PAD, UNK, BOS], "specials"),
        ([UNK, PAD, BOS, EOS], "specials"),
        ([*SPECIALS, "a", "a"], "duplicate token 'a' at id 5"),
        ([*SPECIALS, "a\nb"], "newline|\\\\n"),
        ([*SPECIALS, ""], "non-empty"),
    ],
)
def test_constructor_validates(tokens: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Vocab(tokens)


def test_build_refuses_newline_tokens() -> None:
    with pytest.raises(ValueError):
        Vocab.build([["ok", "bad\n"]])


def test_save_load_round_trip(tmp_path: Path) -> None:
    vocab = Vocab([*SPECIALS, "niño", "▁", "\r", " ", "\u2028", "\t"])
    path = tmp_path / "vocab.src.txt"
    vocab.save(path)
    assert path.read_text(encoding="utf-8").startswith("<pad>\n<unk>\n<s>\n</s>\nniño\n")
    assert Vocab.load(path) == vocab


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match=r"vocab\.src\.txt: cannot read.*retrain"):
        Vocab.load(tmp_path / "vocab.src.txt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00binary", "not valid UTF-8"),
        (b"a\nb\n", "not a valid vocabulary file"),
        (b"<pad>\n<unk>\n<s>\n</s>\nx\nx\n", "duplicate token 'x'"),
        (b"", "not a valid vocabulary file"),
    ],
)
def test_load_corrupt_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "vocab.tgt.txt"
    path.write_bytes(content)
    with pytest.raises(ModelDirError, match=rf"vocab\.tgt\.txt: .*{message}"):
        Vocab.load(path)
