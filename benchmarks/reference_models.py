"""Plain-PyTorch reference models, the size of ours, written the way a PyTorch user would.

These are the baselines of ``train_speed.py``: what you get from ``torch.nn`` building blocks
without a toolkit. They see the same batches as our models and train with the same objective
(label-smoothed cross-entropy over the real target tokens, mean over tokens), Adam and gradient
clipping at 1.0. Nothing here is tuned; that is the point.

- :class:`ReferenceTransformer`: ``nn.Transformer`` (d_model 256, 3+3 layers, 4 heads, ff
  1024, dropout 0.1, pre-norm as our shipped config, ``batch_first``), one embedding shared by
  source, target and the output layer, scaled by ``sqrt(d)``, plus sinusoidal positions.
- :class:`ReferenceLSTMAttention`: one ``nn.LSTM`` call for the encoder and one for the whole
  target (no input feeding), Luong dot attention over the encoder states, ``tanh(W [c; h])``,
  the tied output layer (PEERS.md's "LSTM + attention", 1+1 layers).

Both return logits ``[B, T, V]`` for every target position, padding included, and the loss
ignores the padding (``F.cross_entropy(..., ignore_index=pad)``): the obvious way to write it.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sinusoids(length: int, dim: int) -> Tensor:
    """``[length, dim]`` interleaved ``sin``/``cos`` positions (Vaswani et al. 2017, sec. 3.5)."""
    position = torch.arange(length, dtype=torch.float)[:, None]
    rates = torch.exp(torch.arange(0, dim, 2, dtype=torch.float) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * rates)
    table[:, 1::2] = torch.cos(position * rates)
    return table


def tied_embedding(vocab_size: int, dim: int, pad_id: int) -> nn.Embedding:
    """An embedding ``N(0, 1/dim)`` with a zero padding row (the output layer reuses it)."""
    embedding = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
    nn.init.normal_(embedding.weight, std=dim**-0.5)
    with torch.no_grad():
        embedding.weight[pad_id].zero_()
    return embedding


def length_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``[B, max_len]`` bool, True on the first ``lengths[b]`` positions of each row."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class ReferenceTransformer(nn.Module):
    """``nn.Transformer`` with shared, tied, ``sqrt(d)``-scaled embeddings and sinusoids.

    Args:
        vocab_size: Joint vocabulary size.
        pad_id: Padding id.
        d_model, heads, layers, ff_size, dropout: The Transformer's shape.
        max_len: Longest sequence the position table covers.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        d_model: int = 256,
        heads: int = 4,
        layers: int = 3,
        ff_size: int = 1024,
        dropout: float = 0.1,
        max_len: int = 1024,
    ) -> None:
        super().__init__()
        self.pad_id, self.scale = pad_id, math.sqrt(d_model)
        self.embed = tied_embedding(vocab_size, d_model, pad_id)
        self.register_buffer("positions", sinusoids(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        with warnings.catch_warnings():  # "enable_nested_tensor is True, but ... norm_first"
            warnings.simplefilter("ignore", UserWarning)
            self.transformer = nn.Transformer(
                d_model, heads, layers, layers, ff_size, dropout, batch_first=True, norm_first=True
            )
        self.generator = nn.Linear(d_model, vocab_size)
        self.generator.weight = self.embed.weight

    def _embed(self, ids: Tensor) -> Tensor:
        """``[B, T]`` ids -> ``[B, T, d]`` scaled embeddings + positions, with dropout."""
        return self.dropout(self.embed(ids) * self.scale + self.positions[: ids.size(1)])

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """``src [B, S]``, ``src_lengths [B]``, ``tgt_in [B, T]`` -> logits ``[B, T, V]``."""
        src_padding = ~length_mask(src_lengths, src.size(1))  # True = ignore
        tgt_padding = tgt_in == self.pad_id
        length = tgt_in.size(1)
        causal = torch.ones(length, length, dtype=torch.bool, device=src.device).triu(1)
        out = self.transformer(
            self._embed(src),
            self._embed(tgt_in),
            tgt_mask=causal,
            src_key_padding_mask=src_padding,
            tgt_key_padding_mask=tgt_padding,
            memory_key_padding_mask=src_padding,
            tgt_is_causal=True,
        )  # [B, T, d]
        return self.generator(out)


class ReferenceLSTMAttention(nn.Module):
    """LSTM encoder, LSTM decoder over the whole target, dot attention (Luong et al. 2015).

    The decoder starts from the encoder's hidden state at each source's last real token (cell
    at zero), as our ``bridge: copy`` does.

    Args:
        vocab_size: Joint vocabulary size.
        pad_id: Padding id.
        hidden_size: Embedding and LSTM size (equal, for the tied output layer).
        dropout: On the embeddings and on the attentional vector.
    """

    def __init__(
        self, vocab_size: int, pad_id: int, hidden_size: int = 256, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.embed = tied_embedding(vocab_size, hidden_size, pad_id)
        self.encoder = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.decoder = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.combine = nn.Linear(2 * hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.generator = nn.Linear(hidden_size, vocab_size)
        self.generator.weight = self.embed.weight

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """``src [B, S]``, ``src_lengths [B]``, ``tgt_in [B, T]`` -> logits ``[B, T, V]``."""
        src_mask = length_mask(src_lengths, src.size(1))  # [B, S]
        enc_out, _ = self.encoder(self.dropout(self.embed(src)))  # [B, S, H]
        enc_out = enc_out * src_mask[:, :, None]
        last = enc_out[torch.arange(src.size(0), device=src.device), src_lengths - 1]  # [B, H]
        h0 = last[None].contiguous()  # [1, B, H]
        dec_out, _ = self.decoder(self.dropout(self.embed(tgt_in)), (h0, torch.zeros_like(h0)))
        scores = dec_out @ enc_out.transpose(1, 2)  # [B, T, S]
        scores = scores.masked_fill(~src_mask[:, None, :], float("-inf"))
        context = torch.softmax(scores, dim=-1) @ enc_out  # [B, T, H]
        attentional = torch.tanh(self.combine(torch.cat([context, dec_out], dim=-1)))
        return self.generator(self.dropout(attentional))


REFERENCES = {"transformer": ReferenceTransformer, "lstm": ReferenceLSTMAttention}


def build_reference(model: str, vocab_size: int, pad_id: int) -> nn.Module:
    """The reference of one of our model labels (``transformer`` or ``lstm``)."""
    return REFERENCES[model](vocab_size, pad_id)


def reference_loss(logits: Tensor, tgt_out: Tensor, pad_id: int, label_smoothing: float) -> Tensor:
    """Label-smoothed cross-entropy averaged over the real target tokens.

    Args:
        logits: ``[B, T, V]``.
        tgt_out: ``[B, T]`` gold ids, ``pad_id`` on padding.
    """
    return F.cross_entropy(
        logits.flatten(0, 1),
        tgt_out.flatten(),
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
    )
