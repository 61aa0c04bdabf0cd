"""The blocked arg-max greedy search takes: exactly ``max`` over the vocabulary, ties, -inf and
a partial last block included."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.decoding.best_tokens import BLOCK, MIN_BLOCKS, row_max

WIDTHS = [3, 63, MIN_BLOCKS * BLOCK - 1, MIN_BLOCKS * BLOCK, 1100, 8002]


def assert_same_as_max(scores: torch.Tensor) -> None:
    values, indices = row_max(scores)
    want = scores.max(dim=-1)
    assert torch.equal(values, want.values)
    assert torch.equal(indices, want.indices)


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
