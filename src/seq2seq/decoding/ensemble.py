"""Ensembles: several models decode together, averaging their next-token probabilities.

An :class:`Ensemble` speaks the same model contract as one model, so greedy, beam and sampling
search drive it unchanged. At each step every member sees the same previous token and the
ensemble's distribution is the mean of the members' probabilities, ``log(mean_m p_m)``. Any
families mix (an LSTM with a Transformer); they must share the vocabularies, because they vote
on the same token ids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seq2seq.errors import InputError
from seq2seq.models.contract import DecoderState, EncoderOutput
from seq2seq.models.seq2seq import Seq2Seq


@dataclass(frozen=True)
class EnsembleEncoding:
    """The members' encoder outputs; ``select`` reorders each (beam expansion)."""

    members: tuple[EncoderOutput, ...]

    def select(self, indices: Tensor) -> EnsembleEncoding:
        return EnsembleEncoding(tuple(enc.select(indices) for enc in self.members))


@dataclass(frozen=True)
class EnsembleState:
    """The members' decoder states, reordered together."""

    members: tuple[DecoderState, ...]

    def select(self, indices: Tensor) -> EnsembleState:
        return EnsembleState(tuple(state.select(indices) for state in self.members))


class Ensemble(nn.Module):
    """Several :class:`Seq2Seq` models decoding as one.

    Args:
        models: Two or more models over the same source and target vocabularies.

    Raises:
        InputError: Fewer than two models, or a copy (pointer-generator) model among them.
    """

    def __init__(self, models: Sequence[Seq2Seq]) -> None:
        super().__init__()
        if len(models) < 2:
            raise InputError(f"an ensemble needs two or more models, got {len(models)}")
        for number, model in enumerate(models, start=1):
            # Its distribution covers each sentence's own copied words beyond the shared
            # vocabulary, which the members cannot average: copies would come out as <unk>.
            if getattr(model, "pointer", None) is not None:
                raise InputError(
                    f"ensemble member {number} is a copy (pointer-generator) model; copy models "
                    "cannot be ensembled: decode with it alone"
                )
        self.members = nn.ModuleList(models)

    def encode(self, src: Tensor, src_lengths: Tensor) -> EnsembleEncoding:
        return EnsembleEncoding(tuple(m.encode(src, src_lengths) for m in self.members))

    def init_state(self, enc: EnsembleEncoding) -> EnsembleState:  # type: ignore[override]
        return EnsembleState(
            tuple(m.init_state(e) for m, e in zip(self.members, enc.members, strict=True))
        )

    def decode_step(
        self,
        prev_tokens: Tensor,
        state: EnsembleState,
        enc: EnsembleEncoding,
        attention: bool = True,
    ) -> tuple[Tensor, EnsembleState, Tensor | None]:
        """Mean of the members' probabilities as log-probs ``[B, V]``; attention is the mean
        of the members that have one (None if none has)."""
        log_probs, states, weights = [], [], []
        for model, member_state, member_enc in zip(
            self.members, state.members, enc.members, strict=True
        ):
            step_log_probs, new_state, attn = model.decode_step(
                prev_tokens, member_state, member_enc, attention
            )
            log_probs.append(step_log_probs)
            states.append(new_state)
            if attn is not None:
                weights.append(attn.float())
        mean = torch.logsumexp(torch.stack(log_probs), dim=0) - math.log(len(log_probs))
        attention = torch.stack(weights).mean(dim=0) if weights else None
        return mean, EnsembleState(tuple(states)), attention
