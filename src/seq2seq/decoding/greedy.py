"""Greedy search: at every step take the single most probable next token.

The cheapest search over the model contract (``encode`` once, then ``decode_step`` per target
position); it is also the reference beam search must reproduce at ``beam_size=1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from seq2seq.decoding.best_tokens import row_max
from seq2seq.decoding.rules import StepRule, apply_rules
from seq2seq.decoding.search import (
    Hypothesis,
    check_search_inputs,
    make_hypothesis,
    mask_bos,
    search_step,
    worth_compacting,
)
from seq2seq.models.contract import SearchableModel

TokenChooser = Callable[[Tensor], tuple[Tensor, Tensor]]
"""``log_probs [batch, vocab] -> (tokens [batch], their log-probs [batch])``."""


def most_probable(log_probs: Tensor) -> tuple[Tensor, Tensor]:
    """The greedy choice: the arg-max token of each row and its log-prob."""
    best_log_probs, tokens = row_max(log_probs)
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
    attention: bool = True,
) -> list[Hypothesis]:
    """Decodes every row by repeatedly taking the arg-max token (BOS is never produced).

    All rows advance together; a row stops growing once it produces EOS or reaches its
    maximum length, and the loop ends when every row has stopped. Stopped rows leave the
    model's batch (``DecoderState.select``) once they are an eighth of it, so later steps
    compute only the rows still growing (as CTranslate2 does).

    Args:
        model: Any model speaking the contract in ``seq2seq.models.contract``.
        src: Padded source ids ``[batch, src_len]``.
        src_lengths: True source lengths ``[batch]``.
        bos_id: Id fed as the first previous token.
        eos_id: Id that ends a hypothesis.
        max_lengths: ``[batch]`` most tokens to produce per row, EOS included.
        rules: Step rules (``rules.py``: minimum length, no repeated n-grams) that forbid
            tokens before the arg-max is taken.
        attention: Keep each token's attention over the source (``Hypothesis.attention``);
            without it the model may skip computing the weights.

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
        attention=attention,
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
    attention: bool = True,
) -> list[Hypothesis]:
    """One hypothesis per row, extended by ``choose`` at every step (greedy and sampling).

    ``choose`` sees the model's log-probs with BOS masked out and the tokens ``rules`` forbid
    at -inf; the hypothesis records the model's log-prob of the chosen token, whatever
    chose it. ``batch_rows`` ``[batch]`` maps each row to the input row the rules' per-input
    settings refer to (default: itself; sampling repeats each input row). ``attention``: keep
    each token's attention (``Hypothesis.attention``), as for :func:`greedy_search`.
    """
    max_lengths = check_search_inputs(src, src_lengths, max_lengths)
    batch, src_len = src.shape
    device = src.device
    if batch_rows is None:
        batch_rows = torch.arange(batch, device=device)
    enc = model.encode(src, src_lengths)
    state = model.init_state(enc)
    steps = int(max_lengths.max()) if batch else 0
    # Per input row, everything produced so far (filler past each row's length).
    tokens = torch.zeros(batch, steps, dtype=torch.long, device=device)
    token_log_probs = torch.zeros(batch, steps, device=device)
    attention_so_far: Tensor | None = (
        torch.zeros(batch, steps, src_len, device=device) if attention else None
    )
    lengths = torch.zeros(batch, dtype=torch.long, device=device)  # tokens produced so far
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    rows = torch.arange(batch, device=device)  # the input rows still in the model's batch
    prev_tokens = torch.full((batch,), bos_id, dtype=torch.long, device=device)
    for step in range(steps):
        live = ~finished[rows] & (step < max_lengths[rows])  # [rows]
        if not bool(live.any()):
            break
        if worth_compacting(live):  # drop rows that have stopped from the model's batch
            keep = live.nonzero().squeeze(1)
            state, enc = state.select(keep), enc.select(keep)
            rows, prev_tokens, live = rows[keep], prev_tokens[keep], live[keep]
        everyone = rows.numel() == batch  # then plain slices, no gathers
        log_probs, state, attn = search_step(model, prev_tokens, state, enc, attention)
        history = tokens[:, :step] if everyone else tokens[rows, :step]
        allowed = apply_rules(rules, mask_bos(log_probs, bos_id), history, batch_rows[rows], eos_id)
        prev_tokens, chosen_log_probs = choose(allowed)  # [rows] each
        at: slice | Tensor = slice(None) if everyone else rows
        lengths[at] += live
        finished[at] |= live & (prev_tokens == eos_id)
        tokens[at, step] = prev_tokens
        token_log_probs[at, step] = chosen_log_probs
        if attention_so_far is not None and attn is None:  # an attention-free model
            attention_so_far = None
        elif attention_so_far is not None and attn is not None:
            attention_so_far[at, step] = attn.to(attention_so_far.dtype)
    return [
        make_hypothesis(
            tokens[row, :length].cpu(),
            token_log_probs[row, :length].cpu(),
            None
            if attention_so_far is None
            else attention_so_far[row, :length, :src_length].float().cpu(),
            finished=bool(finished[row]),
            alpha=0.0,
        )
        for row, (length, src_length) in enumerate(
            zip(lengths.tolist(), src_lengths.tolist(), strict=True)
        )
    ]
