"""Greedy search: at every step take the single most probable next token.

The cheapest search over the model contract (``encode`` once, then ``decode_step`` per target
position); it is also the reference beam search must reproduce at ``beam_size=1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from seq2seq.decoding.rules import StepRule, apply_rules
from seq2seq.decoding.search import (
    Hypothesis,
    append_attention,
    check_search_inputs,
    make_hypothesis,
    mask_bos,
)
from seq2seq.models.contract import SearchableModel

TokenChooser = Callable[[Tensor], tuple[Tensor, Tensor]]
"""``log_probs [batch, vocab] -> (tokens [batch], their log-probs [batch])``."""


def most_probable(log_probs: Tensor) -> tuple[Tensor, Tensor]:
    """The greedy choice: the arg-max token of each row and its log-prob."""
    best_log_probs, tokens = log_probs.max(dim=-1)
    return tokens, best_log_probs


@torch.no_grad()
def greedy_search(
    model: SearchableModel,
    src: Tensor,
    src_lengths: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_lengths: Tensor,
    rules: Sequence[StepRule] = (),
) -> list[Hypothesis]:
    """Decodes every row by repeatedly taking the arg-max token (BOS is never produced).

    All rows advance together; a row stops growing once it produces EOS or reaches its
    maximum length, and the loop ends when every row has stopped.

    Args:
        model: Any model speaking the contract in ``seq2seq.models.contract``.
        src: Padded source ids ``[batch, src_len]``.
        src_lengths: True source lengths ``[batch]``.
        bos_id: Id fed as the first previous token.
        eos_id: Id that ends a hypothesis.
        max_lengths: ``[batch]`` most tokens to produce per row, EOS included.
        rules: Step rules (``rules.py``: minimum length, no repeated n-grams) that forbid
            tokens before the arg-max is taken.

    Returns:
        One :class:`Hypothesis` per row, in input order (``score == log_prob``).
    """
    return one_token_at_a_time(
        model,
        src,
        src_lengths,
        bos_id=bos_id,
        eos_id=eos_id,
        max_lengths=max_lengths,
        choose=most_probable,
        rules=rules,
    )


@torch.no_grad()
def one_token_at_a_time(
    model: SearchableModel,
    src: Tensor,
    src_lengths: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_lengths: Tensor,
    choose: TokenChooser,
    rules: Sequence[StepRule] = (),
    batch_rows: Tensor | None = None,
) -> list[Hypothesis]:
    """One hypothesis per row, extended by ``choose`` at every step (greedy and sampling).

    ``choose`` sees the model's log-probs with BOS masked out and the tokens ``rules`` forbid
    at -inf; the hypothesis records the model's log-prob of the chosen token, whatever
    chose it. ``batch_rows`` ``[batch]`` maps each row to the input row the rules' per-input
    settings refer to (default: itself; sampling repeats each input row).
    """
    max_lengths = check_search_inputs(src, src_lengths, max_lengths)
    batch, src_len = src.shape
    device = src.device
    if batch_rows is None:
        batch_rows = torch.arange(batch, device=device)
    enc = model.encode(src, src_lengths)
    state = model.init_state(enc)
    prev_tokens = torch.full((batch,), bos_id, dtype=torch.long, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)  # tokens produced so far
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    tokens = torch.zeros(batch, 0, dtype=torch.long, device=device)  # [batch, step]
    token_log_probs = torch.zeros(batch, 0, device=device)  # [batch, step]
    attention: Tensor | None = torch.zeros(batch, 0, src_len, device=device)
    for step in range(int(max_lengths.max()) if batch else 0):
        live = ~finished & (step < max_lengths)  # [batch]
        if not bool(live.any()):
            break
        log_probs, state, attn = model.decode_step(prev_tokens, state, enc)
        allowed = apply_rules(rules, mask_bos(log_probs, bos_id), tokens, batch_rows, eos_id)
        prev_tokens, chosen_log_probs = choose(allowed)  # [batch] each
        lengths += live
        finished |= live & (prev_tokens == eos_id)
        tokens = torch.cat([tokens, prev_tokens.unsqueeze(1)], 1)
        token_log_probs = torch.cat([token_log_probs, chosen_log_probs.unsqueeze(1)], 1)
        attention = append_attention(attention, attn)
    return [
        make_hypothesis(
            tokens[row, :length].cpu(),
            token_log_probs[row, :length].cpu(),
            None if attention is None else attention[row, :length, :src_length].float().cpu(),
            finished=bool(finished[row]),
            alpha=0.0,
        )
        for row, (length, src_length) in enumerate(
            zip(lengths.tolist(), src_lengths.tolist(), strict=True)
        )
    ]
