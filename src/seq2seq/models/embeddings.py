"""Token positions for the Transformer, and the scaled, position-aware input it reads.

Self-attention is blind to order, so a Transformer adds a position vector to each token
embedding: either the fixed sinusoids of Vaswani et al. (2017), which extend to any length, or
a learned table (BERT, fairseq's ``learned_pos``), which is bounded by ``max_positions``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seq2seq.errors import InputError
from seq2seq.models.dropout import Dropout


def sinusoidal_table(length: int, dim: int) -> Tensor:
    """``[length, dim]``: ``sin(pos / 10000^(2i/dim))`` in the first half, ``cos`` in the second.

    Concatenated halves (as in tensor2tensor and fairseq) rather than interleaved: the same
    family of functions, and cheaper to build.
    """
    half = dim // 2
    step = math.log(10000.0) / max(half - 1, 1)
    rates = torch.exp(torch.arange(half, dtype=torch.float) * -step)  # [half]
    angles = torch.arange(length, dtype=torch.float)[:, None] * rates[None, :]  # [length, half]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    return nn.functional.pad(table, (0, dim - 2 * half))  # an odd dim gets a zero column


class SinusoidalPositions(nn.Module):
    """Fixed positions; the table is a non-persistent buffer, so checkpoints do not hold it."""

    def __init__(self, dim: int, max_positions: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("table", sinusoidal_table(max_positions, dim), persistent=False)

    def forward(self, start: int, length: int) -> Tensor:
        """Position vectors ``[length, dim]`` for positions ``start .. start + length - 1``."""
        if start + length > self.table.size(0):  # longer than ever seen: extend, no error
            return sinusoidal_table(start + length, self.dim).to(self.table)[start:]
        return self.table[start : start + length]


class LearnedPositions(nn.Module):
    """A trained ``[max_positions, dim]`` table; longer sequences are an input error."""

    def __init__(self, dim: int, max_positions: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_positions, dim)
        nn.init.normal_(self.table.weight, mean=0.0, std=dim**-0.5)

    def forward(self, start: int, length: int) -> Tensor:
        limit = self.table.num_embeddings
        if start + length > limit:
            raise InputError(
                f"a sequence of {start + length} tokens is longer than the learned positions "
                f"cover (max_positions: {limit}); use positions: sinusoidal or shorter input"
            )
        return self.table.weight[start : start + length]


class PositionalInput(nn.Module):
    """Embedded tokens -> ``embedded * sqrt(d) + position`` -> dropout.

    With our ``N(0, 1/d)`` embedding initialisation, the ``sqrt(d)`` scale brings token vectors
    to unit variance, the same magnitude as the sinusoids they are added to.

    Args:
        dim: d_model.
        positions: ``"sinusoidal"`` or ``"learned"``.
        max_positions: Size of the position table.
        scale: Multiply embeddings by ``sqrt(dim)``.
        dropout: Applied to the sum.
    """

    def __init__(
        self, dim: int, positions: str, max_positions: int, scale: bool, dropout: float
    ) -> None:
        super().__init__()
        tables = {"sinusoidal": SinusoidalPositions, "learned": LearnedPositions}
        self.positions = tables[positions](dim, max_positions)
        self.scale = math.sqrt(dim) if scale else 1.0
        self.dropout = Dropout(dropout)

    def forward(self, embedded: Tensor, start: int = 0) -> Tensor:
        """``embedded [B, T, d]`` at positions ``start ..`` -> ``[B, T, d]``."""
        positions = self.positions(start, embedded.size(1)).to(embedded.dtype)
        return self.dropout(embedded * self.scale + positions[None])
