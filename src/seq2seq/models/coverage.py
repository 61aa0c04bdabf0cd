"""Coverage: attention that remembers where it has already looked (RNN decoders).

Tu et al. (2016), "Modeling Coverage for Neural Machine Translation"; See et al. (2017) sec. 2.3.
The coverage vector is the sum of the attention distributions of all previous target steps,

    c_t = sum_{t' < t} a_t'                                               (See et al., eq. 10)

and enters the additive attention score as one more term,

    e_t,i = v . tanh(W_h h_i + W_s s_t + w_c c_t,i + b_attn)              (eq. 11)

so the decoder can learn not to attend (and, with a pointer-generator, not to copy) the same
source words again. The coverage loss ``sum_i min(a_t,i, c_t,i)`` (eq. 12) that penalises
repeated attention lives in :mod:`seq2seq.training.copy_loss`.

Coverage makes every step depend on all earlier attention, so :class:`CoverageDecoder` always
steps through time; the vector is part of the decoder state, and ``select`` reorders it for
beams. Only additive scores (``bahdanau``, ``luong_concat``) have the ``tanh`` the term belongs
in; the config rejects coverage with other attention types and with Transformer decoders.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from seq2seq.models.attention import AdditiveScore, masked_softmax
from seq2seq.models.contract import EncoderOutput
from seq2seq.models.fast_math import tanh
from seq2seq.models.rnn import Bridge, RnnDecoderState, _RnnDecoderBase


class CoverageAttention(nn.Module):
    """Additive attention with the coverage term ``w_c c_t,i + b_attn`` (See et al., eq. 11).

    Args:
        query_size: Width of the decoder state.
        key_size: Width of the encoder states.
        attn_size: Inner width of the additive score.
    """

    def __init__(self, query_size: int, key_size: int, attn_size: int) -> None:
        super().__init__()
        self.score = AdditiveScore(query_size, key_size, attn_size)
        self.coverage_proj = nn.Linear(1, attn_size)  # w_c and b_attn

    def project_keys(self, keys: Tensor) -> Tensor:
        """``W_h h_i``, once per sentence: ``[B, S, H_enc] -> [B, S, A]``."""
        return self.score.project_keys(keys)

    def forward(
        self, query: Tensor, proj_keys: Tensor, values: Tensor, mask: Tensor, coverage: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Attends from ``query`` ``[B, T, H]`` with coverage ``[B, S]`` (one step: ``T`` = 1).

        Returns:
            Context ``[B, T, H_enc]`` and weights ``[B, T, S]`` (zero on padding).
        """
        covered = self.coverage_proj(coverage[:, :, None].to(proj_keys.dtype))  # [B, S, A]
        weights = masked_softmax(self.score(query, proj_keys + covered), mask)
        return torch.bmm(weights.to(values.dtype), values), weights


@dataclass(frozen=True)
class CoverageState(RnnDecoderState):
    """An RNN decoder state plus the coverage vector ``c_t`` ``[B, S]`` (float32)."""

    coverage: Tensor

    def select(self, indices: Tensor) -> CoverageState:
        base = super().select(indices)
        return CoverageState(
            base.hidden,
            base.cell,
            base.input_feed,
            base.proj_keys,
            self.coverage.index_select(0, indices),
            group=base.group,
        )


class CoverageDecoder(_RnnDecoderBase):
    """An attentional RNN decoder whose attention sees the coverage vector.

    Args:
        rnn: The decoder RNN; its input is the embedding plus the context (``attend_first``)
            or plus the previous attentional vector (``input_feeding``).
        bridge: Encoder summary -> initial state.
        attention: Coverage-aware additive attention.
        key_size: Width of the encoder states.
        dropout: Dropout on the outputs.
        attend_first: Bahdanau order (attend with ``s_{t-1}``, feed the context into the RNN)
            for ``attention: bahdanau``; otherwise Luong order (RNN first, attend with ``s_t``,
            as See et al. do), for ``luong_concat``.
        input_feeding: Luong order only: feed the last attentional vector back in.
    """

    def __init__(
        self,
        rnn: nn.RNNBase,
        bridge: Bridge,
        attention: CoverageAttention,
        key_size: int,
        dropout: float,
        attend_first: bool,
        input_feeding: bool,
    ) -> None:
        super().__init__(rnn, bridge, attention, dropout)  # type: ignore[arg-type]
        self.attend_first = attend_first
        self.input_feeding = input_feeding and not attend_first
        self.combine = nn.Linear(key_size + rnn.hidden_size, rnn.hidden_size)

    def init_state(self, enc: EncoderOutput) -> CoverageState:
        base = self._initial(enc, self.input_feeding)
        coverage = torch.zeros(enc.mask.shape, device=enc.states.device)  # [B, S]
        return CoverageState(
            base.hidden, base.cell, base.input_feed, base.proj_keys, coverage, group=base.group
        )

    def forward(
        self,
        tgt_embedded: Tensor,
        state: CoverageState,
        enc: EncoderOutput,
        need_weights: bool = True,
    ) -> tuple[Tensor, CoverageState, Tensor]:
        """Decodes ``tgt_embedded`` ``[B, T, E]`` one step at a time (the weights feed the
        coverage vector, so they are always computed and returned, whatever ``need_weights``).

        Returns:
            Outputs ``[B, T, H]``, the state after the last step, attention ``[B, T, S]``.
        """
        outputs, weights = [], []
        for t in range(tgt_embedded.size(1)):
            out, state, attn = self._step(tgt_embedded[:, t : t + 1], state, enc)
            outputs.append(out)
            weights.append(attn)
        return torch.cat(outputs, dim=1), state, torch.cat(weights, dim=1)

    def _step(
        self, step_in: Tensor, state: CoverageState, enc: EncoderOutput
    ) -> tuple[Tensor, CoverageState, Tensor]:
        """One target step ``[B, 1, E]`` -> output ``[B, 1, H]``, new state, attn ``[B, 1, S]``."""
        attend = self.attention
        if self.attend_first:
            query = state.hidden[-1][:, None]  # [B, 1, H]
            context, attn = attend(query, state.proj_keys, enc.states, enc.mask, state.coverage)
            rnn_out, hidden, cell = self._run_rnn(torch.cat([step_in, context], dim=-1), state)
        else:
            if self.input_feeding:
                step_in = torch.cat([step_in, state.input_feed[:, None]], dim=-1)
            rnn_out, hidden, cell = self._run_rnn(step_in, state)
            context, attn = attend(rnn_out, state.proj_keys, enc.states, enc.mask, state.coverage)
        combined = self.combine(torch.cat([context, rnn_out], dim=-1))
        out = self.dropout(tanh(combined, overwrite=True))
        feed = out[:, 0] if self.input_feeding else None
        coverage = state.coverage + attn[:, 0].float()
        new_state = replace(state, hidden=hidden, cell=cell, input_feed=feed, coverage=coverage)
        return out, new_state, attn
