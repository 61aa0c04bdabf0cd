"""Per-sentence extended ids for copy models, and the toy task that needs them."""

from __future__ import annotations

import pytest

from seq2seq.config import TokenizerConfig, ToyConfig
from seq2seq.data.builtin import corpus_files
from seq2seq.data.copy_vocab import (
    decode_copy_target,
    decode_extended,
    encode_copy_example,
    extend_source,
    extend_target,
)
from seq2seq.data.corpus import Pair, read_pairs
from seq2seq.data.pipeline import TextCodec
from seq2seq.data.vocab import Vocab

VOCAB = Vocab(["<pad>", "<unk>", "<s>", "</s>", "a", "b"])  # size 6


def test_oov_source_tokens_get_extended_ids_in_order_of_first_appearance() -> None:
    ids, oovs = extend_source(["x", "a", "y", "x", "b"], VOCAB)
    assert ids == [6, 4, 7, 6, 5]
    assert oovs == ["x", "y"]


def test_target_oovs_take_their_sources_id_or_unk() -> None:
    assert extend_target(["y", "a", "z", "x"], VOCAB, ["x", "y"]) == [7, 4, 1, 6]


def test_extended_ids_decode_back_to_the_copied_strings() -> None:
    tokens = ["pkg-foo", "a", "libbar", "b", "pkg-foo"]
    ids, oovs = extend_source(tokens, VOCAB)
    assert decode_extended([*ids, VOCAB.eos_id, 4], VOCAB, oovs) == tokens  # stops at EOS
    assert decode_extended([VOCAB.bos_id, 6, VOCAB.pad_id], VOCAB, oovs) == ["pkg-foo"]


def test_an_extended_id_beyond_the_sentences_oovs_is_an_index_error() -> None:
    with pytest.raises(IndexError, match="token id 8 is beyond the vocabulary"):
        decode_extended([8], VOCAB, ["x", "y"])


def test_a_copied_oov_round_trips_through_the_codec() -> None:
    pairs = [Pair("a b", "a b", "train:1")]
    codec = TextCodec.build(pairs, TokenizerConfig(kind="word", joint=True))
    src, tgt = encode_copy_example(codec, Pair("a debhelper b", "debhelper a", "dev:1"))
    size = len(codec.src_vocab)
    assert src[1] == size and tgt[0] == size  # the same extended id on both sides
    text, tokens = decode_copy_target(codec, tgt, ["debhelper"])
    assert text == "debhelper a" and tokens == ["debhelper", "a"]


def test_toy_copy_unseen_holds_unseen_symbols_in_dev_and_test_only() -> None:
    cfg = ToyConfig(num_train=300, num_valid=40, num_test=40, num_symbols=6, seed=5)
    splits = {k: read_pairs(v) for k, v in corpus_files("toy-copy-unseen", cfg).items()}
    symbols = {k: {int(s) for p in pairs for s in p.src.split()} for k, pairs in splits.items()}
    assert symbols["train"] <= set(range(6))
    for split in ("dev", "test"):
        assert all(p.src == p.tgt for p in splits[split])
        assert all(any(int(s) >= 6 for s in p.src.split()) for p in splits[split])
        assert symbols[split] <= set(range(12))
