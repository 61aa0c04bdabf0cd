"""Token-level objective and metrics; padding never counts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
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
    logits: Tensor, gold: Tensor, label_smoothing: float = 0.0
) -> tuple[Tensor, TokenStats]:
    """Summed cross-entropy over target tokens, with optional label smoothing.

    The caller passes real (unpadded) positions only: selecting them *before* the output layer
    saves the largest matmul on padding, and leaves nothing to mask here. The log-softmax is
    computed once and shared by the loss, the plain negative log-likelihood (for perplexity)
    and the accuracy: over an 8k vocabulary it is the costliest part of the loss.

    Args:
        logits: ``[tokens, vocab]``.
        gold: ``[tokens]`` gold ids.
        label_smoothing: Szegedy et al. (2016): a share ``eps`` of the target mass spread
            uniformly over the vocabulary, ``(1 - eps) * nll + eps * mean_v(-log p_v)``
            (the same definition as ``torch.nn.functional.cross_entropy``).

    Returns:
        The loss to back-propagate (a sum; the caller normalises by tokens) and its stats.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)  # [tokens, V]
    nll = -log_probs.gather(1, gold[:, None]).squeeze(1)  # [tokens]
    if label_smoothing > 0.0:
        smooth = -log_probs.mean(dim=-1)
        loss = ((1.0 - label_smoothing) * nll + label_smoothing * smooth).sum()
    else:
        loss = nll.sum()
    with torch.no_grad():
        correct = int((log_probs.argmax(-1) == gold).sum())
        stats = TokenStats(float(loss), float(nll.sum()), correct, int(gold.numel()))
    return loss, stats
