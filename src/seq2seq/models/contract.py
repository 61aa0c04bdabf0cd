"""The seam between encoders, decoders and search.

Any encoder meets any decoder, and search never asks which family it drives, because every
model speaks this small contract (see DESIGN.md):

- ``encode(src, src_lengths) -> EncoderOutput``
- ``init_state(enc) -> DecoderState``
- ``decode_step(prev_tokens, state, enc, attention=True) -> (log_probs, new_state, attn)``

Decoding state is explicit: it is passed in and returned, never kept on a module, so one model
can serve concurrent requests and beam search can reorder hypotheses with ``state.select``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self

import torch
from torch import Tensor


@dataclass(frozen=True)
class EncoderOutput:
    """What an encoder hands to a decoder.

    Attributes:
        states: Encoder states ``[batch, src_len, enc_hidden]``, zero on padding.
        mask: ``[batch, src_len]`` bool, True on real tokens, False on padding.
        final_hidden: Summary of the source ``[num_layers, batch, enc_hidden]`` that an RNN
            decoder's bridge turns into its initial state: for an RNN encoder, the last real
            hidden state of each layer (bidirectional directions concatenated on the last
            axis); a Transformer encoder provides a pooled summary.
        src_ids: The source ids ``[batch, src_len]`` as given to ``encode``, kept by a
            pointer-generator (``model.copy``) to scatter its copy distribution onto the
            extended vocabulary (ids ``>= len(vocab)`` are this row's out-of-vocabulary source
            tokens); None for other models.
    """

    states: Tensor
    mask: Tensor
    final_hidden: Tensor
    src_ids: Tensor | None = None

    def select(self, indices: Tensor) -> EncoderOutput:
        """Picks batch rows ``indices`` ``[new_batch]`` (used to expand a batch for beams)."""
        return EncoderOutput(
            states=self.states.index_select(0, indices),
            mask=self.mask.index_select(0, indices),
            final_hidden=self.final_hidden.index_select(1, indices),
            src_ids=None if self.src_ids is None else self.src_ids.index_select(0, indices),
        )


class DecoderState(Protocol):
    """Everything a decoder carries from one target step to the next."""

    def select(self, indices: Tensor) -> Self:
        """Returns the state of batch rows ``indices`` ``[new_batch]`` (beam reordering)."""
        ...


def sentence_blocks(indices: Tensor, group: int) -> tuple[Tensor, int]:
    """How the rows a ``DecoderState.select`` picks fall into sentences.

    A state whose rows come in blocks of ``group`` consecutive rows per sentence (beam search
    expands each sentence to its beams and reorders beams within their sentence) needs what
    depends on the sentence alone, such as the encoder memory, only once per block: the
    decoders use this to skip copying it when beams are reordered.

    Args:
        indices: The old rows picked ``[new_rows]``; old row ``r`` is of sentence ``r // group``.
        group: Old rows per sentence.

    Returns:
        The old sentence of each block of new rows ``[blocks]`` and the new rows per block,
        when the new rows come in equal blocks of consecutive rows of one sentence each;
        otherwise the sentence of every new row and 1.
    """
    sentence_of_row = indices // group  # [new_rows]
    blocks = torch.unique_consecutive(sentence_of_row)
    rows = indices.numel()
    new_group = rows // blocks.numel() if blocks.numel() and rows % blocks.numel() == 0 else 0
    if new_group and torch.equal(
        sentence_of_row.view(-1, new_group), blocks[:, None].expand(-1, new_group)
    ):
        return blocks, new_group
    return sentence_of_row, 1


class SearchableModel(Protocol):
    """What greedy, beam and sampling search need from a model; nothing family-specific."""

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """Encodes ``src`` ``[batch, src_len]`` with true lengths ``src_lengths`` ``[batch]``."""
        ...

    def init_state(self, enc: EncoderOutput) -> DecoderState:
        """The decoder state before the first target token."""
        ...

    def decode_step(
        self,
        prev_tokens: Tensor,
        state: DecoderState,
        enc: EncoderOutput,
        attention: bool = True,
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One target step.

        Args:
            prev_tokens: The previous target token of each row ``[batch]`` (BOS at step 0).
            state: The state returned by the previous step (or ``init_state``).
            enc: The encoder output the rows attend to.
            attention: Whether the caller wants the attention weights. Without them a model
                may skip computing them (a Transformer then runs fused attention only);
                search ignores weights it did not ask for.

        Returns:
            ``log_probs`` ``[batch, vocab]`` (log-softmax over the target vocabulary), the new
            state, and attention weights ``[batch, src_len]`` (None for attention-free models,
            and possibly when not asked for).
            ``log_probs`` is a new tensor the caller owns: search masks tokens in it in place.
        """
        ...
