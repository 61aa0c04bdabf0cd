"""Properties of every encoder-decoder the model section can describe.

The RNN grid covers each attention type, RNN family (encoder and decoder of different families),
bidirectional encoders, each valid bridge and input feeding, with differing layer counts and
widths wherever the combination allows them. The mixed list adds the Transformer: on either
side, with pre/post norm, both position kinds, and every attention and bridge an RNN decoder
can use over a Transformer encoder. Every case checks properties rather than numbers: output
shapes, attention distributions, teacher forcing == step-by-step decoding (for a Transformer
decoder: the key/value cache is exact), padding invariance and consistent batch reordering.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor

from seq2seq.config import ModelConfig
from seq2seq.models import Seq2Seq, build_model

ConfigErrors = Callable[[dict[str, Any]], str]  # the conftest fixture
PAD, BOS = 0, 2
SRC_VOCAB, TGT_VOCAB = 11, 13
ATTENTIONS = ["none", "bahdanau", "luong_dot", "luong_general", "luong_concat"]
RNN_TYPES = ["rnn", "lstm", "gru"]
BRIDGES = ["linear", "zero", "copy"]


@dataclass(frozen=True)
class Case:
    """One model configuration of the grid."""

    attention: str
    enc_type: str
    dec_type: str
    bidirectional: bool
    bridge: str
    input_feeding: bool
    enc_layers: int
    dec_layers: int
    enc_hidden: int
    dec_hidden: int

    @property
    def id(self) -> str:
        return (
            f"{self.attention}-{self.enc_type}{'(bi)' if self.bidirectional else ''}"
            f">{self.dec_type}-{self.bridge}-{'feed' if self.input_feeding else 'nofeed'}"
            f"-L{self.enc_layers}>{self.dec_layers}-H{self.enc_hidden}>{self.dec_hidden}"
        )

    def model_dict(self) -> dict[str, Any]:
        return {
            "encoder": {
                "type": self.enc_type,
                "layers": self.enc_layers,
                "hidden_size": self.enc_hidden,
                "embedding_size": 8,
                "bidirectional": self.bidirectional,
                "dropout": 0.2,
            },
            "decoder": {
                "type": self.dec_type,
                "layers": self.dec_layers,
                "hidden_size": self.dec_hidden,
                "embedding_size": 6,
                "dropout": 0.2,
                "input_feeding": self.input_feeding,
            },
            "attention": self.attention,
            "bridge": self.bridge,
        }


def grid() -> list[Case]:
    """90 cases: every attention x encoder family x direction x bridge, input feeding
    alternating (each attention and bridge sees both settings), the decoder always of another
    family, and layer counts and widths differing wherever the bridge and attention allow."""
    cases = []
    for attention, enc_type, bidirectional, bridge in itertools.product(
        ATTENTIONS, RNN_TYPES, [False, True], BRIDGES
    ):
        n = len(cases)  # consecutive cases of one (attention, bridge) are 3 apart: odd
        dec_type = RNN_TYPES[(RNN_TYPES.index(enc_type) + 1 + (n // 2) % 2) % 3]
        enc_hidden = 8 if bidirectional else 12
        enc_width = enc_hidden * (2 if bidirectional else 1)
        same_width = bridge == "copy" or attention == "luong_dot"
        dec_hidden = enc_width if same_width else 20
        if bridge == "copy":
            enc_layers = dec_layers = 1 + (n // 3) % 2
        else:
            enc_layers, dec_layers = (2, 1) if (n // 3) % 2 else (1, 2)
        cases.append(
            Case(
                attention,
                enc_type,
                dec_type,
                bidirectional,
                bridge,
                n % 2 == 0,
                enc_layers,
                dec_layers,
                enc_hidden,
                dec_hidden,
            )
        )
    return cases


@dataclass(frozen=True)
class Spec:
    """A hand-written model section (the Transformer and mixed-family cases)."""

    id: str
    model: dict[str, Any]

    @property
    def attention(self) -> str:
        default = "multihead" if self.model["decoder"]["type"] == "transformer" else ""
        return self.model.get("attention", default)

    def model_dict(self) -> dict[str, Any]:
        return self.model


def transformer(d: int = 16, **extra: Any) -> dict[str, Any]:
    """A small Transformer encoder or decoder section (dropout on, to check eval mode)."""
    return {
        "type": "transformer",
        "hidden_size": d,
        "embedding_size": d,
        "layers": 2,
        "heads": 4,
        "ff_size": 24,
        "dropout": 0.2,
        "attention_dropout": 0.1,
        **extra,
    }


def rnn(kind: str, hidden: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "hidden_size": hidden, "embedding_size": 6, "dropout": 0.2, **extra}


MIXED = [
    Spec("transformer>transformer-prenorm", {"encoder": transformer(), "decoder": transformer()}),
    Spec(
        "transformer>transformer-postnorm-learned-gelu",
        {
            "encoder": transformer(layers=1, norm="post", positions="learned", heads=2),
            "decoder": transformer(norm="post", positions="learned", activation="gelu"),
        },
    ),
    Spec(
        "transformer>transformer-tied-unscaled",
        {
            "encoder": transformer(layers=1),
            "decoder": transformer(layers=1, tie_embeddings=True, scale_embeddings=False),
        },
    ),
    Spec(
        "lstm(bi)>transformer",
        {"encoder": rnn("lstm", 8, bidirectional=True), "decoder": transformer()},
    ),
    Spec("gru-L2>transformer", {"encoder": rnn("gru", 12, layers=2), "decoder": transformer()}),
    Spec("rnn>transformer-L1", {"encoder": rnn("rnn", 10), "decoder": transformer(layers=1)}),
    Spec(
        "transformer>lstm-luong_general-linear-feed",
        {"encoder": transformer(), "decoder": rnn("lstm", 20), "attention": "luong_general"},
    ),
    Spec(
        "transformer>gru-bahdanau-zero",
        {
            "encoder": transformer(),
            "decoder": rnn("gru", 12, layers=2),
            "attention": "bahdanau",
            "bridge": "zero",
        },
    ),
    Spec(
        "transformer>lstm-luong_dot-copy",
        {
            "encoder": transformer(),
            "decoder": rnn("lstm", 16, input_feeding=False),
            "attention": "luong_dot",
            "bridge": "copy",
        },
    ),
    Spec(
        "transformer>rnn-no-attention",
        {"encoder": transformer(), "decoder": rnn("rnn", 14, layers=2), "attention": "none"},
    ),
    Spec(
        "transformer>lstm-luong_concat-L2",
        {
            "encoder": transformer(),
            "decoder": rnn("lstm", 12, layers=2),
            "attention": "luong_concat",
        },
    ),
    Spec(
        "transformer>lstm-multihead-feed",
        {"encoder": transformer(), "decoder": rnn("lstm", 8, heads=2), "attention": "multihead"},
    ),
    Spec(
        "lstm>gru-multihead-nofeed",
        {
            "encoder": rnn("lstm", 10, bidirectional=True),
            "decoder": rnn("gru", 12, heads=3, input_feeding=False),
            "attention": "multihead",
        },
    ),
]

CASES = grid()
ALL_CASES: list[Case | Spec] = [*CASES, *MIXED]


def make_model(case: Case | Spec) -> Seq2Seq:
    cfg = ModelConfig.model_validate(case.model_dict())
    return build_model(cfg, SRC_VOCAB, TGT_VOCAB, PAD).eval()


def make_batch(
    src_lengths: list[int], tgt_lengths: list[int], seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Random ``src [B, S]``, ``src_lengths [B]`` and ``tgt_in [B, T]`` (BOS first), PAD after."""
    gen = torch.Generator().manual_seed(seed)
    batch = len(src_lengths)
    src = torch.randint(4, SRC_VOCAB, (batch, max(src_lengths)), generator=gen)
    tgt_in = torch.randint(4, TGT_VOCAB, (batch, max(tgt_lengths)), generator=gen)
    tgt_in[:, 0] = BOS
    for row, (s, t) in enumerate(zip(src_lengths, tgt_lengths, strict=True)):
        src[row, s:] = PAD
        tgt_in[row, t:] = PAD
    return src, torch.tensor(src_lengths), tgt_in


SRC_LENGTHS = [7, 3, 5, 1]
TGT_LENGTHS = [6, 4, 2, 5]


def step_by_step(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    tgt_in: Tensor,
    reorder_at: int = -1,
    indices: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Decodes ``tgt_in`` one ``decode_step`` at a time; log-probs ``[B, T, V]``, attn.

    When ``indices`` is given, the encoder output and the decoder state are reordered with
    ``select(indices)`` just before step ``reorder_at`` (as beam search does), and from then on
    the rows of ``tgt_in[indices]`` are fed.
    """
    enc = model.encode(src, src_lengths)
    state = model.init_state(enc)
    log_probs, weights = [], []
    for t in range(tgt_in.size(1)):
        prev = tgt_in[:, t]
        if indices is not None and t >= reorder_at:
            if t == reorder_at:
                enc, state = enc.select(indices), state.select(indices)
            prev = prev.index_select(0, indices)
        step_log_probs, state, attn = model.decode_step(prev, state, enc)
        log_probs.append(step_log_probs)
        weights.append(attn)
    if weights[0] is None:
        assert all(w is None for w in weights)
        return torch.stack(log_probs, 1), None
    return torch.stack(log_probs, 1), torch.stack(weights, 1)


def close(got: Tensor, want: Tensor) -> None:
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_grid_is_sensible() -> None:
    assert len(CASES) == 90
    assert {(c.enc_type, c.dec_type) for c in CASES} == {
        (e, d) for e in RNN_TYPES for d in RNN_TYPES if e != d
    }
    for attention in ATTENTIONS:
        for bridge in BRIDGES:
            some = [c for c in CASES if c.attention == attention and c.bridge == bridge]
            assert {c.input_feeding for c in some} == {False, True}
            assert {c.bidirectional for c in some} == {False, True}
            assert {c.enc_type for c in some} == set(RNN_TYPES)
            assert {(c.enc_layers, c.dec_layers) for c in some} == (
                {(1, 1), (2, 2)} if bridge == "copy" else {(1, 2), (2, 1)}
            )


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_forward_shapes_and_attention_distribution(case: Case | Spec) -> None:
    model = make_model(case)
    src, src_lengths, tgt_in = make_batch(SRC_LENGTHS, TGT_LENGTHS)
    logits, attn = model(src, src_lengths, tgt_in)
    batch, tgt_len, src_len = len(SRC_LENGTHS), max(TGT_LENGTHS), max(SRC_LENGTHS)
    assert logits.shape == (batch, tgt_len, TGT_VOCAB)
    assert torch.isfinite(logits).all()
    if case.attention == "none":
        assert attn is None
        return
    assert attn is not None
    assert attn.shape == (batch, tgt_len, src_len)
    close(attn.sum(-1), torch.ones(batch, tgt_len))
    padding = torch.arange(src_len)[None, :] >= src_lengths[:, None]  # [B, S]
    assert (attn.masked_select(padding[:, None, :].expand_as(attn)) == 0).all()
    assert (attn >= 0).all()


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_teacher_forcing_equals_step_by_step_decoding(case: Case | Spec) -> None:
    model = make_model(case)
    src, src_lengths, tgt_in = make_batch(SRC_LENGTHS, TGT_LENGTHS, seed=1)
    with torch.no_grad():
        logits, attn = model(src, src_lengths, tgt_in)
        step_log_probs, step_attn = step_by_step(model, src, src_lengths, tgt_in)
    close(step_log_probs, torch.log_softmax(logits, dim=-1))
    if attn is None:
        assert step_attn is None
    else:
        assert step_attn is not None
        close(step_attn, attn)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_padding_does_not_change_outputs_of_unpadded_rows(case: Case | Spec) -> None:
    model = make_model(case)
    # Row 0 is the longest on both sides, so every other row is padded in the batch.
    src, src_lengths, tgt_in = make_batch([6, 2, 4], [5, 3, 1], seed=2)
    with torch.no_grad():
        logits, attn = model(src, src_lengths, tgt_in)
        for row, (s, t) in enumerate([(6, 5), (2, 3), (4, 1)]):
            alone_logits, alone_attn = model(
                src[row : row + 1, :s], src_lengths[row : row + 1], tgt_in[row : row + 1, :t]
            )
            close(logits[row : row + 1, :t], alone_logits)
            if attn is not None:
                close(attn[row : row + 1, :t, :s], alone_attn)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_select_reorders_encoder_output_and_state_consistently(case: Case | Spec) -> None:
    model = make_model(case)
    src, src_lengths, tgt_in = make_batch(SRC_LENGTHS, TGT_LENGTHS, seed=3)
    # A permutation with a repeated and a dropped row, as beam search produces.
    indices = torch.tensor([2, 0, 0, 3])
    with torch.no_grad():
        log_probs, attn = step_by_step(model, src, src_lengths, tgt_in)
        for reorder_at in (0, 3):
            got_log_probs, got_attn = step_by_step(
                model, src, src_lengths, tgt_in, reorder_at=reorder_at, indices=indices
            )
            close(got_log_probs[:, reorder_at:], log_probs[indices, reorder_at:])
            if attn is not None:
                close(got_attn[:, reorder_at:], attn[indices, reorder_at:])
        # Reordering the input batch itself gives the same reordered outputs.
        perm = torch.tensor([3, 1, 0, 2])
        perm_log_probs, _ = step_by_step(model, src[perm], src_lengths[perm], tgt_in[perm])
    close(perm_log_probs, log_probs[perm])


# --- configuration rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoder", "decoder"),
    [
        ({"hidden_size": 8, "bidirectional": True}, {"hidden_size": 8}),  # width 16 vs 8
        ({"hidden_size": 8, "layers": 2}, {"hidden_size": 8, "layers": 1}),  # layer counts
    ],
)
def test_copy_bridge_with_mismatched_sizes_is_a_config_error(
    encoder: dict[str, Any], decoder: dict[str, Any], model_config_errors: ConfigErrors
) -> None:
    message = model_config_errors({"bridge": "copy", "encoder": encoder, "decoder": decoder})
    assert "model" in message
    assert "bridge" in message and "copy" in message
    assert "linear" in message  # the hint names a bridge that works


def test_luong_dot_with_mismatched_widths_is_a_config_error(
    model_config_errors: ConfigErrors,
) -> None:
    message = model_config_errors(
        {
            "attention": "luong_dot",
            "encoder": {"hidden_size": 8, "bidirectional": True},
            "decoder": {"hidden_size": 12},
        }
    )
    assert "model" in message
    assert "attention" in message and "luong_dot" in message
    assert "16" in message and "12" in message


def test_tied_embeddings_need_hidden_equal_to_embedding_size(
    model_config_errors: ConfigErrors,
) -> None:
    message = model_config_errors(
        {"decoder": {"hidden_size": 16, "embedding_size": 8, "tie_embeddings": True}}
    )
    assert "decoder.tie_embeddings" in message
    assert "16" in message and "8" in message


def test_every_model_problem_is_reported_at_once(model_config_errors: ConfigErrors) -> None:
    message = model_config_errors(
        {
            "bridge": "copy",
            "attention": "luong_dot",
            "encoder": {"hidden_size": 8, "bidirectional": True},
            "decoder": {"hidden_size": 8, "embedding_size": 4, "tie_embeddings": True},
        }
    )
    for key in ("bridge", "luong_dot", "tie_embeddings"):
        assert key in message


def test_copy_bridge_and_dot_attention_accept_matching_sizes() -> None:
    cfg = ModelConfig.model_validate(
        {
            "bridge": "copy",
            "attention": "luong_dot",
            "encoder": {"type": "gru", "hidden_size": 8, "bidirectional": True, "layers": 2},
            "decoder": {"type": "lstm", "hidden_size": 16, "layers": 2},
        }
    )
    model = build_model(cfg, SRC_VOCAB, TGT_VOCAB, PAD)
    src, src_lengths, tgt_in = make_batch([3, 2], [4, 2])
    logits, _ = model(src, src_lengths, tgt_in)
    assert logits.shape == (2, 4, TGT_VOCAB)


def test_tied_and_shared_embeddings_share_parameters(small_model_config: Any) -> None:
    cfg = small_model_config(
        share_embeddings=True,
        decoder={"hidden_size": 8, "embedding_size": 8, "tie_embeddings": True},
    )
    model = build_model(cfg, TGT_VOCAB, TGT_VOCAB, PAD)
    assert model.generator.weight is model.tgt_embed.weight
    assert model.src_embed.weight is model.tgt_embed.weight
