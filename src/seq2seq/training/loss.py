"""Token-level objective and metrics; padding never counts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class TokenStats:
    """Sums over a batch (or many): divide at the end so batches weigh by their tokens."""

    loss_sum: float = 0.0
    nll_sum: float = 0.0
    correct: int = 0
    tokens: int = 0

    def add(self, other: TokenStats) -> None:
        self.loss_sum += other.loss_sum
        self.nll_sum += other.nll_sum
        self.correct += other.correct
        self.tokens += other.tokens

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.tokens, 1)

    @property
    def perplexity(self) -> float:
        """``exp`` of the mean negative log-likelihood (without label smoothing)."""
        return float(torch.tensor(self.nll_sum / max(self.tokens, 1)).clamp(max=50).exp())

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.tokens, 1)


def sequence_loss(
    logits: Tensor, tgt_out: Tensor, pad_id: int, label_smoothing: float = 0.0
) -> tuple[Tensor, TokenStats]:
    """Summed cross-entropy over real target tokens, with optional label smoothing.

    Args:
        logits: ``[batch, tgt_len, vocab]``.
        tgt_out: ``[batch, tgt_len]`` gold ids, ``pad_id`` on padding.
        pad_id: Ignored positions.
        label_smoothing: Szegedy et al. (2016): mass spread uniformly over the vocabulary.

    Returns:
        The loss to back-propagate (a sum; the caller normalises by tokens) and its stats.
    """
    flat_logits = logits.reshape(-1, logits.size(-1)).float()
    flat_gold = tgt_out.reshape(-1)
    loss = F.cross_entropy(
        flat_logits,
        flat_gold,
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
        reduction="sum",
    )
    with torch.no_grad():
        real = flat_gold != pad_id
        nll = (
            loss
            if label_smoothing == 0.0
            else F.cross_entropy(flat_logits, flat_gold, ignore_index=pad_id, reduction="sum")
        )
        correct = ((flat_logits.argmax(-1) == flat_gold) & real).sum()
        stats = TokenStats(float(loss), float(nll), int(correct), int(real.sum()))
    return loss, stats
