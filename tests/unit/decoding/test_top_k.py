"""The chunked top-k search uses instead of ``torch.topk`` on the CPU gives the same values."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.decoding.top_k import CHUNK, arg_max, top_k


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    width=st.integers(1, 5 * CHUNK + 7),
    k=st.integers(1, 9),
    seed=st.integers(0, 2**16),
    masked=st.floats(0.0, 1.0),
    ties=st.booleans(),
)
def test_top_k_gives_torch_topk_values_and_indices_that_hold_them(
    rows: int, width: int, k: int, seed: int, masked: float, ties: bool
) -> None:
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(rows, width, generator=gen)
    if ties:  # few distinct values: many equal maxima across chunks
        scores = scores.round()
    scores[torch.rand(rows, width, generator=gen) < masked] = float("-inf")
    k = min(k, width)
    values, indices = top_k(scores, k)
    assert torch.equal(values, scores.topk(k, dim=-1).values)
    assert torch.equal(scores.gather(1, indices), values)
    assert all(len(set(row)) == k for row in indices.tolist())  # k distinct columns


def test_arg_max_matches_max_on_a_vocabulary_wide_batch() -> None:
    scores = torch.randn(32, 8000, generator=torch.Generator().manual_seed(0))
    values, indices = arg_max(scores)
    expected = scores.max(dim=-1)
    assert torch.equal(values, expected.values) and torch.equal(indices, expected.indices)
