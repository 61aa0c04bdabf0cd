"""Token-level objective and metrics; padding never counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    saves the largest matmul on padding, and leaves nothing to mask here. Over an 8k vocabulary
    ``[tokens, vocab]`` is the largest tensor of a step, so the loss is one autograd node
    (:class:`_SmoothedCrossEntropy`) that passes over it a few times, and the accuracy compares
    the gold log-prob with the row maximum (an ``amax``, vectorised) instead of an arg-max.

    Args:
        logits: ``[tokens, vocab]``.
        gold: ``[tokens]`` gold ids.
        label_smoothing: Szegedy et al. (2016): a share ``eps`` of the target mass spread
            uniformly over the vocabulary, ``(1 - eps) * nll + eps * mean_v(-log p_v)``
            (the same definition as ``torch.nn.functional.cross_entropy``).

    Returns:
        The loss to back-propagate (a sum; the caller normalises by tokens) and its stats.
    """
    per_token, nll, best = _SmoothedCrossEntropy.apply(logits.float(), gold, label_smoothing)
    loss = per_token.sum()
    with torch.no_grad():
        correct = int((-nll >= best).sum())  # the gold token is (one of) the most probable
        stats = TokenStats(float(loss), float(nll.sum()), correct, int(gold.numel()))
    return loss, stats


class _SmoothedCrossEntropy(torch.autograd.Function):
    """Per-token label-smoothed cross-entropy ``[tokens]`` with a hand-written gradient.

    Forward: ``log p = log_softmax(z)``; loss ``(1 - eps) * -log p[gold] + eps * mean(-log p)``.
    Backward: ``d loss / d z = softmax(z) - ((1 - eps) * onehot(gold) + eps / V)``, computed
    in place from the saved log-probs: three passes over ``[tokens, vocab]`` where autograd's
    chain (log-softmax, gather, mean) takes about eight. Also returns the plain NLL and the row
    maximum of ``log p`` (both without gradient) for the stats.
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, gold: Tensor, eps: float) -> tuple[Tensor, ...]:
        log_probs = torch.log_softmax(logits, dim=-1)  # [tokens, V]
        nll = -log_probs.gather(1, gold[:, None]).squeeze(1)  # [tokens]
        per_token = nll.clone() if eps == 0.0 else (1.0 - eps) * nll - eps * log_probs.mean(dim=-1)
        ctx.save_for_backward(log_probs, gold)
        ctx.eps = eps
        best = log_probs.amax(dim=-1)
        ctx.mark_non_differentiable(nll, best)
        return per_token, nll, best

    @staticmethod
    def backward(ctx: Any, grad: Tensor, *_unused: Tensor) -> tuple[Tensor, None, None]:
        log_probs, gold = ctx.saved_tensors
        eps, vocab = ctx.eps, log_probs.size(-1)
        probs = log_probs.exp_()  # the saved tensor is used once: reuse its memory
        if eps:
            probs.sub_(eps / vocab)
        probs.scatter_add_(1, gold[:, None], probs.new_full((gold.numel(), 1), eps - 1.0))
        return probs.mul_(grad[:, None]), None, None
