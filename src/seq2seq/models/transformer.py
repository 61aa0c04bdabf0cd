"""Transformer encoder and decoder (Vaswani et al. 2017), pre- or post-norm.

Encoder: embedded source ``[B, S, d]`` -> scale + positions -> N x (self-attention,
feed-forward) -> states ``[B, S, d]`` and a mean-pooled summary ``[1, B, d]`` that an RNN
decoder's bridge can start from.

Decoder: embedded target ``[B, T, d]`` -> N x (causal self-attention, cross-attention over the
encoder states, feed-forward) -> ``[B, T, d]``. Its :class:`TransformerDecoderState` holds the
key/value cache: the self-attention keys and values of every target position decoded so far,
and the cross-attention keys and values computed once per sentence. A search step therefore
runs one position through the stack instead of the whole prefix, and ``select`` reorders the
cache for beams. Teacher-forced training is the same code with an empty cache and ``T`` > 1.

Pre-norm (``x + f(LN(x))``, plus a final LN) trains stably without careful warm-up; post-norm
(``LN(x + f(x))``) is the original paper's arrangement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.models.attention import (
    MultiHeadAttention,
    dot_product_attention,
    merge_heads,
)
from seq2seq.models.contract import EncoderOutput, sentence_blocks
from seq2seq.models.dropout import Dropout
from seq2seq.models.embeddings import PositionalInput

WeightsOf = Literal["all", "last", "none"]  # decoder layers whose cross-attention is returned


@dataclass(frozen=True)
class TransformerShape:
    """The hyper-parameters every Transformer layer of one stack shares."""

    d_model: int
    heads: int
    ff_size: int
    dropout: float
    attention_dropout: float
    activation: str
    pre_norm: bool


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused query/key/value projection.

    Keys and values of earlier positions may be passed in (the decoder's cache); the new
    positions' keys and values are appended and returned so the caller can keep them.
    """

    def __init__(self, shape: TransformerShape) -> None:
        super().__init__()
        self.heads, self.dropout = shape.heads, shape.attention_dropout
        self.qkv_proj = nn.Linear(shape.d_model, 3 * shape.d_model)
        self.out_proj = nn.Linear(shape.d_model, shape.d_model)

    def forward(
        self,
        x: Tensor,
        *,
        key_mask: Tensor | None = None,
        causal: bool = False,
        past: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Attends from ``x`` ``[B, T, d]`` over itself (and ``past``).

        Args:
            key_mask: ``[B, T]`` bool, True on real tokens (encoder padding).
            causal: Each position sees itself and earlier positions only (decoder).
            past: Cached keys and values ``[B, heads, t, d_head]`` of positions before ``x``.

        Returns:
            ``[B, T, d]`` and the keys/values of all positions seen ``[B, heads, t + T, d_head]``.
        """
        batch, length, _ = x.shape
        # [B, T, 3 * d] -> three [B, heads, T, d_head] views: one reshape, no copy per part.
        qkv = self.qkv_proj(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        if past is not None and past[0].size(2) > 0:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            if causal and x.size(1) > 1:  # several new positions after a cached prefix
                offset = k.size(2) - x.size(1)
                mask = torch.ones(x.size(1), k.size(2), dtype=torch.bool, device=x.device)
                mask = mask.tril(diagonal=offset)
            causal = False  # one new position may see every cached one
        context, _ = dot_product_attention(
            q,
            k,
            v,
            mask=mask,
            causal=causal and x.size(1) > 1,
            dropout=self.dropout if self.training else 0.0,
        )
        return self.out_proj(merge_heads(context)), (k, v)


class FeedForward(nn.Module):
    """``W_2 drop(act(W_1 x))``: the position-wise ``d -> ff -> d`` network."""

    def __init__(self, shape: TransformerShape) -> None:
        super().__init__()
        self.inner = nn.Linear(shape.d_model, shape.ff_size)
        self.outer = nn.Linear(shape.ff_size, shape.d_model)
        self.activation = {"relu": F.relu, "gelu": F.gelu}[shape.activation]
        self.dropout = Dropout(shape.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.outer(self.dropout(self.activation(self.inner(x))))


class _Block(nn.Module):
    """Residual connections around sublayers, with the norm before (pre) or after (post)."""

    def __init__(self, shape: TransformerShape, sublayers: int) -> None:
        super().__init__()
        self.pre_norm = shape.pre_norm
        self.norms = nn.ModuleList(nn.LayerNorm(shape.d_model) for _ in range(sublayers))
        self.dropout = Dropout(shape.dropout)

    def _input(self, x: Tensor, i: int) -> Tensor:
        return self.norms[i](x) if self.pre_norm else x

    def _residual(self, x: Tensor, out: Tensor, i: int) -> Tensor:
        x = x + self.dropout(out)
        return x if self.pre_norm else self.norms[i](x)


class EncoderLayer(_Block):
    def __init__(self, shape: TransformerShape) -> None:
        super().__init__(shape, sublayers=2)
        self.self_attention = SelfAttention(shape)
        self.feed_forward = FeedForward(shape)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x [B, S, d]``, ``mask [B, S]`` -> ``[B, S, d]``."""
        attended, _ = self.self_attention(self._input(x, 0), key_mask=mask)
        x = self._residual(x, attended, 0)
        return self._residual(x, self.feed_forward(self._input(x, 1)), 1)


class DecoderLayer(_Block):
    def __init__(self, shape: TransformerShape, memory_size: int) -> None:
        super().__init__(shape, sublayers=3)
        self.self_attention = SelfAttention(shape)
        self.cross_attention = MultiHeadAttention(
            shape.d_model, memory_size, shape.heads, dropout=shape.attention_dropout
        )
        self.feed_forward = FeedForward(shape)

    def forward(
        self,
        x: Tensor,
        past: tuple[Tensor, Tensor],
        memory: Tensor,
        memory_mask: Tensor,
        group: int,
        need_weights: bool,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor | None]:
        """One layer over new target positions ``x`` ``[rows, T, d]``.

        Args:
            past: This layer's cached self-attention keys/values ``[rows, heads, t, d_head]``.
            memory: Projected encoder keys/values ``[sentences, heads, S, 2, d_head]``.
            memory_mask: ``[sentences, S]`` True on real source tokens.
            group: Rows per sentence (``rows = sentences * group``, consecutive).

        Returns:
            ``[rows, T, d]``, keys/values including the new positions, and cross-attention
            weights ``[rows, heads, T, S]`` if asked.
        """
        attended, cache = self.self_attention(self._input(x, 0), causal=True, past=past)
        x = self._residual(x, attended, 0)
        rows, length, width = x.shape
        # A sentence's rows query its memory together: [sentences, group * T, d].
        queries = self._input(x, 1).reshape(rows // group, group * length, width)
        context, weights = self.cross_attention.attend(queries, memory, memory_mask, need_weights)
        x = self._residual(x, context.view(rows, length, -1), 1)
        if weights is not None and group > 1:  # [sentences, heads, group * T, S] -> per row
            sentences, heads, _, src_len = weights.shape
            weights = weights.view(sentences, heads, group, length, src_len).transpose(1, 2)
            weights = weights.reshape(rows, heads, length, src_len)
        return self._residual(x, self.feed_forward(self._input(x, 2)), 2), cache, weights


def _init_linear_layers(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases (as fairseq and the Annotated Transformer do)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class TransformerEncoder(nn.Module):
    """A stack of encoder layers over scaled, position-aware embeddings.

    Args:
        shape: Layer hyper-parameters.
        layers: Number of layers.
        positions, max_positions, scale_embeddings: See :class:`PositionalInput`.
    """

    def __init__(
        self,
        shape: TransformerShape,
        layers: int,
        positions: str,
        max_positions: int,
        scale_embeddings: bool,
    ) -> None:
        super().__init__()
        self.output_size = shape.d_model
        self.input = PositionalInput(
            shape.d_model, positions, max_positions, scale_embeddings, shape.dropout
        )
        self.layers = nn.ModuleList(EncoderLayer(shape) for _ in range(layers))
        self.final_norm = nn.LayerNorm(shape.d_model) if shape.pre_norm else None
        _init_linear_layers(self)

    def forward(self, src_embedded: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """Encodes ``src_embedded`` ``[B, S, d]`` with true lengths ``src_lengths`` ``[B]``.

        ``final_hidden`` is the mean of the real positions' states, ``[1, B, d]``.
        """
        positions = torch.arange(src_embedded.size(1), device=src_embedded.device)
        mask = positions[None, :] < src_lengths[:, None]  # [B, S]
        x = self.input(src_embedded)
        for layer in self.layers:
            x = layer(x, mask)
        if self.final_norm is not None:
            x = self.final_norm(x)
        x = x * mask[:, :, None]  # zero on padding, as the contract says
        pooled = x.sum(dim=1) / src_lengths.clamp(min=1)[:, None].to(x.dtype)  # [B, d]
        return EncoderOutput(states=x, mask=mask, final_hidden=pooled[None])


@dataclass(frozen=True)
class TransformerDecoderState:
    """The key/value cache a Transformer decoder carries from step to step.

    The cross-attention keys and values depend only on the source sentence, so they are kept
    once per *sentence*, not once per row: beam search expands every sentence to ``group``
    consecutive rows (its beams) and reorders rows within a sentence at every step, and neither
    copies them. The rows of a sentence attend to its memory together, as ``group * T`` queries
    of one batch entry (:meth:`DecoderLayer.forward`).

    Attributes:
        self_keys, self_values: Per layer ``[rows, heads, t, d_head]`` for the ``t`` target
            positions decoded so far (empty while ``prefix`` is used instead).
        memory: Per layer, the encoder states projected to keys/values once per sentence
            ``[sentences, heads, S, 2, d_head]``.
        memory_mask: ``[sentences, S]`` True on real source positions.
        group: Rows per sentence: row ``r`` belongs to sentence ``r // group``.
        prefix: Without the cache (``TransformerDecoder.incremental = False``), the embedded
            targets so far ``[rows, t, d]``, re-run through the whole stack at every step.
    """

    self_keys: tuple[Tensor, ...]
    self_values: tuple[Tensor, ...]
    memory: tuple[Tensor, ...]
    memory_mask: Tensor
    group: int = 1
    prefix: Tensor | None = None

    @property
    def length(self) -> int:
        """Target positions decoded so far (the position of the next one)."""
        return self.self_keys[0].size(2)

    def select(self, indices: Tensor) -> TransformerDecoderState:
        """Rows ``indices`` ``[new_rows]``. When the new rows come in blocks of ``g`` consecutive
        rows of one sentence each (beams expanded, reordered within their sentence, or the
        sentences that search still decodes), the memory is kept once per block (copied only
        if the blocks' sentences changed); otherwise it is copied once per row."""

        def pick(tensors: tuple[Tensor, ...], rows: Tensor) -> tuple[Tensor, ...]:
            return tuple(t.index_select(0, rows) for t in tensors)

        blocks, group = sentence_blocks(indices, self.group)
        memory, memory_mask = self.memory, self.memory_mask
        unchanged = torch.arange(memory_mask.size(0), device=indices.device)
        if not torch.equal(blocks, unchanged):  # (False for a different length, too)
            memory, memory_mask = pick(memory, blocks), memory_mask[blocks]
        return TransformerDecoderState(
            self_keys=pick(self.self_keys, indices),
            self_values=pick(self.self_values, indices),
            memory=memory,
            memory_mask=memory_mask,
            group=group,
            prefix=None if self.prefix is None else self.prefix.index_select(0, indices),
        )


class TransformerDecoder(nn.Module):
    """A stack of decoder layers attending over any encoder's states.

    Args:
        shape: Layer hyper-parameters.
        layers: Number of layers.
        memory_size: Width of the encoder states (any encoder family).
        positions, max_positions, scale_embeddings: See :class:`PositionalInput`.

    Attributes:
        incremental: Decode with the key/value cache (default). False re-runs the whole prefix
            at every step: the slow reference the cache is measured and tested against.
    """

    def __init__(
        self,
        shape: TransformerShape,
        layers: int,
        memory_size: int,
        positions: str,
        max_positions: int,
        scale_embeddings: bool,
    ) -> None:
        super().__init__()
        self.output_size, self.heads = shape.d_model, shape.heads
        self.input = PositionalInput(
            shape.d_model, positions, max_positions, scale_embeddings, shape.dropout
        )
        self.layers = nn.ModuleList(DecoderLayer(shape, memory_size) for _ in range(layers))
        self.final_norm = nn.LayerNorm(shape.d_model) if shape.pre_norm else None
        self.incremental = True
        _init_linear_layers(self)

    def init_state(self, enc: EncoderOutput) -> TransformerDecoderState:
        """An empty cache, with the encoder states projected for every layer."""
        batch, head_dim = enc.states.size(0), self.output_size // self.heads
        empty = enc.states.new_zeros(batch, self.heads, 0, head_dim)
        memory = tuple(layer.cross_attention.project_keys(enc.states) for layer in self.layers)
        return TransformerDecoderState(
            self_keys=(empty,) * len(self.layers),
            self_values=(empty,) * len(self.layers),
            memory=memory,
            memory_mask=enc.mask,
            prefix=None if self.incremental else enc.states.new_zeros(batch, 0, self.output_size),
        )

    def forward(
        self,
        tgt_embedded: Tensor,
        state: TransformerDecoderState,
        enc: EncoderOutput,
        need_weights: bool = True,
    ) -> tuple[Tensor, TransformerDecoderState, Tensor | None]:
        """Decodes ``tgt_embedded`` ``[B, T, d]`` after the positions already in ``state``.

        Args:
            need_weights: Return the attention weights. Without them every cross-attention
                is one fused ``scaled_dot_product_attention`` call; the last layer's weights
                take a slower explicit path (~5% of an int8 greedy step, docs/benchmarks.md).

        Returns:
            Outputs ``[B, T, d]``, the state including these positions, and the last layer's
            cross-attention averaged over heads ``[B, T, S]`` (None without ``need_weights``).
        """
        layers: WeightsOf = "last" if need_weights else "none"
        outputs, state, weights = self._run(tgt_embedded, state, enc, layers)
        return outputs, state, weights[-1].mean(dim=1) if weights else None

    def attention_maps(
        self, tgt_embedded: Tensor, state: TransformerDecoderState, enc: EncoderOutput
    ) -> Tensor:
        """Cross-attention of every layer and head ``[layers, heads, B, T, S]``."""
        _, _, weights = self._run(tgt_embedded, state, enc, "all")
        return torch.stack(weights).transpose(1, 2)

    def _run(
        self,
        tgt_embedded: Tensor,
        state: TransformerDecoderState,
        enc: EncoderOutput,
        weights_of: WeightsOf,
    ) -> tuple[Tensor, TransformerDecoderState, list[Tensor]]:
        """The stack over new positions; cross-attention weights of ``weights_of`` layers
        (``all``, ``last`` or ``none``)."""
        if state.prefix is not None:  # uncached: run the whole prefix again
            return self._run_uncached(tgt_embedded, state, enc, weights_of)
        x = self.input(tgt_embedded, start=state.length)
        keys, values, weights = [], [], []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            past = (state.self_keys[i], state.self_values[i])
            need = weights_of == "all" or (weights_of == "last" and i == last)
            x, (k, v), w = layer(x, past, state.memory[i], state.memory_mask, state.group, need)
            keys.append(k)
            values.append(v)
            if w is not None:
                weights.append(w)
        if self.final_norm is not None:
            x = self.final_norm(x)
        new_state = replace(state, self_keys=tuple(keys), self_values=tuple(values))
        return x, new_state, weights

    def _run_uncached(
        self,
        tgt_embedded: Tensor,
        state: TransformerDecoderState,
        enc: EncoderOutput,
        weights_of: WeightsOf,
    ) -> tuple[Tensor, TransformerDecoderState, list[Tensor]]:
        assert state.prefix is not None
        prefix = torch.cat([state.prefix, tgt_embedded], dim=1)  # [B, t + T, d]
        empty = replace(state, prefix=None)
        x, _, weights = self._run(prefix, empty, enc, weights_of)
        new = tgt_embedded.size(1)
        return x[:, -new:], replace(state, prefix=prefix), [w[:, :, -new:] for w in weights]
