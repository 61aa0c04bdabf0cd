"""The encoder-decoder model: embeddings + encoder + decoder + output layer.

``Seq2Seq`` receives its parts already built (constructor injection; see ``build_model``) and
exposes the contract of :mod:`seq2seq.models.contract`. Teacher-forced :meth:`forward` and
step-by-step :meth:`decode_step` run the same decoder code, so they agree (a test checks it).
"""

from __future__ import annotations

from dataclasses import replace

from torch import Tensor, nn

from seq2seq.models.contract import DecoderState, EncoderOutput
from seq2seq.models.coverage import CoverageDecoder
from seq2seq.models.dropout import Dropout
from seq2seq.models.fast_math import log_softmax
from seq2seq.models.pointer import PointerGenerator
from seq2seq.models.rnn import RnnDecoder, RnnEncoder
from seq2seq.models.transformer import TransformerDecoder, TransformerEncoder

Encoder = RnnEncoder | TransformerEncoder
Decoder = RnnDecoder | CoverageDecoder | TransformerDecoder


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
        pointer: A pointer-generator (``model.copy``): outputs then cover the extended
            vocabulary and are log-probs, not logits (see :mod:`seq2seq.models.pointer`).
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
        pointer: PointerGenerator | None = None,
    ) -> None:
        super().__init__()
        self.src_embed, self.tgt_embed = src_embed, tgt_embed
        self.encoder, self.decoder, self.generator = encoder, decoder, generator
        self.src_dropout, self.tgt_dropout = Dropout(src_dropout), Dropout(tgt_dropout)
        self.pointer = pointer

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """``src`` ``[B, S]`` ids, ``src_lengths`` ``[B]`` -> encoder states and summary.

        A copy model reads extended ids (OOV source tokens ``>= len(vocab)``) as ``<unk>`` and
        keeps the raw ids in ``EncoderOutput.src_ids`` for its copy distribution.
        """
        if self.pointer is None:
            return self.encoder(self.src_dropout(self.src_embed(src)), src_lengths)
        embedded = self.src_dropout(self.src_embed(self.pointer.in_vocab(src)))
        return replace(self.encoder(embedded, src_lengths), src_ids=src)

    def embed_target(self, tgt: Tensor) -> Tensor:
        """Target ids ``[B, T]`` -> embeddings ``[B, T, E]`` (extended ids read as ``<unk>``)."""
        ids = tgt if self.pointer is None else self.pointer.in_vocab(tgt)
        return self.tgt_dropout(self.tgt_embed(ids))

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
        outputs, attn, _, _ = self._teacher_forced(src, src_lengths, tgt_in)
        return outputs, attn

    def _teacher_forced(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor
    ) -> tuple[Tensor, Tensor | None, Tensor, EncoderOutput]:
        """Decoder outputs ``[B, T, H]``, attention, embedded inputs ``[B, T, E]``, encoding."""
        enc = self.encode(src, src_lengths)
        embedded = self.embed_target(tgt_in)
        outputs, _, attn = self.decoder(embedded, self.init_state(enc), enc)
        return outputs, attn, embedded, enc

    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced scores ``[B, T, tgt_vocab]`` and attention ``[B, T, S]`` (or None).

        Scores are logits; for a copy model they are log-probs over the extended vocabulary
        ``[B, T, tgt_vocab + X]`` (a log-softmax leaves them unchanged, so losses written for
        logits still apply).
        """
        outputs, attn, embedded, enc = self._teacher_forced(src, src_lengths, tgt_in)
        return self.output_scores(outputs, attn, embedded, enc), attn

    def output_scores(
        self, outputs: Tensor, attn: Tensor | None, tgt_embedded: Tensor, enc: EncoderOutput
    ) -> Tensor:
        """The output layer: logits ``[B, T, V]``, or a copy model's log-probs ``[B, T, V + X]``."""
        logits = self.generator(outputs)
        if self.pointer is None or attn is None:
            return logits
        return self.pointer(logits, outputs, attn, tgt_embedded, enc)

    def decode_step(
        self,
        prev_tokens: Tensor,
        state: DecoderState,
        enc: EncoderOutput,
        attention: bool = True,
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One search step: ``prev_tokens [B]`` -> log-probs ``[B, V]``, state, attn ``[B, S]``
        (without ``attention`` a Transformer decoder skips its weights and returns None; a
        copy model computes them for its copy distribution)."""
        embedded = self.embed_target(prev_tokens[:, None])  # [B, 1, E]
        need_weights = attention or self.pointer is not None
        outputs, state, attn = self.decoder(embedded, state, enc, need_weights=need_weights)
        scores = self.output_scores(outputs, attn, embedded, enc)[:, 0]  # [B, V] or [B, V + X]
        if self.pointer is None:  # the scores are this step's own: normalise them in place
            scores = log_softmax(scores, overwrite=True)
        return scores, state, None if attn is None else attn[:, 0]

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
        embedded = self.embed_target(tgt_in)
        return self.decoder.attention_maps(embedded, self.init_state(enc), enc)
