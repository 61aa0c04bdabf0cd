"""The encoder-decoder model: embeddings + encoder + decoder + output layer.

``Seq2Seq`` receives its parts already built (constructor injection; see ``build_model``) and
exposes the contract of :mod:`seq2seq.models.contract`. Teacher-forced :meth:`forward` and
step-by-step :meth:`decode_step` run the same decoder code, so they agree (a test checks it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seq2seq.models.contract import DecoderState, EncoderOutput
from seq2seq.models.rnn import RnnDecoder, RnnEncoder


class Seq2Seq(nn.Module):
    """An encoder-decoder over token ids.

    Args:
        src_embed: Source token embedding ``[src_vocab, E_src]``.
        tgt_embed: Target token embedding ``[tgt_vocab, E_tgt]`` (may be ``src_embed``).
        encoder: Maps embedded source ``[B, S, E_src]`` to an :class:`EncoderOutput`.
        decoder: Maps embedded target ``[B, T, E_tgt]`` to outputs ``[B, T, H]``.
        generator: Output layer ``H -> tgt_vocab`` (weights may be tied to ``tgt_embed``).
        embedding_dropout: Dropout applied to both embeddings.
    """

    def __init__(
        self,
        src_embed: nn.Embedding,
        tgt_embed: nn.Embedding,
        encoder: RnnEncoder,
        decoder: RnnDecoder,
        generator: nn.Linear,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.src_embed, self.tgt_embed = src_embed, tgt_embed
        self.encoder, self.decoder, self.generator = encoder, decoder, generator
        self.embedding_dropout = nn.Dropout(embedding_dropout)

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """``src`` ``[B, S]`` ids, ``src_lengths`` ``[B]`` -> encoder states and summary."""
        return self.encoder(self.embedding_dropout(self.src_embed(src)), src_lengths)

    def init_state(self, enc: EncoderOutput) -> DecoderState:
        return self.decoder.init_state(enc)

    def features(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced decoder outputs before the output layer.

        Training applies :attr:`generator` to the real (unpadded) positions only, which saves
        the most expensive matmul on padding.

        Args:
            src: ``[B, S]`` source ids; ``src_lengths``: ``[B]``.
            tgt_in: ``[B, T]`` decoder input (BOS + target).

        Returns:
            Outputs ``[B, T, H]`` and attention ``[B, T, S]`` (or None).
        """
        enc = self.encode(src, src_lengths)
        state = self.init_state(enc)
        outputs, _, attn = self.decoder(self.embedding_dropout(self.tgt_embed(tgt_in)), state, enc)
        return outputs, attn

    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced logits ``[B, T, tgt_vocab]`` and attention ``[B, T, S]`` (or None)."""
        outputs, attn = self.features(src, src_lengths, tgt_in)
        return self.generator(outputs), attn

    def decode_step(
        self, prev_tokens: Tensor, state: DecoderState, enc: EncoderOutput
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One search step: ``prev_tokens [B]`` -> log-probs ``[B, V]``, state, attn ``[B, S]``."""
        embedded = self.embedding_dropout(self.tgt_embed(prev_tokens[:, None]))  # [B, 1, E]
        outputs, state, attn = self.decoder(embedded, state, enc)
        log_probs = torch.log_softmax(self.generator(outputs[:, 0]).float(), dim=-1)
        return log_probs, state, None if attn is None else attn[:, 0]
