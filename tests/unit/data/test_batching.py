"""Batching: padding, the teacher-forcing shift, and the deterministic bucket sampler."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.data.batching import Batch, BucketBatchSampler, collate, pad_sequences

PAD, BOS, EOS = 0, 2, 3


def random_lengths(n: int, seed: int = 0, high: int = 40) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, high) for _ in range(n)]


def flat(batches: list[list[int]]) -> list[int]:
    return [index for batch in batches for index in batch]


def padded_size(batch: list[int], lengths: list[int]) -> int:
    return len(batch) * max(lengths[i] for i in batch)


def test_pad_sequences() -> None:
    padded, lengths = pad_sequences([[5, 6, 7], [8], []], pad_id=PAD)
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert lengths.tolist() == [3, 1, 0]
    assert padded.dtype == lengths.dtype == torch.long


def test_pad_sequences_empty() -> None:
    padded, lengths = pad_sequences([], pad_id=PAD)
    assert padded.shape == (0, 0) and lengths.shape == (0,)


def test_collate_shapes_specials_and_padding() -> None:
    batch = collate(
        [([10, 11, 12], [20]), ([13], [21, 22, 23])], pad_id=PAD, bos_id=BOS, eos_id=EOS
    )
    assert len(batch) == 2
    assert batch.src.tolist() == [[10, 11, 12, 3], [13, 3, 0, 0]]
    assert batch.src_lengths.tolist() == [4, 2]
    assert batch.tgt_in.tolist() == [[2, 20, 0, 0], [2, 21, 22, 23]]
    assert batch.tgt_out.tolist() == [[20, 3, 0, 0], [21, 22, 23, 3]]
    assert batch.num_src_tokens == 6
    assert batch.num_tgt_tokens == 6
    assert all(t.dtype == torch.long for t in (batch.src, batch.src_lengths, batch.tgt_in))


@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(4, 50), max_size=8), st.lists(st.integers(4, 50), max_size=8)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_collate_shift_property(examples: list[tuple[list[int], list[int]]]) -> None:
    batch = collate(examples, pad_id=PAD, bos_id=BOS, eos_id=EOS)
    real = batch.tgt_out != PAD  # [batch, tgt_len]
    assert batch.tgt_in.shape == batch.tgt_out.shape
    assert (batch.tgt_in[:, 0] == BOS).all()
    # Position t+1 of the decoder input is what position t had to predict.
    assert torch.equal(batch.tgt_in[:, 1:][real[:, 1:]], batch.tgt_out[:, :-1][real[:, 1:]])
    assert real.sum(dim=1).tolist() == [len(tgt) + 1 for _, tgt in examples]
    assert batch.src_lengths.tolist() == [len(src) + 1 for src, _ in examples]
    assert (batch.src.gather(1, batch.src_lengths[:, None] - 1) == EOS).all()


def test_collate_rejects_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        collate([], pad_id=PAD, bos_id=BOS, eos_id=EOS)


def test_batch_to_keeps_values() -> None:
    batch = collate([([5], [6, 7])], pad_id=PAD, bos_id=BOS, eos_id=EOS)
    moved = batch.to("cpu")
    assert isinstance(moved, Batch) and moved is not batch
    assert torch.equal(moved.tgt_out, batch.tgt_out) and moved.pad_id == batch.pad_id


def test_num_tgt_tokens_uses_pad_id() -> None:
    batch = collate([([5], [0, 7]), ([5], [])], pad_id=9, bos_id=BOS, eos_id=EOS)
    assert batch.tgt_out.tolist() == [[0, 7, 3], [3, 9, 9]]
    assert batch.num_tgt_tokens == 4


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 30), max_size=200),
    batch_size=st.one_of(st.none(), st.integers(1, 16)),
    batch_tokens=st.one_of(st.none(), st.integers(1, 120)),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**31),
    epoch=st.integers(0, 5),
    bucket_factor=st.integers(1, 5),
)
def test_sampler_covers_each_index_once_within_limits(
    lengths: list[int],
    batch_size: int | None,
    batch_tokens: int | None,
    shuffle: bool,
    seed: int,
    epoch: int,
    bucket_factor: int,
) -> None:
    if batch_size is None and batch_tokens is None:
        batch_size = 4
    sampler = BucketBatchSampler(
        lengths,
        batch_size=batch_size,
        batch_tokens=batch_tokens,
        shuffle=shuffle,
        seed=seed,
        bucket_factor=bucket_factor,
    )
    batches = sampler.batches(epoch)
    assert sorted(flat(batches)) == list(range(len(lengths)))
    assert all(batches)
    for batch in batches:
        if batch_size is not None:
            assert len(batch) <= batch_size
        if batch_tokens is not None and len(batch) > 1:
            assert padded_size(batch, lengths) <= batch_tokens
    assert sampler.batches(epoch) == batches


def test_sampler_respects_token_budget_and_fills_batches() -> None:
    lengths = random_lengths(500)
    batches = BucketBatchSampler(lengths, batch_tokens=200, seed=1).batches(0)
    assert all(padded_size(b, lengths) <= 200 for b in batches)
    # Buckets keep padding low: most of the budget holds real tokens.
    real = sum(lengths)
    assert real / sum(padded_size(b, lengths) for b in batches) > 0.8


def test_sampler_overlong_example_gets_its_own_batch() -> None:
    lengths = [3, 50, 3, 3]
    batches = BucketBatchSampler(lengths, batch_tokens=10, shuffle=False).batches(0)
    assert [1] in batches
    assert sorted(flat(batches)) == [0, 1, 2, 3]


def test_sampler_is_deterministic_per_seed_and_epoch() -> None:
    lengths = random_lengths(300)

    def batches(seed: int, epoch: int) -> list[list[int]]:
        return BucketBatchSampler(lengths, batch_size=8, seed=seed).batches(epoch)

    assert batches(0, 3) == batches(0, 3)
    assert batches(0, 0) != batches(0, 1)
    assert batches(0, 0) != batches(1, 0)


def test_sampler_shuffle_false_is_sorted_and_stable() -> None:
    lengths = [5, 2, 9, 2, 5, 1]
    sampler = BucketBatchSampler(lengths, batch_size=2, shuffle=False)
    batches = sampler.batches(0)
    assert batches == [[5, 1], [3, 0], [4, 2]]
    assert sampler.batches(7) == batches


def test_sampler_shuffle_groups_similar_lengths() -> None:
    lengths = random_lengths(2000, high=100)
    batches = BucketBatchSampler(lengths, batch_size=16, bucket_factor=20).batches(0)
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert sum(spread) / len(spread) < 10


def test_sampler_empty_dataset() -> None:
    assert BucketBatchSampler([], batch_tokens=100).batches(0) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "batch_size, batch_tokens or both"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"batch_tokens": -5}, "batch_tokens must be at least 1"),
        ({"batch_size": 4, "bucket_factor": 0}, "bucket_factor"),
    ],
)
def test_sampler_rejects_bad_arguments(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BucketBatchSampler([1, 2, 3], **kwargs)


def test_sampler_rejects_zero_length() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BucketBatchSampler([1, 0], batch_size=2)
