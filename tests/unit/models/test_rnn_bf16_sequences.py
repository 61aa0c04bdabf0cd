"""Decoding copies run RNN sequences (the encoder) on a bf16 copy of the weights
(``rnn_cells.attach_bf16_sequences``): exactly what the bf16 RNN kernel gives, fp32 in and out,
following weight changes, and only where the copies are meant to use it."""

from __future__ import annotations

import copy

import pytest
import torch
from test_rnn_cells import KINDS, initial_state
from torch import nn

from seq2seq.config import ModelConfig
from seq2seq.decoding.packed import bf16_instructions, packed_copy, packing_available
from seq2seq.decoding.quantize import int8_copy
from seq2seq.models import build_model
from seq2seq.models.rnn import call_rnn
from seq2seq.models.rnn_cells import attach_bf16_sequences

needs_bf16_kernels = pytest.mark.skipif(
    not packing_available(torch.bfloat16), reason="oneDNN has no bf16 kernels for this CPU"
)


def bf16_reference(rnn: nn.RNNBase, x: torch.Tensor, state: object) -> torch.Tensor:
    """The same call on a bf16 copy of ``rnn``, widened back to fp32."""
    plain = copy.deepcopy(rnn)
    plain.__dict__.pop("bf16_sequence", None)
    plain = plain.to(torch.bfloat16)
    if isinstance(state, tuple):
        state = tuple(s.to(torch.bfloat16) for s in state)
    elif state is not None:
        state = state.to(torch.bfloat16)
    return plain(x.to(torch.bfloat16), state)[0].float()


@needs_bf16_kernels
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("with_state", [True, False])
def test_a_sequence_runs_on_the_bf16_kernel_and_returns_fp32(kind: str, with_state: bool) -> None:
    torch.manual_seed(0)
    rnn = KINDS[kind](input_size=6, hidden_size=5, num_layers=2, batch_first=True).eval()
    attach_bf16_sequences(rnn)
    x = torch.randn(3, 7, 6)
    state = initial_state(rnn, 3) if with_state else None
    with torch.no_grad():
        out, final = call_rnn(rnn, x, state)
        want = bf16_reference(rnn, x, state)
    assert out.dtype == torch.float32
    assert all(t.dtype == torch.float32 for t in (final if isinstance(final, tuple) else (final,)))
    torch.testing.assert_close(out, want, rtol=0, atol=0)


@needs_bf16_kernels
def test_the_bf16_weights_follow_changes_to_the_rnn() -> None:
    torch.manual_seed(0)
    rnn = nn.LSTM(4, 3, batch_first=True).eval()
    attach_bf16_sequences(rnn)
    x = torch.randn(2, 5, 4)
    with torch.no_grad():
        before = call_rnn(rnn, x)[0]
        rnn.weight_hh_l0.mul_(-3.0)
        after = call_rnn(rnn, x)[0]
        want = bf16_reference(rnn, x, None)
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, want, rtol=0, atol=0)


def test_training_or_gradients_use_the_fp32_rnn_itself() -> None:
    torch.manual_seed(0)
    rnn = nn.GRU(4, 3, batch_first=True)
    attach_bf16_sequences(rnn)
    plain = copy.deepcopy(rnn)
    del plain.bf16_sequence
    x = torch.randn(2, 5, 4)
    rnn.eval(), plain.eval()
    got = call_rnn(rnn, x)[0]  # gradients on
    assert got.requires_grad
    torch.testing.assert_close(got, plain(x)[0], rtol=0, atol=0)
    rnn.train(), plain.train()
    with torch.no_grad():
        torch.testing.assert_close(call_rnn(rnn, x)[0], plain(x)[0], rtol=0, atol=0)


def test_projected_lstms_keep_fp32_sequences() -> None:
    rnn = nn.LSTM(4, 6, proj_size=3, batch_first=True)
    attach_bf16_sequences(rnn)
    assert not hasattr(rnn, "bf16_sequence")


def lstm_model() -> nn.Module:
    config = ModelConfig.model_validate(
        {
            "encoder": {"type": "lstm", "hidden_size": 8, "embedding_size": 8},
            "decoder": {"type": "lstm", "hidden_size": 8, "embedding_size": 8},
            "attention": "luong_general",
        }
    )
    torch.manual_seed(0)
    return build_model(config, 11, 13, 0).eval()


def rnns_with_bf16_sequences(model: nn.Module) -> list[bool]:
    return [hasattr(m, "bf16_sequence") for m in model.modules() if isinstance(m, nn.RNNBase)]


def test_which_decoding_copies_run_sequences_in_bf16() -> None:
    model = lstm_model()
    assert not any(rnns_with_bf16_sequences(model))
    assert not any(rnns_with_bf16_sequences(packed_copy(model)))
    int8 = rnns_with_bf16_sequences(int8_copy(model))
    assert all(int8) if bf16_instructions() and packing_available(torch.bfloat16) else not any(int8)
    if packing_available(torch.bfloat16):
        assert all(rnns_with_bf16_sequences(packed_copy(model, torch.bfloat16)))
