"""Losses for pointer-generator and coverage models (See et al. 2017, sec. 2.2-2.3).

A copy model's outputs are already log-probs over the extended vocabulary (see
:mod:`seq2seq.models.pointer`), so the negative log-likelihood is a gather; label smoothing
spreads its share over the fixed vocabulary only (the extension differs per sentence). The
coverage loss ``sum_t sum_i min(a_t,i, c_t,i)`` (eq. 12) penalises attending again to source
positions already covered, weighted by ``train.coverage_loss_weight``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seq2seq.data.batching import Batch
from seq2seq.models.seq2seq import Seq2Seq
from seq2seq.training.loss import TokenStats, sequence_loss


def copy_sequence_loss(
    log_probs: Tensor, gold: Tensor, vocab_size: int, label_smoothing: float = 0.0
) -> tuple[Tensor, TokenStats]:
    """Summed negative log-likelihood of ``gold`` under extended-vocabulary log-probs.

    Args:
        log_probs: ``[tokens, V + X]`` (``-inf`` on other sentences' extended ids).
        gold: ``[tokens]`` gold ids, extended ids included.
        vocab_size: ``V``: label smoothing averages over these columns (all finite).
        label_smoothing: Share ``eps`` of the target mass spread uniformly over ``V``.

    Returns:
        The loss (a sum) and its stats, as :func:`seq2seq.training.loss.sequence_loss`.
    """
    log_probs = log_probs.float()
    nll = -log_probs.gather(1, gold[:, None]).squeeze(1)  # [tokens]
    loss = nll.sum()
    if label_smoothing > 0.0:
        smooth = -log_probs[:, :vocab_size].mean(dim=-1)
        loss = ((1.0 - label_smoothing) * nll + label_smoothing * smooth).sum()
    with torch.no_grad():
        correct = int((log_probs.argmax(-1) == gold).sum())
        stats = TokenStats(float(loss), float(nll.sum()), correct, int(gold.numel()))
    return loss, stats


def coverage_loss(attn: Tensor, real: Tensor) -> Tensor:
    """``sum_t sum_i min(a_t,i, c_t,i)`` over real target steps (See et al., eq. 12).

    Args:
        attn: Attention ``[B, T, S]`` of each target step (zero on source padding).
        real: ``[B, T]`` bool, True on real (unpadded) target steps.

    Returns:
        A scalar sum (the caller normalises by target tokens, as for the NLL).
    """
    attn = attn.float()
    coverage = attn.cumsum(dim=1) - attn  # c_t = sum_{t' < t} a_t'  [B, T, S]
    per_step = torch.minimum(attn, coverage).sum(dim=-1)  # [B, T]
    return per_step[real].sum()


def pointer_batch_loss(
    model: Seq2Seq, batch: Batch, label_smoothing: float = 0.0, coverage_weight: float = 0.0
) -> tuple[Tensor, TokenStats]:
    """Loss of a batch for a copy and/or coverage model: NLL (+ weighted coverage loss).

    The reported ``loss`` includes the coverage term; ``ppl`` stays the NLL's.
    """
    scores, attn = model(batch.src, batch.src_lengths, batch.tgt_in)  # [B, T, V(+X)]
    real = batch.tgt_out != batch.pad_id  # [B, T]
    gold = batch.tgt_out[real]
    if model.pointer is None:
        loss, stats = sequence_loss(scores[real], gold, label_smoothing)
    else:
        vocab_size = model.generator.out_features
        loss, stats = copy_sequence_loss(scores[real], gold, vocab_size, label_smoothing)
    if coverage_weight > 0.0 and attn is not None:
        penalty = coverage_weight * coverage_loss(attn, real)
        loss = loss + penalty
        stats.loss_sum += float(penalty.detach())
    return loss, stats
