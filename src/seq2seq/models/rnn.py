"""Recurrent encoder, bridges and attentional decoders (RNN, LSTM, GRU).

Encoder: embedded source ``[B, S, E]`` -> ``nn.LSTM/GRU/RNN`` per layer -> states ``[B, S, H*D]``
and the final state per layer. A bridge maps that final state to the decoder's initial state.
Two decoders differ only in *when* they attend:

- :class:`LuongDecoder` (Luong et al. 2015) runs the RNN first and attends with its new
  hidden state; optional input feeding passes the attentional vector to the next step. With no
  attention it is the plain encoder-decoder of Sutskever et al. (2014).
- :class:`BahdanauDecoder` (Bahdanau et al. 2015) attends with the previous hidden state and
  feeds the context into the RNN.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from seq2seq.device import rnn_autocast_guard
from seq2seq.errors import Seq2SeqError
from seq2seq.models.attention import Attention, MultiHeadAttention
from seq2seq.models.contract import EncoderOutput, sentence_blocks
from seq2seq.models.dropout import Dropout, dropout
from seq2seq.models.fast_math import tanh
from seq2seq.models.rnn_cells import cast_state, cell_step

RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def make_rnn(
    kind: str, input_size: int, hidden_size: int, layers: int, dropout: float, **kw
) -> nn.RNNBase:
    """An ``nn.RNN/LSTM/GRU`` with batch-first tensors; dropout only between layers."""
    return RNN_CLASSES[kind](
        input_size,
        hidden_size,
        layers,
        batch_first=True,
        dropout=dropout if layers > 1 else 0.0,
        **kw,
    )


def call_rnn(
    rnn: nn.RNNBase, x: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """``rnn(x, state)``, in fp32 when CPU autocast is on (see :func:`rnn_autocast_guard`).

    A single time step of a unidirectional RNN with a given state (every decoder step) runs
    through :func:`rnn_step` instead, unless hooks are registered on ``rnn`` (``summary``'s
    shape recorder, a user's): then it is called as a module so that they run. A decoding
    copy's RNN that carries ``bf16_sequence`` (``rnn_cells.py``) runs other calls in bf16.
    """
    guard, x = rnn_autocast_guard(x)
    state = cast_state(state, x.dtype)
    with guard:
        hooked = bool(rnn._forward_hooks or rnn._forward_pre_hooks)
        one_step = x.size(1) == 1 and state is not None
        if one_step and not rnn.bidirectional and not rnn.proj_size and not hooked:
            return rnn_step(rnn, x, state)
        bf16 = getattr(rnn, "bf16_sequence", None)  # decoding copies only (rnn_cells.py)
        inference = not rnn.training and not torch.is_grad_enabled()
        if bf16 is not None and inference and not hooked and x.dtype == torch.float32:
            return bf16(rnn, x, state)
        return rnn(x, state)


_CELLS = {
    "LSTM": torch.lstm_cell,
    "GRU": torch.gru_cell,
    "RNN_TANH": torch.rnn_tanh_cell,
    "RNN_RELU": torch.rnn_relu_cell,
}


def rnn_step(
    rnn: nn.RNNBase, x: Tensor, state: Tensor | tuple[Tensor, Tensor]
) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """``rnn(x, state)`` for one time step, layer by layer with PyTorch's cell kernels.

    The same weights and arithmetic as the ``nn.LSTM/GRU/RNN`` call (and the same dropout
    between layers in training), but a one-step call of the sequence module goes through
    oneDNN's sequence kernel, whose set-up costs more than the step: on one AVX2 core at batch
    32, ``torch.lstm_cell`` runs a 256-unit step 1.8x faster forward and 3x faster forward
    plus backward (input-feeding and Bahdanau decoders step like this in training too).
    A decoding copy whose RNN carries ``cell_products`` (``rnn_cells.py``) computes the two
    products of each layer with those linear layers (packed, bf16 or int8) instead.

    Args:
        rnn: A unidirectional, batch-first ``nn.RNNBase`` without projections.
        x: ``[B, 1, input_size]``.
        state: ``[layers, B, H]``, or ``(hidden, cell)`` for an LSTM.

    Returns:
        Outputs ``[B, 1, H]`` and the new state, shaped as ``rnn`` returns them.
    """
    cell = _CELLS[rnn.mode]
    products = getattr(rnn, "cell_products", None)
    hidden, cell_state = state if isinstance(state, tuple) else (state, None)
    layer_input, new_hidden, new_cells = x[:, 0], [], []
    for layer in range(rnn.num_layers):
        c = None if cell_state is None else cell_state[layer]
        if products is not None:
            h, c = cell_step(rnn.mode, products[layer], layer_input, hidden[layer], c)
        else:
            weights = [getattr(rnn, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh")]
            biases = (
                [getattr(rnn, f"{name}_l{layer}") for name in ("bias_ih", "bias_hh")]
                if rnn.bias
                else [None, None]
            )
            if c is not None:  # LSTM
                h, c = cell(layer_input, (hidden[layer], c), *weights, *biases)
            else:
                h = cell(layer_input, hidden[layer], *weights, *biases)
        new_hidden.append(h)
        if c is not None:
            new_cells.append(c)
        last = layer == rnn.num_layers - 1
        layer_input = h if last else dropout(h, rnn.dropout, rnn.training)
    hidden = torch.stack(new_hidden)
    final = hidden if cell_state is None else (hidden, torch.stack(new_cells))
    return layer_input[:, None], final


class RnnEncoder(nn.Module):
    """Embedded source -> contextual states, one (bi)directional RNN layer at a time.

    Why not ``pack_padded_sequence``: on CPU a packed LSTM falls back from oneDNN to a slow
    reference kernel whose backward pass re-zeroes a ``[tokens, 4H]`` buffer at every time step
    (measured: 60% of a training step). Instead each direction runs over the right-padded batch
    with the fast kernel. The forward direction's outputs at real positions do not depend on the
    padding after them; the backward direction reads each sentence reversed *within its own
    length*, so it too starts at the last real token. Padding positions are zeroed afterwards.
    """

    def __init__(
        self,
        kind: str,
        embedding_size: int,
        hidden_size: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.output_size = hidden_size * (2 if bidirectional else 1)
        widths = [embedding_size] + [self.output_size] * (layers - 1)
        self.forward_layers = nn.ModuleList(make_rnn(kind, w, hidden_size, 1, 0.0) for w in widths)
        self.backward_layers = (
            nn.ModuleList(make_rnn(kind, w, hidden_size, 1, 0.0) for w in widths)
            if bidirectional
            else None
        )
        self.dropout = Dropout(dropout)

    def forward(self, src_embedded: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """Encodes ``src_embedded`` ``[B, S, E]`` with true lengths ``src_lengths`` ``[B]``."""
        positions = torch.arange(src_embedded.size(1), device=src_embedded.device)
        mask = positions[None, :] < src_lengths[:, None]  # [B, S]
        last = (src_lengths - 1).clamp(min=0)  # [B] position of the last real token
        reverse = reverse_within_length(src_lengths, src_embedded.size(1))  # [B, S]
        x, finals = src_embedded, []
        for i, forward_rnn in enumerate(self.forward_layers):
            x = self.dropout(x) if i > 0 else x
            fwd, _ = call_rnn(forward_rnn, x)  # [B, S, H]
            outputs, final = [fwd], [fwd[torch.arange(fwd.size(0)), last]]
            if self.backward_layers is not None:
                backward_rnn = self.backward_layers[i]
                bwd = gather_time(call_rnn(backward_rnn, gather_time(x, reverse))[0], reverse)
                outputs.append(bwd)
                final.append(bwd[:, 0])  # the backward pass ends at the first token
            x = torch.cat(outputs, dim=-1) * mask[:, :, None]  # [B, S, H*D], zero on padding
            finals.append(torch.cat(final, dim=-1))
        return EncoderOutput(states=x, mask=mask, final_hidden=torch.stack(finals))


def reverse_within_length(lengths: Tensor, max_len: int) -> Tensor:
    """Index ``[B, S]`` that reverses each row's first ``length`` positions, padding in place.

    Example: lengths ``[3]``, max_len 5 -> ``[[2, 1, 0, 3, 4]]``. It is its own inverse.
    """
    positions = torch.arange(max_len, device=lengths.device)[None, :]  # [1, S]
    flipped = lengths[:, None] - 1 - positions
    return torch.where(positions < lengths[:, None], flipped, positions)


def gather_time(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, t]]`` for ``x`` ``[B, S, H]`` and ``index`` ``[B, S]``."""
    return x.gather(1, index[:, :, None].expand(-1, -1, x.size(2)))


# --- bridges: encoder summary -> initial decoder state ---------------------------------------


class ZeroBridge(nn.Module):
    """Starts the decoder from zeros (it must rely on attention alone)."""

    def __init__(self, layers: int, hidden_size: int, has_cell: bool) -> None:
        super().__init__()
        self.layers, self.hidden_size, self.has_cell = layers, hidden_size, has_cell

    def forward(self, enc: EncoderOutput) -> tuple[Tensor, Tensor | None]:
        batch = enc.states.size(0)
        zeros = enc.states.new_zeros(self.layers, batch, self.hidden_size)
        return zeros, (torch.zeros_like(zeros) if self.has_cell else None)


class CopyBridge(nn.Module):
    """Hands the encoder's final hidden state over unchanged (sizes must match; config checks
    it); an LSTM decoder's cell starts at zero."""

    def __init__(self, has_cell: bool) -> None:
        super().__init__()
        self.has_cell = has_cell

    def forward(self, enc: EncoderOutput) -> tuple[Tensor, Tensor | None]:
        hidden = enc.final_hidden
        return hidden, (torch.zeros_like(hidden) if self.has_cell else None)


class LinearBridge(nn.Module):
    """``tanh(W [h_1; ...; h_L_enc])`` reshaped to ``[L_dec, B, H_dec]``.

    Reading all encoder layers at once handles any difference in layer count, width or
    directions. An LSTM decoder's initial cell is a second projection of the same summary.
    """

    def __init__(
        self, enc_layers: int, enc_width: int, layers: int, hidden_size: int, has_cell: bool
    ) -> None:
        super().__init__()
        self.layers, self.hidden_size = layers, hidden_size
        self.hidden_proj = nn.Linear(enc_layers * enc_width, layers * hidden_size)
        self.cell_proj = (
            nn.Linear(enc_layers * enc_width, layers * hidden_size) if has_cell else None
        )

    def forward(self, enc: EncoderOutput) -> tuple[Tensor, Tensor | None]:
        hidden = self._project(self.hidden_proj, enc.final_hidden)
        if self.cell_proj is None:
            return hidden, None
        return hidden, self._project(self.cell_proj, enc.final_hidden)

    def _project(self, proj: nn.Linear, final: Tensor) -> Tensor:
        batch = final.size(1)
        flat = final.transpose(0, 1).reshape(batch, -1)  # [B, L_enc * W_enc]
        out = torch.tanh(proj(flat)).view(batch, self.layers, self.hidden_size)
        return out.transpose(0, 1).contiguous()  # [L_dec, B, H_dec]


Bridge = ZeroBridge | CopyBridge | LinearBridge


# --- decoders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RnnDecoderState:
    """State carried between RNN decoder steps.

    Attributes:
        hidden: ``[layers, B, H]``.
        cell: LSTM cell ``[layers, B, H]`` or None.
        input_feed: Previous attentional vector ``[B, H]`` (input feeding) or None.
        proj_keys: Attention keys projected once per sentence ``[B, S, *]`` or None.
        group: Rows per sentence: rows ``r`` and ``r'`` hold the same ``proj_keys`` if
            ``r // group == r' // group`` (beam search's beams of one sentence).
    """

    hidden: Tensor
    cell: Tensor | None
    input_feed: Tensor | None
    proj_keys: Tensor | None
    group: int = field(default=1, kw_only=True)

    def select(self, indices: Tensor) -> RnnDecoderState:
        """Rows ``indices``. Beams reordered within their sentences keep ``proj_keys`` as they
        are (the rows of a sentence hold the same keys), so beam search copies only the small
        recurrent state at each step, not ``[B, S, *]`` keys."""

        def pick(t: Tensor | None, dim: int) -> Tensor | None:
            return None if t is None else t.index_select(dim, indices)

        proj_keys, group = self.proj_keys, 1
        if proj_keys is not None:
            blocks, group = sentence_blocks(indices, self.group)
            sentences = torch.arange(proj_keys.size(0) // self.group, device=indices.device)
            if group != self.group or not torch.equal(blocks, sentences):
                proj_keys = pick(proj_keys, 0)
        return RnnDecoderState(
            hidden=pick(self.hidden, 1),
            cell=pick(self.cell, 1),
            input_feed=pick(self.input_feed, 0),
            proj_keys=proj_keys,
            group=group,
        )

    def rnn_state(self) -> Tensor | tuple[Tensor, Tensor]:
        return self.hidden if self.cell is None else (self.hidden, self.cell)


class _RnnDecoderBase(nn.Module):
    """What both decoders share: the bridge, the RNN and state bookkeeping."""

    def __init__(
        self,
        rnn: nn.RNNBase,
        bridge: Bridge,
        attention: Attention | MultiHeadAttention | None,
        dropout: float,
    ) -> None:
        super().__init__()
        self.rnn, self.bridge, self.attention = rnn, bridge, attention
        self.dropout = Dropout(dropout)
        self.output_size = rnn.hidden_size

    def _initial(self, enc: EncoderOutput, input_feed: bool) -> RnnDecoderState:
        hidden, cell = self.bridge(enc)
        feed = enc.states.new_zeros(enc.states.size(0), self.output_size) if input_feed else None
        keys = None if self.attention is None else self.attention.project_keys(enc.states)
        return RnnDecoderState(hidden=hidden, cell=cell, input_feed=feed, proj_keys=keys)

    def attention_maps(
        self, tgt_embedded: Tensor, state: RnnDecoderState, enc: EncoderOutput
    ) -> Tensor:
        """Teacher-forced attention as ``[layers=1, heads=1, B, T, S]`` (heads averaged)."""
        _, _, weights = self(tgt_embedded, state, enc)
        if weights is None:
            raise Seq2SeqError("the model has no attention (model.attention: none)")
        return weights[None, None]

    def _run_rnn(
        self, inputs: Tensor, state: RnnDecoderState
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        outputs, final = call_rnn(self.rnn, inputs, state.rnn_state())
        hidden, cell = final if isinstance(final, tuple) else (final, None)
        return outputs, hidden, cell


class LuongDecoder(_RnnDecoderBase):
    """RNN first, then attention with the new hidden state (Luong et al. 2015, eqs. 5-6).

    ``h~_t = tanh(W_c [c_t; h_t])`` is the attentional vector fed to the output layer and, with
    input feeding, concatenated to the next step's input embedding.
    """

    def __init__(
        self,
        rnn: nn.RNNBase,
        bridge: Bridge,
        attention: Attention | MultiHeadAttention | None,
        key_size: int,
        dropout: float,
        input_feeding: bool,
    ) -> None:
        super().__init__(rnn, bridge, attention, dropout)
        self.input_feeding = input_feeding and attention is not None
        self.combine = (
            None if attention is None else nn.Linear(key_size + rnn.hidden_size, rnn.hidden_size)
        )

    def init_state(self, enc: EncoderOutput) -> RnnDecoderState:
        return self._initial(enc, self.input_feeding)

    def forward(
        self,
        tgt_embedded: Tensor,
        state: RnnDecoderState,
        enc: EncoderOutput,
        need_weights: bool = True,
    ) -> tuple[Tensor, RnnDecoderState, Tensor | None]:
        """Decodes ``tgt_embedded`` ``[B, T, E]`` from ``state``.

        ``need_weights`` is accepted for the decoder interface: an RNN decoder's attention
        weights come with its context at no extra cost, so they are always returned.

        Returns:
            Outputs ``[B, T, H]``, the state after the last step, attention ``[B, T, S]`` or None.
        """
        if not self.input_feeding:  # no step-to-step dependency: one RNN call for all T
            return self._attend_all(tgt_embedded, state, enc)
        outputs, weights = [], []
        for t in range(tgt_embedded.size(1)):
            step_in = torch.cat([tgt_embedded[:, t : t + 1], state.input_feed[:, None]], dim=-1)
            out, state, attn = self._attend_all(step_in, state, enc)
            state = replace(state, input_feed=out[:, 0])
            outputs.append(out)
            weights.append(attn)
        return torch.cat(outputs, dim=1), state, torch.cat(weights, dim=1)

    def _attend_all(
        self, inputs: Tensor, state: RnnDecoderState, enc: EncoderOutput
    ) -> tuple[Tensor, RnnDecoderState, Tensor | None]:
        rnn_out, hidden, cell = self._run_rnn(inputs, state)  # [B, T, H]
        new_state = replace(state, hidden=hidden, cell=cell)
        if self.attention is None:
            return self.dropout(rnn_out), new_state, None
        context, weights = self.attention(
            rnn_out, state.proj_keys, enc.states, enc.mask, group=state.group
        )
        attentional = tanh(self.combine(torch.cat([context, rnn_out], dim=-1)), overwrite=True)
        return self.dropout(attentional), new_state, weights


class BahdanauDecoder(_RnnDecoderBase):
    """Attention first, with the previous top-layer state as query (Bahdanau et al. 2015).

    Step t: ``c_t = attend(s_{t-1})``; ``s_t = RNN([E y_{t-1}; c_t], s_{t-1})``; the output is
    ``tanh(W [s_t; c_t])``.
    """

    def __init__(
        self, rnn: nn.RNNBase, bridge: Bridge, attention: Attention, key_size: int, dropout: float
    ) -> None:
        super().__init__(rnn, bridge, attention, dropout)
        self.combine = nn.Linear(key_size + rnn.hidden_size, rnn.hidden_size)

    def init_state(self, enc: EncoderOutput) -> RnnDecoderState:
        return self._initial(enc, input_feed=False)

    def forward(
        self,
        tgt_embedded: Tensor,
        state: RnnDecoderState,
        enc: EncoderOutput,
        need_weights: bool = True,
    ) -> tuple[Tensor, RnnDecoderState, Tensor]:
        """Same shapes and arguments as :meth:`LuongDecoder.forward`; always steps through
        time."""
        outputs, weights = [], []
        for t in range(tgt_embedded.size(1)):
            query = state.hidden[-1][:, None]  # [B, 1, H]
            context, attn = self.attention(
                query, state.proj_keys, enc.states, enc.mask, group=state.group
            )
            step_in = torch.cat([tgt_embedded[:, t : t + 1], context], dim=-1)
            rnn_out, hidden, cell = self._run_rnn(step_in, state)
            state = replace(state, hidden=hidden, cell=cell, input_feed=None)
            combined = self.combine(torch.cat([rnn_out, context], dim=-1))
            outputs.append(tanh(combined, overwrite=True))
            weights.append(attn)
        return self.dropout(torch.cat(outputs, dim=1)), state, torch.cat(weights, dim=1)


RnnDecoder = LuongDecoder | BahdanauDecoder
