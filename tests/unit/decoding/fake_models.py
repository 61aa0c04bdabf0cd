"""Tiny deterministic models that speak the model contract, for testing search in isolation.

Target ids: BOS = 0, EOS = 1, ordinary tokens from 2. Source id 0 is padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seq2seq.models.contract import EncoderOutput

BOS = 0
EOS = 1
PAD = 0
HISTORY_BUCKETS = 5


@dataclass(frozen=True)
class CounterState:
    """Decoding state: the step number and the sum of the tokens fed so far, both ``[batch]``."""

    step: Tensor
    token_sum: Tensor

    def select(self, indices: Tensor) -> CounterState:
        return CounterState(
            self.step.index_select(0, indices), self.token_sum.index_select(0, indices)
        )

    def advance(self, prev_tokens: Tensor) -> CounterState:
        return CounterState(self.step + 1, self.token_sum + prev_tokens)


def _encode_embedded(embed: Tensor, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
    """Source embeddings ``[batch, src_len, hidden]`` zeroed on padding, masked-mean summary."""
    mask = torch.arange(src.size(1)).unsqueeze(0) < src_lengths.unsqueeze(1)  # [batch, src_len]
    states = embed[src] * mask.unsqueeze(-1)
    summary = states.sum(1) / src_lengths.unsqueeze(1).float()  # [batch, hidden]
    return EncoderOutput(states=states, mask=mask, final_hidden=summary.unsqueeze(0))


class MarkovModel:
    """log_probs = log_softmax(transition[prev] + source bias + history[token_sum] + EOS ramp).

    The history term depends on every token fed so far, so a search that forgets
    ``state.select`` after reordering beams gets different log-probs. Attention is a softmax
    over the real source positions (padding masked) that depends on the previous token.
    """

    def __init__(
        self, *, src_vocab: int = 7, tgt_vocab: int = 6, hidden: int = 4, seed: int = 0
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.src_embed = torch.randn(src_vocab, hidden, generator=gen)
        self.bias_proj = torch.randn(hidden, tgt_vocab, generator=gen)
        self.transition = 2.0 * torch.randn(tgt_vocab, tgt_vocab, generator=gen)  # [prev, next]
        self.history = torch.randn(HISTORY_BUCKETS, tgt_vocab, generator=gen)
        self.queries = torch.randn(tgt_vocab, hidden, generator=gen)
        self.eos_ramp = 0.6  # EOS grows likelier with every step, so hypotheses do end

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        return _encode_embedded(self.src_embed, src, src_lengths)

    def init_state(self, enc: EncoderOutput) -> CounterState:
        zeros = torch.zeros(enc.states.size(0), dtype=torch.long)
        return CounterState(zeros, zeros.clone())

    def decode_step(
        self, prev_tokens: Tensor, state: CounterState, enc: EncoderOutput, attention: bool = True
    ) -> tuple[Tensor, CounterState, Tensor]:
        """Returns its attention whether asked or not (search drops what it did not ask for)."""
        logits = (
            self.transition[prev_tokens]
            + enc.final_hidden[0] @ self.bias_proj
            + self.history[state.token_sum % HISTORY_BUCKETS]
        )  # [batch, vocab]
        logits[:, EOS] += self.eos_ramp * state.step
        scores = (enc.states * self.queries[prev_tokens].unsqueeze(1)).sum(-1)  # [batch, src_len]
        attn = scores.masked_fill(~enc.mask, float("-inf")).softmax(-1)
        return logits.log_softmax(-1), state.advance(prev_tokens), attn


class TableModel:
    """Hand-made Markov chain: ``probs[prev]`` is the next-token distribution; no attention."""

    def __init__(self, probs: list[list[float]]) -> None:
        self.log_table = torch.tensor(probs).log()  # [prev, next]

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        return _encode_embedded(torch.ones(int(src.max()) + 1, 1), src, src_lengths)

    def init_state(self, enc: EncoderOutput) -> CounterState:
        zeros = torch.zeros(enc.states.size(0), dtype=torch.long)
        return CounterState(zeros, zeros.clone())

    def decode_step(
        self, prev_tokens: Tensor, state: CounterState, enc: EncoderOutput, attention: bool = True
    ) -> tuple[Tensor, CounterState, None]:
        return self.log_table[prev_tokens], state.advance(prev_tokens), None


def score_sequence(
    model: MarkovModel, src: Tensor, produced: list[int]
) -> tuple[list[float], Tensor]:
    """Teacher-forces ``produced`` (EOS included if any) for the single unpadded source ``src``
    ``[src_len]``; returns the per-token log-probs and the attention ``[len(produced), src_len]``.
    """
    src = src.unsqueeze(0)
    enc = model.encode(src, torch.tensor([src.size(1)]))
    state = model.init_state(enc)
    prev = torch.tensor([BOS])
    token_log_probs, attns = [], []
    for token in produced:
        log_probs, state, attn = model.decode_step(prev, state, enc)
        token_log_probs.append(float(log_probs[0, token]))
        attns.append(attn[0])
        prev = torch.tensor([token])
    return token_log_probs, torch.stack(attns) if attns else torch.zeros(0, src.size(1))
