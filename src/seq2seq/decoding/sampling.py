"""Sampling: draw each next token from the model's distribution instead of taking the best.

Where beam search looks for the single most probable output, sampling gives varied outputs
(back-translation, data augmentation, diverse candidates for MBR decoding). The distribution
can be sharpened or flattened by a temperature and cut to its ``top_k`` tokens or its smallest
set of tokens whose mass reaches ``top_p`` (nucleus sampling, Holtzman et al. 2020). A seeded
``torch.Generator`` makes every draw reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from seq2seq.decoding.greedy import most_probable, one_token_at_a_time
from seq2seq.decoding.rules import StepRule
from seq2seq.decoding.search import Hypothesis, check_search_inputs
from seq2seq.models.contract import SearchableModel


def filtered_log_probs(log_probs: Tensor, temperature: float, top_k: int, top_p: float) -> Tensor:
    """The distribution sampling draws from, as log-probs ``[batch, vocab]``.

    Args:
        log_probs: The model's log-probs ``[batch, vocab]``.
        temperature: Divides the logits: below 1 sharpens, above 1 flattens.
        top_k: Keep only the ``k`` most probable tokens (0 = all).
        top_p: Keep the most probable tokens until their mass reaches ``top_p`` (1 = all);
            the most probable token is always kept.
    """
    # Shifted so each row's best token sits at 0 first (the softmax is unchanged by the
    # shift): a tiny temperature then sends the others to -inf, not every entry (NaN).
    best = log_probs.amax(dim=-1, keepdim=True)
    scaled = torch.log_softmax((log_probs - best) / temperature, dim=-1)
    if 0 < top_k < scaled.size(-1):
        kth = scaled.topk(top_k, dim=-1).values[:, -1:]  # [batch, 1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if top_p < 1.0:
        sorted_log_probs, order = scaled.sort(dim=-1, descending=True)
        mass_before = sorted_log_probs.exp().cumsum(dim=-1) - sorted_log_probs.exp()
        drop_sorted = mass_before >= top_p  # the token that crosses top_p is kept
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        scaled = scaled.masked_fill(drop, float("-inf"))
    return torch.log_softmax(scaled, dim=-1)


@torch.no_grad()
def sample_search(
    model: SearchableModel,
    src: Tensor,
    src_lengths: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_lengths: Tensor,
    num_samples: int = 1,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    rules: Sequence[StepRule] = (),
    attention: bool = True,
) -> list[list[Hypothesis]]:
    """Draws ``num_samples`` outputs per row.

    Temperature 0 means no randomness: every sample is the greedy output.

    Args:
        model, src, src_lengths, bos_id, eos_id, max_lengths, attention: As for greedy
            search.
        num_samples: Samples per row.
        temperature, top_k, top_p: See :func:`filtered_log_probs`.
        generator: Source of randomness (seed it for reproducible samples).
        rules: Step rules (``rules.py``) applied before filtering; a forbidden token is
            never drawn.

    Returns:
        Per row, ``num_samples`` hypotheses in draw order; each scored by the model's own
        log-prob of the sampled tokens.
    """
    rows = torch.arange(src.size(0), device=src.device).repeat_interleave(num_samples)

    def draw(log_probs: Tensor) -> tuple[Tensor, Tensor]:
        if temperature == 0:
            return most_probable(log_probs)
        filtered = filtered_log_probs(log_probs, temperature, top_k, top_p)
        tokens = torch.multinomial(filtered.exp().float(), 1, generator=generator).squeeze(1)
        return tokens, log_probs.gather(1, tokens[:, None]).squeeze(1)

    max_lengths = check_search_inputs(src, src_lengths, max_lengths)  # [batch], on src's device
    hyps = one_token_at_a_time(
        model,
        src[rows],
        src_lengths[rows],
        bos_id=bos_id,
        eos_id=eos_id,
        max_lengths=max_lengths[rows],
        choose=draw,
        rules=rules,
        batch_rows=rows,
        attention=attention,
    )
    return [hyps[i : i + num_samples] for i in range(0, len(hyps), num_samples)]
