"""What is particular to the Transformer: the key/value cache, causality, positions, norms,
per-layer/per-head attention maps, its configuration rules, and bf16 autocast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from seq2seq.config import ModelConfig, load_config
from seq2seq.decoding import greedy_search
from seq2seq.errors import InputError, Seq2SeqError
from seq2seq.models import Seq2Seq, build_model
from seq2seq.models.embeddings import LearnedPositions, SinusoidalPositions, sinusoidal_table
from seq2seq.models.transformer import TransformerDecoder

ConfigErrors = Callable[[dict[str, Any]], str]  # the conftest fixture
PAD, BOS, EOS = 0, 2, 3
VOCAB = 15


def transformer(d: int = 16, **extra: Any) -> dict[str, Any]:
    return {
        "type": "transformer",
        "hidden_size": d,
        "embedding_size": d,
        "layers": 2,
        "heads": 4,
        "ff_size": 32,
        **extra,
    }


def build(model: dict[str, Any], seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    return build_model(ModelConfig.model_validate(model), VOCAB, VOCAB, PAD).eval()


def batch(seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """``src [3, 6]`` (lengths 6, 2, 4), ``lengths``, ``tgt_in [3, 5]`` starting with BOS."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(4, VOCAB, (3, 6), generator=gen)
    lengths = torch.tensor([6, 2, 4])
    src[torch.arange(6)[None, :] >= lengths[:, None]] = PAD
    tgt_in = torch.randint(4, VOCAB, (3, 5), generator=gen)
    tgt_in[:, 0] = BOS
    return src, lengths, tgt_in


TRANSFORMER_DECODERS = {
    "transformer>transformer": {"encoder": transformer(), "decoder": transformer()},
    "lstm>transformer-postnorm": {
        "encoder": {"type": "lstm", "hidden_size": 12, "embedding_size": 8, "bidirectional": True},
        "decoder": transformer(norm="post", positions="learned"),
    },
}


def decode_teacher_forced_by_steps(model: Seq2Seq, src: Tensor, lengths: Tensor, tgt_in: Tensor):
    enc = model.encode(src, lengths)
    state = model.init_state(enc)
    out = []
    for t in range(tgt_in.size(1)):
        log_probs, state, _ = model.decode_step(tgt_in[:, t], state, enc)
        out.append(log_probs)
    return torch.stack(out, 1)


@pytest.mark.parametrize("name", TRANSFORMER_DECODERS)
def test_uncached_decoding_equals_cached_and_teacher_forced(name: str) -> None:
    model = build(TRANSFORMER_DECODERS[name])
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        logits, _ = model(src, lengths, tgt_in)
        cached = decode_teacher_forced_by_steps(model, src, lengths, tgt_in)
        assert isinstance(model.decoder, TransformerDecoder)
        model.decoder.incremental = False
        uncached = decode_teacher_forced_by_steps(model, src, lengths, tgt_in)
    torch.testing.assert_close(cached, torch.log_softmax(logits, -1), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(uncached, cached, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", TRANSFORMER_DECODERS)
def test_greedy_output_is_identical_with_and_without_the_cache(name: str) -> None:
    model = build(TRANSFORMER_DECODERS[name], seed=3)
    src, lengths, _ = batch(seed=4)
    max_lengths = torch.tensor([9, 3, 12])

    def run() -> list[list[int]]:
        hyps = greedy_search(model, src, lengths, bos_id=BOS, eos_id=EOS, max_lengths=max_lengths)
        return [list(h.tokens) for h in hyps]

    cached = run()
    model.decoder.incremental = False
    assert run() == cached
    assert max(len(tokens) for tokens in cached) > 3  # the cache was really used


def test_beam_rows_share_one_memory_per_sentence_and_any_reorder_decodes_the_same() -> None:
    """``select`` keeps the cross-attention memory once per sentence while rows stay grouped by
    sentence (beam expansion, reordering within a sentence, dropping whole sentences); any
    other reorder copies it once per row.
    Either way every row decodes exactly as its sentence would alone."""
    model = build(TRANSFORMER_DECODERS["transformer>transformer"], seed=5)
    src, lengths, tgt_in = batch(seed=6)
    beams = 3
    with torch.no_grad():
        enc = model.encode(src, lengths)
        state = model.init_state(enc)
        expand = torch.arange(3).repeat_interleave(beams)  # [9]: sentence of each row
        grouped = state.select(expand)
        assert grouped.group == beams and grouped.memory is state.memory
        within = torch.tensor([2, 0, 1, 3, 3, 4, 8, 6, 7])  # parents from the same sentence
        reordered = grouped.select(within)
        assert reordered.group == beams and reordered.memory is state.memory
        across = torch.tensor([8, 0, 4, 1, 6, 2, 3, 5, 7])  # rows change sentence
        moved = reordered.select(across)
        assert moved.group == 1 and moved.memory[0].size(0) == 9

        row_sentence = expand[within][across]
        tokens = tgt_in[row_sentence, 1]
        log_probs, _, attn = model.decode_step(tokens, moved, enc.select(row_sentence))
        for row, sentence in enumerate(row_sentence.tolist()):
            alone_enc = enc.select(torch.tensor([sentence]))
            alone, _, alone_attn = model.decode_step(
                tokens[row : row + 1], model.init_state(alone_enc), alone_enc
            )
            torch.testing.assert_close(log_probs[row], alone[0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(attn[row], alone_attn[0], atol=1e-5, rtol=1e-4)
        grouped_log_probs, _, grouped_attn = model.decode_step(
            tgt_in[expand, 1], grouped, enc.select(expand)
        )
        for row, sentence in enumerate(expand.tolist()):
            alone_enc = enc.select(torch.tensor([sentence]))
            alone, _, alone_attn = model.decode_step(
                tgt_in[sentence : sentence + 1, 1], model.init_state(alone_enc), alone_enc
            )
            torch.testing.assert_close(grouped_log_probs[row], alone[0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(grouped_attn[row], alone_attn[0], atol=1e-5, rtol=1e-4)

        # Search drops sentence 1 (its beams all stopped): the others keep their groups.
        kept_rows = torch.tensor([0, 1, 2, 6, 7, 8])
        kept = grouped.select(kept_rows)
        assert kept.group == beams and kept.memory[0].size(0) == 2
        kept_log_probs, _, _ = model.decode_step(
            tgt_in[expand[kept_rows], 1], kept, enc.select(expand[kept_rows])
        )
        torch.testing.assert_close(
            kept_log_probs, grouped_log_probs[kept_rows], atol=1e-5, rtol=1e-4
        )


def test_decoder_is_causal_a_later_token_never_changes_earlier_outputs() -> None:
    model = build(TRANSFORMER_DECODERS["transformer>transformer"])
    src, lengths, tgt_in = batch()
    changed = tgt_in.clone()
    changed[:, 3:] = (changed[:, 3:] + 1 - 4) % (VOCAB - 4) + 4
    with torch.no_grad():
        logits, _ = model(src, lengths, tgt_in)
        changed_logits, _ = model(src, lengths, changed)
    torch.testing.assert_close(changed_logits[:, :3], logits[:, :3])
    assert not torch.allclose(changed_logits[:, 3:], logits[:, 3:])


def test_encoder_padding_is_invisible_and_summary_is_the_mean_of_real_states() -> None:
    model = build(TRANSFORMER_DECODERS["transformer>transformer"])
    src, lengths, _ = batch()
    with torch.no_grad():
        enc = model.encode(src, lengths)
        alone = model.encode(src[1:2, :2], lengths[1:2])
    torch.testing.assert_close(enc.states[1:2, :2], alone.states, atol=1e-5, rtol=1e-4)
    assert (enc.states[1, 2:] == 0).all()
    assert enc.final_hidden.shape == (1, 3, 16)
    torch.testing.assert_close(enc.final_hidden[0, 1], enc.states[1, :2].mean(0))


def test_cross_attention_maps_cover_every_layer_and_head() -> None:
    model = build({"encoder": transformer(), "decoder": transformer(layers=3, heads=2)})
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        maps = model.cross_attention_weights(src, lengths, tgt_in)
        _, attn = model(src, lengths, tgt_in)
    assert maps.shape == (3, 2, 3, 5, 6)  # layers, heads, batch, tgt, src
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2, 3, 5))
    padding = torch.arange(6)[None, :] >= lengths[:, None]  # [B, S]
    assert (maps.masked_select(padding[None, None, :, None, :].expand_as(maps)) == 0).all()
    torch.testing.assert_close(maps[-1].mean(0), attn)  # forward returns the last layer's mean


def test_rnn_attention_maps_have_one_layer_and_head_and_none_is_an_error() -> None:
    rnn = {"type": "gru", "hidden_size": 8, "embedding_size": 8}
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        maps = build({"encoder": rnn, "decoder": rnn}).cross_attention_weights(src, lengths, tgt_in)
        assert maps.shape == (1, 1, 3, 5, 6)
        plain = build({"encoder": rnn, "decoder": rnn, "attention": "none"})
        with pytest.raises(Seq2SeqError, match="no attention"):
            plain.cross_attention_weights(src, lengths, tgt_in)


def test_pre_norm_has_a_final_norm_and_post_norm_has_none() -> None:
    pre = build({"encoder": transformer(), "decoder": transformer()})
    post = build({"encoder": transformer(norm="post"), "decoder": transformer(norm="post")})
    assert pre.encoder.final_norm is not None and pre.decoder.final_norm is not None
    assert post.encoder.final_norm is None and post.decoder.final_norm is None
    assert (
        sum(p.numel() for p in pre.parameters())
        == sum(p.numel() for p in post.parameters()) + 2 * 2 * 16
    )  # two final norms of weight + bias


def test_sinusoids_are_bounded_distinct_and_extend_past_the_table() -> None:
    table = sinusoidal_table(50, 16)
    assert table.shape == (50, 16)
    assert table.abs().max() <= 1.0
    assert torch.cdist(table, table).fill_diagonal_(1.0).min() > 0.1  # every position differs
    positions = SinusoidalPositions(16, max_positions=8)
    torch.testing.assert_close(positions(6, 10), table[6:16])
    assert sinusoidal_table(4, 7).shape == (4, 7)  # odd widths work


def test_learned_positions_past_their_table_are_an_input_error() -> None:
    positions = LearnedPositions(8, max_positions=5)
    assert positions(0, 5).shape == (5, 8)
    with pytest.raises(InputError, match=r"max_positions: 5"):
        positions(3, 4)


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            {"encoder": transformer(d=18, heads=4), "decoder": transformer()},
            ["model.encoder", "18", "heads (4)"],
        ),
        (
            {"encoder": transformer(embedding_size=8), "decoder": transformer()},
            ["model.encoder", "embedding_size (8)", "hidden_size (16)"],
        ),
        (
            {"encoder": transformer(bidirectional=True), "decoder": transformer()},
            ["model.encoder", "bidirectional"],
        ),
        (
            {"encoder": transformer(), "decoder": transformer(), "attention": "bahdanau"},
            ["model", "'bahdanau'", "multihead"],
        ),
        (
            {
                "encoder": transformer(),
                "decoder": {"type": "lstm", "hidden_size": 10, "heads": 4},
                "attention": "multihead",
            },
            ["multihead", "hidden_size (10)", "heads (4)"],
        ),
        (
            {"encoder": transformer(), "decoder": transformer(norm="middle")},
            ["model.decoder.norm", "middle", "pre", "post"],
        ),
    ],
    ids=["heads", "embedding", "bidirectional", "rnn-attention", "rnn-multihead", "norm"],
)
def test_transformer_config_errors_name_the_key_and_the_rule(
    model: dict[str, Any], expected: list[str], model_config_errors: ConfigErrors
) -> None:
    message = model_config_errors(model)
    for part in expected:
        assert part in message


def test_a_transformer_decoder_defaults_to_multihead_attention() -> None:
    assert ModelConfig.model_validate({"decoder": transformer()}).attention == "multihead"
    assert ModelConfig.model_validate({}).attention == "luong_general"


def test_copy_bridge_from_a_transformer_counts_one_summary_layer(
    model_config_errors: ConfigErrors,
) -> None:
    ok = {"encoder": transformer(), "decoder": {"type": "gru", "hidden_size": 16}}
    ModelConfig.model_validate({**ok, "bridge": "copy"})
    message = model_config_errors(
        {
            "encoder": transformer(),
            "decoder": {"type": "gru", "hidden_size": 16, "layers": 2},
            "bridge": "copy",
        }
    )
    assert "1 x 16" in message and "2 x 16" in message


# --- bf16 autocast ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        {"encoder": transformer(), "decoder": transformer()},
        {
            "encoder": {
                "type": "lstm",
                "hidden_size": 8,
                "embedding_size": 8,
                "bidirectional": True,
            },
            "decoder": {"type": "lstm", "hidden_size": 16, "embedding_size": 8},
        },
    ],
    ids=["transformer", "lstm"],
)
def test_bf16_autocast_trains_and_stays_close_to_fp32(model: dict[str, Any]) -> None:
    net = build(model).train()
    for module in net.modules():  # no dropout: compare like with like
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    src, lengths, tgt_in = batch()
    fp32, _ = net(src, lengths, tgt_in)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16, _ = net(src, lengths, tgt_in)
    assert bf16.dtype == torch.bfloat16
    assert (bf16.float() - fp32).abs().max() < 0.1
    bf16.float().logsumexp(-1).mean().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_a_transformer_trains_with_noam_warmup_and_label_smoothing_by_default() -> None:
    base = {"data": {"corpus": "toy-reverse"}, "train": {"max_steps": 1}}
    rnn = load_config(base).train
    assert (rnn.schedule, rnn.label_smoothing) == ("constant", 0.0)
    for model in ({"encoder": transformer()}, {"decoder": transformer()}):
        tcfg = load_config({**base, "model": model}).train
        assert (tcfg.schedule, tcfg.warmup_steps, tcfg.label_smoothing) == ("noam", 1000, 0.1)
        assert tcfg.adam_betas == (0.9, 0.98)
    chosen = load_config(
        {**base, "model": {"encoder": transformer()}},
        ["train.schedule=constant", "train.label_smoothing=0.0"],
    ).train
    assert (chosen.schedule, chosen.warmup_steps, chosen.label_smoothing) == ("constant", 0, 0.0)
