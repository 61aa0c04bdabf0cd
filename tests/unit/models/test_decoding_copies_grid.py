"""Every model of the grid (``test_model_grid.py``) decoded through the copies search uses on a
CPU: the packed fp32 copy steps exactly like the model (cell products included), the bf16 and
int8 copies stay close, and beams kept in sentence blocks attend like separate rows."""

from __future__ import annotations

import pytest
import torch
from test_model_grid import (
    ALL_CASES,
    SRC_LENGTHS,
    TGT_LENGTHS,
    Case,
    Spec,
    close,
    make_batch,
    make_model,
    step_by_step,
)
from torch import nn

from seq2seq.decoding.packed import packed_copy, packing_available
from seq2seq.decoding.quantize import int8_copy

COPIES = {
    "fp32": lambda model: packed_copy(model),
    "bf16": lambda model: packed_copy(model, torch.bfloat16),
    "int8": int8_copy,
}
AVAILABLE = {
    "fp32": packing_available(),
    "bf16": packing_available(torch.bfloat16),
    "int8": True,
}


def rnn_decoder_steps_through_products(copy: nn.Module) -> bool:
    rnns = [m for m in copy.decoder.modules() if isinstance(m, nn.RNNBase)]
    return all(hasattr(m, "cell_products") for m in rnns)


@pytest.mark.parametrize("precision", list(COPIES))
@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_a_decoding_copy_steps_like_the_model(case: Case | Spec, precision: str) -> None:
    if not AVAILABLE[precision]:
        pytest.skip(f"no {precision} packing in this torch/CPU")
    model = make_model(case)
    copy = COPIES[precision](model)
    assert rnn_decoder_steps_through_products(copy)
    src, src_lengths, tgt_in = make_batch(SRC_LENGTHS, TGT_LENGTHS, seed=4)
    with torch.no_grad():
        want, want_attn = step_by_step(model, src, src_lengths, tgt_in)
        got, got_attn = step_by_step(copy, src, src_lengths, tgt_in)
    if precision == "fp32":
        close(got, want)
        if want_attn is not None:
            assert got_attn is not None
            close(got_attn, want_attn)
    else:  # rounded weights: the next-token distributions stay close
        assert (got.exp() - want.exp()).abs().max() < 0.05


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_beams_in_sentence_blocks_decode_like_their_sentence(case: Case | Spec) -> None:
    """Each sentence expanded to 3 rows, as beam search's first step does: the state then holds
    blocks of 3 (its ``group``), which RNN attention serves one product per block."""
    model = make_model(case)
    src, src_lengths, tgt_in = make_batch(SRC_LENGTHS, TGT_LENGTHS, seed=5)
    beams = torch.arange(len(SRC_LENGTHS)).repeat_interleave(3)
    with torch.no_grad():
        want, want_attn = step_by_step(model, src, src_lengths, tgt_in)
        got, got_attn = step_by_step(model, src, src_lengths, tgt_in, reorder_at=0, indices=beams)
    close(got, want[beams])
    if want_attn is not None:
        assert got_attn is not None
        close(got_attn, want_attn[beams])
