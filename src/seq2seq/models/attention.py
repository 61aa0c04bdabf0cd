"""Attention over encoder states: additive (Bahdanau) and multiplicative (Luong) scores.

A decoder asks "which source positions matter for this target step?": a score function rates
each encoder state against the decoder's query, a softmax over the real (unpadded) positions
turns scores into weights, and the weighted sum of encoder states is the context vector.

Keys are projected once per sentence (``project_keys``) and carried in the decoder state, so a
decoding step costs only the query side.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


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
        hidden = torch.tanh(q[:, :, None, :] + proj_keys[:, None, :, :])  # [B, T, S, A]
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
        self, query: Tensor, proj_keys: Tensor, values: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Attends from ``query`` ``[B, T, H_q]`` over ``values`` ``[B, S, H_enc]``.

        Returns:
            ``context`` ``[B, T, H_enc]`` and ``weights`` ``[B, T, S]`` (zero on padding).
        """
        weights = masked_softmax(self.score(query, proj_keys), mask)
        context = torch.bmm(weights, values)  # [B, T, H_enc]
        return context, weights


def build_attention(kind: str, query_size: int, key_size: int) -> Attention | None:
    """Maps ``model.attention`` to a module; ``"none"`` gives None (a plain encoder-decoder)."""
    if kind == "none":
        return None
    scores = {
        "bahdanau": lambda: AdditiveScore(query_size, key_size, query_size),
        "luong_dot": DotScore,
        "luong_general": lambda: GeneralScore(query_size, key_size),
        "luong_concat": lambda: AdditiveScore(query_size, key_size, query_size),
    }
    return Attention(scores[kind]())
