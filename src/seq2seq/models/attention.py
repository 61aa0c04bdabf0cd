"""Attention over encoder states: additive (Bahdanau) and multiplicative (Luong) scores.

A decoder asks "which source positions matter for this target step?": a score function rates
each encoder state against the decoder's query, a softmax over the real (unpadded) positions
turns scores into weights, and the weighted sum of encoder states is the context vector.

Keys are projected once per sentence (``project_keys``) and carried in the decoder state, so a
decoding step costs only the query side. Multi-head scaled dot-product attention (Vaswani et al.
2017) lives here too: the Transformer uses it, and so can an RNN decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.models.dropout import dropout as apply_dropout
from seq2seq.models.fast_math import tanh
from seq2seq.models.step_attention import step_attention


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last axis that gives exactly zero weight to padding.

    Args:
        scores: ``[batch, tgt_len, src_len]``.
        mask: ``[batch, src_len]`` bool, True on real source tokens.

    Returns:
        Weights ``[batch, tgt_len, src_len]``; each row sums to 1 over real positions.
    """
    scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1)


def per_block(query: Tensor, group: int, *memory: Tensor) -> tuple[Tensor, ...]:
    """Regroups a search's rows so that each sentence attends over its memory once.

    Beam search keeps ``group`` consecutive rows per sentence (its beams), whose memory rows
    (keys, values, mask) are equal. Attending row by row runs ``rows`` matrix-vector products
    over ``group`` copies of each memory; this gives each block's queries together and its
    first memory row instead (strided views, no copy).

    Args:
        query: ``[rows, T, H]``; rows ``r`` and ``r'`` share memory if ``r // group ==
            r' // group``.
        group: Rows per block (1: nothing to regroup).
        memory: Tensors with ``rows`` leading rows.

    Returns:
        ``query`` as ``[rows // group, group * T, H]`` and each memory tensor's first row per
        block ``[rows // group, ...]``.
    """
    if group == 1:
        return (query, *memory)
    rows, length, width = query.shape
    return (query.reshape(rows // group, group * length, width), *(m[::group] for m in memory))


class DotScore(nn.Module):
    """Luong et al. (2015) "dot": ``score(h_t, h_s) = h_t . h_s``; needs equal sizes."""

    def project_keys(self, keys: Tensor) -> Tensor:
        return keys

    def forward(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        """``query [B, T, H] x proj_keys [B, S, H] -> scores [B, T, S]``."""
        return torch.bmm(query, proj_keys.transpose(1, 2))


class GeneralScore(nn.Module):
    """Luong et al. (2015) "general": ``score(h_t, h_s) = h_t . (W_a h_s)``."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # [B, S, query_size]

    def forward(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        return torch.bmm(query, proj_keys.transpose(1, 2))


class AdditiveScore(nn.Module):
    """Bahdanau et al. (2015): ``score(s, h) = v . tanh(W_q s + W_k h)``.

    Luong's "concat" score, ``v . tanh(W [s; h])``, is the same function with ``W`` split in
    two, so it uses this class too.
    """

    def __init__(self, query_size: int, key_size: int, attn_size: int) -> None:
        super().__init__()
        self.key_proj = nn.Linear(key_size, attn_size, bias=False)
        self.query_proj = nn.Linear(query_size, attn_size, bias=False)
        self.energy = nn.Linear(attn_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # [B, S, A]

    def forward(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        q = self.query_proj(query)  # [B, T, A]
        hidden = tanh(q[:, :, None, :] + proj_keys[:, None, :, :], overwrite=True)  # [B, T, S, A]
        return self.energy(hidden).squeeze(-1)  # [B, T, S]


class Attention(nn.Module):
    """Score, mask, softmax and weighted sum: the part every score function shares."""

    def __init__(self, score: DotScore | GeneralScore | AdditiveScore) -> None:
        super().__init__()
        self.score = score

    def project_keys(self, keys: Tensor) -> Tensor:
        """Precomputes the key side once per sentence: ``[B, S, H_enc] -> [B, S, *]``."""
        return self.score.project_keys(keys)

    def forward(
        self, query: Tensor, proj_keys: Tensor, values: Tensor, mask: Tensor, group: int = 1
    ) -> tuple[Tensor, Tensor]:
        """Attends from ``query`` ``[B, T, H_q]`` over ``values`` ``[B, S, H_enc]``.

        ``group``: rows per block with equal ``proj_keys``, ``values`` and ``mask`` rows
        (beam search's beams of a sentence, see :func:`per_block`); the result is the same.

        Returns:
            ``context`` ``[B, T, H_enc]`` and ``weights`` ``[B, T, S]`` (zero on padding).
        """
        rows, length = query.shape[:2]
        query, proj_keys, values, mask = per_block(query, group, proj_keys, values, mask)
        weights = masked_softmax(self.score(query, proj_keys), mask)
        context = torch.bmm(weights, values)  # [B, T, H_enc]
        return context.view(rows, length, -1), weights.view(rows, length, -1)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``[B, T, heads * d_head] -> [B, heads, T, d_head]``."""
    batch, length, width = x.shape
    return x.view(batch, length, heads, width // heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """``[B, heads, T, d_head] -> [B, T, heads * d_head]``."""
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)


def dot_product_attention(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    mask: Tensor | None = None,
    causal: bool = False,
    dropout: float = 0.0,
    need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Scaled dot-product attention per head (Vaswani et al. 2017, eq. 1).

    Without ``need_weights`` this is one fused call: a search step's few queries go to the
    native kernel of ``step_attention.py`` where it applies, everything else to
    ``scaled_dot_product_attention``. With it the same arithmetic is spelled out so the
    weights can be returned (plots, alignment).

    Args:
        query: ``[B, h, T, d_head]``; keys, values: ``[B, h, S, d_head]``.
        mask: Bool, broadcastable to ``[B, h, T, S]``, True where a query may look.
        causal: Query ``t`` sees keys ``<= t`` only (needs ``T == S``).
        dropout: Dropout on the attention weights (pass 0 in eval mode).

    Returns:
        Context ``[B, h, T, d_head]`` and, if asked, weights ``[B, h, T, S]``.
    """
    if not need_weights and not causal and dropout == 0.0:
        context = step_attention(query, keys, values, mask)  # a search step's native kernel
        if context is not None:
            return context, None
    if not need_weights:
        context = F.scaled_dot_product_attention(
            query, keys, values, attn_mask=mask, dropout_p=dropout, is_causal=causal
        )
        return context, None
    scores = query @ keys.transpose(-2, -1) * query.size(-1) ** -0.5  # [B, h, T, S]
    if causal:
        length = scores.size(-1)
        future = torch.ones(length, length, dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).to(values.dtype)
    context = apply_dropout(weights, dropout, training=True) @ values
    return context, weights


class MultiHeadAttention(nn.Module):
    """Attention from a query sequence over a memory in ``heads`` subspaces.

    The Transformer decoder's cross-attention, and ``model.attention: multihead`` for an RNN
    decoder. Keys and values are projected once per sentence (:meth:`project_keys`), packed as
    ``[B, heads, S, 2, d_head]`` so a decoder state can carry and reorder them as one tensor.
    In that order the key (or value) half of every head lies at one fixed stride from the
    previous head's, so the batched products of :func:`dot_product_attention` read the halves
    in place; with ``2`` before ``heads`` they had to copy the whole memory at every step.

    Args:
        query_size: Width of the queries; also the inner width (``heads * d_head``).
        key_size: Width of the memory (encoder states).
        heads: Number of heads; must divide ``query_size``.
        out_size: Width of the returned context (default ``query_size``).
        dropout: Dropout on the attention weights.
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        heads: int,
        out_size: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.query_proj = nn.Linear(query_size, query_size)
        self.key_value_proj = nn.Linear(key_size, 2 * query_size)
        self.out_proj = nn.Linear(query_size, out_size or query_size)

    def project_keys(self, keys: Tensor) -> Tensor:
        """``keys [B, S, key_size] -> [B, heads, S, 2, d_head]`` (keys and values packed)."""
        batch, length, _ = keys.shape
        packed = self.key_value_proj(keys).view(batch, length, 2, self.heads, -1)
        # Contiguous once per sentence, so no decoding step copies the strided view.
        return packed.permute(0, 3, 1, 2, 4).contiguous()

    def attend(
        self, query: Tensor, keys_values: Tensor, mask: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """``query [B, T, query_size]`` over the projected memory.

        Args:
            keys_values: From :meth:`project_keys`, ``[B, heads, S, 2, d_head]``.
            mask: ``[B, S]`` bool, True on real memory positions.

        Returns:
            Context ``[B, T, out_size]`` and, if asked, per-head weights ``[B, heads, T, S]``.
        """
        q = split_heads(self.query_proj(query), self.heads)
        context, weights = dot_product_attention(
            q,
            keys_values[..., 0, :],
            keys_values[..., 1, :],
            mask=mask[:, None, None, :],
            dropout=self.dropout if self.training else 0.0,
            need_weights=need_weights,
        )
        return self.out_proj(merge_heads(context)), weights

    def forward(
        self, query: Tensor, proj_keys: Tensor, values: Tensor, mask: Tensor, group: int = 1
    ) -> tuple[Tensor, Tensor]:
        """The :class:`Attention` interface for RNN decoders: context ``[B, T, out_size]`` and
        head-averaged weights ``[B, T, S]``; ``values`` is unused (they are in ``proj_keys``);
        ``group`` as for :class:`Attention`."""
        rows, length = query.shape[:2]
        query, proj_keys, mask = per_block(query, group, proj_keys, mask)
        context, weights = self.attend(query, proj_keys, mask, need_weights=True)
        return context.reshape(rows, length, -1), weights.mean(dim=1).view(rows, length, -1)


def build_attention(
    kind: str, query_size: int, key_size: int, heads: int = 1
) -> Attention | MultiHeadAttention | None:
    """Maps ``model.attention`` to a module; ``"none"`` gives None (a plain encoder-decoder)."""
    if kind == "none":
        return None
    if kind == "multihead":
        return MultiHeadAttention(query_size, key_size, heads, out_size=key_size)
    scores = {
        "bahdanau": lambda: AdditiveScore(query_size, key_size, query_size),
        "luong_dot": DotScore,
        "luong_general": lambda: GeneralScore(query_size, key_size),
        "luong_concat": lambda: AdditiveScore(query_size, key_size, query_size),
    }
    return Attention(scores[kind]())
