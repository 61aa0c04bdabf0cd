"""Pointer-generator output layer: generate from the vocabulary or copy a source token.

See et al. (2017), "Get To The Point: Summarization with Pointer-Generator Networks", sec. 2.2.
At target step ``t`` a soft switch

    p_gen = sigmoid(w_c . c_t + w_s . s_t + w_x . x_t + b)                       (eq. 8)

mixes the vocabulary distribution with the attention distribution ``a_t`` over source positions:

    P(w) = p_gen * P_vocab(w) + (1 - p_gen) * sum_{i : src_i = w} a_t,i          (eq. 9)

Here ``c_t = sum_i a_t,i h_i`` is the attention-weighted encoder states, ``s_t`` the decoder
output that feeds the output layer (the attentional vector of an RNN decoder, the top layer of a
Transformer) and ``x_t`` the embedded decoder input. ``a_t`` is the distribution the decoder
returns: an RNN decoder's attention, or for a Transformer decoder its last layer's
cross-attention averaged over heads (no extra copy head: the decoder already learns where to
look, and the average is exactly what it returns for plots and search).

Out-of-vocabulary source tokens are copied through an *extended vocabulary*: the data pipeline
gives the k-th distinct OOV token of a sentence the id ``len(vocab) + k`` (see
:mod:`seq2seq.data.copy_vocab`); the embeddings see ``<unk>`` instead, but the scatter below uses
the raw ids, so the model can put probability on, and be trained to produce, those ids.
Distributions cover ``len(vocab) + X`` ids, ``X`` the most OOVs of any sentence in the batch;
columns beyond a row's own OOVs are ``-inf``, so a sentence decodes the same alone or batched.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seq2seq.models.contract import EncoderOutput

# Probabilities are floored here before the log: a float32 attention weight or softmax entry
# can underflow to exactly 0, and log(0) would give an infinite loss and NaN gradients.
MIN_PROB = 1e-30


def in_vocab(ids: Tensor, vocab_size: int, unk_id: int) -> Tensor:
    """Maps extended ids ``>= vocab_size`` to ``unk_id`` (what the embeddings can look up)."""
    return ids.masked_fill(ids >= vocab_size, unk_id)


def extra_columns(src_ids: Tensor, vocab_size: int) -> Tensor:
    """Number of OOV source tokens of each row, ``[batch]`` (its ids are ``V .. V + n - 1``)."""
    return (src_ids.max(dim=1).values - vocab_size + 1).clamp(min=0)


class PointerGenerator(nn.Module):
    """The soft switch of See et al. (2017) and the mixture over the extended vocabulary.

    Args:
        context_size: Width of the encoder states (``c_t``).
        state_size: Width of the decoder outputs (``s_t``).
        input_size: Width of the target embeddings (``x_t``).
        vocab_size: Size of the (joint) vocabulary ``V``.
        unk_id: Id the embeddings see for an extended (OOV) id.
    """

    def __init__(
        self, context_size: int, state_size: int, input_size: int, vocab_size: int, unk_id: int
    ) -> None:
        super().__init__()
        self.switch = nn.Linear(context_size + state_size + input_size, 1)
        self.vocab_size, self.unk_id = vocab_size, unk_id

    def in_vocab(self, ids: Tensor) -> Tensor:
        """``ids`` with extended ids replaced by ``<unk>``, any shape."""
        return in_vocab(ids, self.vocab_size, self.unk_id)

    def generation_probability(
        self, outputs: Tensor, attn: Tensor, tgt_embedded: Tensor, enc: EncoderOutput
    ) -> Tensor:
        """``p_gen`` ``[B, T]`` in (0, 1) (eq. 8).

        Args:
            outputs: Decoder outputs ``[B, T, H]``.
            attn: Attention ``[B, T, S]`` (zero on padding).
            tgt_embedded: Embedded decoder inputs ``[B, T, E]``.
            enc: The encoder output (states ``[B, S, H_enc]``).
        """
        context = torch.bmm(attn.to(enc.states.dtype), enc.states)  # [B, T, H_enc]
        features = torch.cat([context, outputs.to(context.dtype), tgt_embedded], dim=-1)
        return torch.sigmoid(self.switch(features).float()).squeeze(-1)  # [B, T]

    def forward(
        self,
        logits: Tensor,
        outputs: Tensor,
        attn: Tensor,
        tgt_embedded: Tensor,
        enc: EncoderOutput,
    ) -> Tensor:
        """Log-probs over the extended vocabulary (eq. 9), in float32.

        Args:
            logits: Output-layer scores ``[B, T, V]``.
            outputs, attn, tgt_embedded, enc: As in :meth:`generation_probability`; ``enc``
                must carry ``src_ids`` ``[B, S]``.

        Returns:
            ``[B, T, V + X]``: each row sums to 1 over ``V`` plus its own OOVs; ``-inf`` on the
            columns of other rows' OOVs.
        """
        assert enc.src_ids is not None, "a pointer-generator needs EncoderOutput.src_ids"
        p_gen = self.generation_probability(outputs, attn, tgt_embedded, enc)[..., None]
        own_extra = extra_columns(enc.src_ids, self.vocab_size)  # [B]
        width = self.vocab_size + int(own_extra.max()) if own_extra.numel() else self.vocab_size
        generated = torch.softmax(logits.float(), dim=-1) * p_gen  # [B, T, V]
        mixed = nn.functional.pad(generated, (0, width - self.vocab_size))  # [B, T, V + X]
        index = enc.src_ids[:, None, :].expand(-1, attn.size(1), -1)  # [B, T, S]
        mixed = mixed.scatter_add(-1, index, (1.0 - p_gen) * attn.float())  # padding adds 0
        columns = torch.arange(width, device=logits.device)  # [V + X]
        foreign = columns[None, :] >= self.vocab_size + own_extra[:, None]  # [B, V + X]
        log_probs = mixed.clamp(min=MIN_PROB).log()
        return log_probs.masked_fill(foreign[:, None, :], float("-inf"))
