"""The blocked arg-max and top-k search takes: exactly ``max``/``topk`` over the vocabulary,
ties, -inf and a partial last block included."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.decoding.best_tokens import BLOCK, MIN_BLOCKS, row_max, row_top_k

WIDTHS = [3, 63, MIN_BLOCKS * BLOCK - 1, MIN_BLOCKS * BLOCK, 1100, 8002]


def assert_same_as_max(scores: torch.Tensor) -> None:
    values, indices = row_max(scores)
    want = scores.max(dim=-1)
    assert torch.equal(values, want.values)
    assert torch.equal(indices, want.indices)


def assert_same_as_topk(scores: torch.Tensor, k: int) -> None:
    """Values equal ``topk``'s; the indices are distinct columns holding those values."""
    values, indices = row_top_k(scores, k)
    assert torch.equal(values, scores.topk(k, dim=-1).values)
    assert torch.equal(scores.gather(1, indices), values)
    assert all(len(set(row)) == k for row in indices.tolist())


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 5),
    width=st.sampled_from(WIDTHS),
    levels=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_row_max_equals_max_with_many_ties(rows: int, width: int, levels: int, seed: int) -> None:
    """Few distinct values, so the maximum appears in several blocks of a row."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (rows, width), generator=generator).float()
    assert_same_as_max(scores)


def test_row_max_in_the_partial_last_block_or_only_minus_infinity() -> None:
    width = 20 * BLOCK + 5
    scores = torch.full((3, width), float("-inf"))
    scores[0, width - 1] = 0.0  # the very last column
    scores[1, 7] = scores[1, width - 2] = 1.0  # a tie: the first one wins
    assert_same_as_max(scores)  # row 2: all -inf, column 0
    assert row_max(scores)[1].tolist() == [width - 1, 7, 0]


def test_row_max_of_random_log_probs_of_a_real_vocabulary_size() -> None:
    torch.manual_seed(0)
    assert_same_as_max(torch.log_softmax(torch.randn(128, 8002) * 5, dim=-1))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 5),
    width=st.sampled_from(WIDTHS),
    k=st.integers(1, 12),
    levels=st.integers(1, 50),
    seed=st.integers(0, 2**16),
)
def test_row_top_k_values_equal_topk_with_ties(
    rows: int, width: int, k: int, levels: int, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (rows, width), generator=generator).float()
    assert_same_as_topk(scores, min(k, width))


@pytest.mark.parametrize("k", [1, 4, 5, 12])
def test_row_top_k_equals_topk_on_distinct_log_probs(k: int) -> None:
    torch.manual_seed(k)
    scores = torch.log_softmax(torch.randn(160, 8002) * 3, dim=-1)
    values, indices = row_top_k(scores, k)
    want = scores.topk(k, dim=-1)
    assert torch.equal(values, want.values) and torch.equal(indices, want.indices)


def test_row_top_k_with_fewer_finite_scores_than_k_and_the_best_in_the_tail() -> None:
    width = 30 * BLOCK + 7
    scores = torch.full((2, width), float("-inf"))
    scores[0, [5, width - 1]] = torch.tensor([-1.0, -0.5])  # 2 finite, k = 4
    scores[1, width - 3] = 2.0  # the best entry sits in the partial block
    scores[1, 100] = 1.0
    assert_same_as_topk(scores, 4)
    _, indices = row_top_k(scores, 4)
    assert indices[0, :2].tolist() == [width - 1, 5]
    assert indices[1, :2].tolist() == [width - 3, 100]
