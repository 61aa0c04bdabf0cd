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
from seq2seq.models.transformer import TransformerDecoder, TransformerEncoder

Encoder = RnnEncoder | TransformerEncoder
Decoder = RnnDecoder | TransformerDecoder


class Seq2Seq(nn.Module):
    """An encoder-decoder over token ids; any encoder family with any decoder family.

    Args:
        src_embed: Source token embedding ``[src_vocab, E_src]``.
        tgt_embed: Target token embedding ``[tgt_vocab, E_tgt]`` (may be ``src_embed``).
        encoder: Maps embedded source ``[B, S, E_src]`` to an :class:`EncoderOutput`.
        decoder: Maps embedded target ``[B, T, E_tgt]`` to outputs ``[B, T, H]``.
        generator: Output layer ``H -> tgt_vocab`` (weights may be tied to ``tgt_embed``).
        src_dropout, tgt_dropout: Dropout on the embeddings before an RNN (a Transformer
            applies its own after adding positions, so it gets 0 here).
    """

    def __init__(
        self,
        src_embed: nn.Embedding,
        tgt_embed: nn.Embedding,
        encoder: Encoder,
        decoder: Decoder,
        generator: nn.Linear,
        src_dropout: float = 0.0,
        tgt_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.src_embed, self.tgt_embed = src_embed, tgt_embed
        self.encoder, self.decoder, self.generator = encoder, decoder, generator
        self.src_dropout, self.tgt_dropout = nn.Dropout(src_dropout), nn.Dropout(tgt_dropout)

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """``src`` ``[B, S]`` ids, ``src_lengths`` ``[B]`` -> encoder states and summary."""
        return self.encoder(self.src_dropout(self.src_embed(src)), src_lengths)

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
        outputs, _, attn = self.decoder(self.tgt_dropout(self.tgt_embed(tgt_in)), state, enc)
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
        embedded = self.tgt_dropout(self.tgt_embed(prev_tokens[:, None]))  # [B, 1, E]
        outputs, state, attn = self.decoder(embedded, state, enc)
        log_probs = torch.log_softmax(self.generator(outputs[:, 0]).float(), dim=-1)
        return log_probs, state, None if attn is None else attn[:, 0]

    def cross_attention_weights(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced attention of every decoder layer and head, for plots.

        Args:
            src: ``[B, S]`` source ids; ``src_lengths``: ``[B]``.
            tgt_in: ``[B, T]`` decoder input (BOS + the output to explain).

        Returns:
            ``[layers, heads, B, T, S]``; an RNN decoder gives one layer and one head.

        Raises:
            Seq2SeqError: The model has no attention.
        """
        enc = self.encode(src, src_lengths)
        embedded = self.tgt_dropout(self.tgt_embed(tgt_in))
        return self.decoder.attention_maps(embedded, self.init_state(enc), enc)
