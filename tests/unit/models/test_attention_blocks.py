"""Attention by sentence blocks (beam search's beams share their sentence's memory): the same
context and weights as attending row by row, for every attention an RNN decoder can use."""

from __future__ import annotations

import pytest
import torch

from seq2seq.models.attention import build_attention, per_block


@pytest.mark.parametrize("kind", ["bahdanau", "luong_dot", "luong_general", "multihead"])
@pytest.mark.parametrize(("group", "length"), [(3, 1), (2, 2), (1, 1)])
def test_blocks_of_equal_memory_rows_attend_as_row_by_row(
    kind: str, group: int, length: int
) -> None:
    torch.manual_seed(0)
    attention = build_attention(kind, query_size=8, key_size=8, heads=2)
    assert attention is not None
    attention.eval()
    sentences, src_len = 2, 5
    states = torch.randn(sentences, src_len, 8)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    # each sentence's memory repeated for its `group` rows, as beam search expands it
    states, mask = states.repeat_interleave(group, 0), mask.repeat_interleave(group, 0)
    keys = attention.project_keys(states)
    query = torch.randn(sentences * group, length, 8)
    with torch.no_grad():
        want_context, want_weights = attention(query, keys, states, mask)
        context, weights = attention(query, keys, states, mask, group=group)
    assert context.shape == want_context.shape and weights.shape == (len(query), length, src_len)
    torch.testing.assert_close(context, want_context, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights, want_weights, rtol=1e-5, atol=1e-6)
    assert weights[group:, :, 3:].abs().max() == 0  # padding of the second sentence


def test_per_block_regroups_queries_and_views_each_blocks_first_memory_row() -> None:
    query = torch.arange(6 * 2 * 1.0).view(6, 2, 1)  # rows 0..5, 2 steps each
    memory = torch.arange(6.0)[:, None]
    grouped, first_rows = per_block(query, 3, memory)
    assert grouped.shape == (2, 6, 1)
    assert grouped[1, :, 0].tolist() == query[3:].flatten().tolist()
    assert first_rows.flatten().tolist() == [0.0, 3.0]
    assert first_rows.data_ptr() == memory.data_ptr()  # a view, not a copy
