"""``DecoderState.select`` as beam search uses it: rows grouped by sentence keep what depends
on the sentence alone (RNN attention keys) without copying it, and every row still decodes
exactly as its sentence does alone."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from seq2seq.config import ModelConfig
from seq2seq.models import Seq2Seq, build_model
from seq2seq.models.contract import sentence_blocks

PAD, BOS = 0, 2
VOCAB = 13


def rnn(kind: str, hidden: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "hidden_size": hidden, "embedding_size": 8, **extra}


RNN_DECODERS = {
    "lstm-luong_general-feed": {
        "encoder": rnn("lstm", 10, bidirectional=True),
        "decoder": rnn("lstm", 12),
        "attention": "luong_general",
    },
    "gru-bahdanau": {
        "encoder": rnn("gru", 10),
        "decoder": rnn("gru", 12, layers=2),
        "attention": "bahdanau",
    },
    "lstm-bahdanau-coverage": {
        "encoder": rnn("lstm", 10),
        "decoder": rnn("lstm", 12),
        "attention": "bahdanau",
        "coverage": True,
    },
    "gru-multihead": {
        "encoder": rnn("lstm", 10),
        "decoder": rnn("gru", 12, heads=3, input_feeding=False),
        "attention": "multihead",
    },
}


def build(model: dict[str, Any]) -> Seq2Seq:
    torch.manual_seed(3)
    return build_model(ModelConfig.model_validate(model), VOCAB, VOCAB, PAD).eval()


@pytest.mark.parametrize(
    ("indices", "group", "blocks", "new_group"),
    [
        ([0, 0, 0, 1, 1, 1], 1, [0, 1], 3),  # beams expanded from one row per sentence
        ([2, 0, 1, 5, 3, 3], 3, [0, 1], 3),  # reordered within their sentences
        ([0, 1, 2, 6, 7, 8], 3, [0, 2], 3),  # sentence 1 dropped
        ([3, 0, 1, 2, 4, 5], 3, [1, 0, 0, 0, 1, 1], 1),  # a row changes sentence
        ([1, 0, 2], 1, [1, 0, 2], 1),  # one row per sentence, reordered
        ([], 2, [], 1),  # nothing left
    ],
)
def test_sentence_blocks(indices: list[int], group: int, blocks: list[int], new_group: int) -> None:
    got_blocks, got_group = sentence_blocks(torch.tensor(indices, dtype=torch.long), group)
    assert got_blocks.tolist() == blocks and got_group == new_group


@pytest.mark.parametrize("name", RNN_DECODERS)
def test_rnn_beams_keep_the_keys_of_their_sentence_uncopied_and_decode_as_alone(
    name: str,
) -> None:
    model = build(RNN_DECODERS[name])
    gen = torch.Generator().manual_seed(4)
    src = torch.randint(4, VOCAB, (3, 6), generator=gen)
    lengths = torch.tensor([6, 2, 4])
    src[torch.arange(6)[None, :] >= lengths[:, None]] = PAD
    tokens = torch.randint(4, VOCAB, (3, 2), generator=gen)
    beams = 3
    with torch.no_grad():
        enc = model.encode(src, lengths)
        state = model.init_state(enc)
        _, state, _ = model.decode_step(torch.full((3,), BOS), state, enc)
        expand = torch.arange(3).repeat_interleave(beams)  # [9]: sentence of each row
        grouped = state.select(expand)
        assert grouped.group == beams and grouped.proj_keys.size(0) == 9
        within = torch.tensor([2, 0, 1, 3, 3, 4, 8, 6, 7])  # parents in the same sentence
        reordered = grouped.select(within)
        assert reordered.group == beams and reordered.proj_keys is grouped.proj_keys
        across = torch.tensor([8, 0, 4, 1, 6, 2, 3, 5, 7])  # rows change sentence
        moved = reordered.select(across)
        assert moved.group == 1 and moved.proj_keys is not grouped.proj_keys
        dropped = reordered.select(torch.tensor([0, 1, 2, 6, 7, 8]))  # sentence 1 leaves
        assert dropped.group == beams and dropped.proj_keys.size(0) == 6

        for picked, rows in [
            (reordered, expand[within]),
            (moved, expand[within][across]),
            (dropped, expand[torch.tensor([0, 1, 2, 6, 7, 8])]),
        ]:
            log_probs, _, attn = model.decode_step(tokens[rows, 1], picked, enc.select(rows))
            for row, sentence in enumerate(rows.tolist()):
                alone_enc = enc.select(torch.tensor([sentence]))
                alone = model.init_state(alone_enc)
                _, alone, _ = model.decode_step(torch.full((1,), BOS), alone, alone_enc)
                want, _, want_attn = model.decode_step(
                    tokens[sentence : sentence + 1, 1], alone, alone_enc
                )
                torch.testing.assert_close(log_probs[row], want[0], atol=1e-5, rtol=1e-4)
                torch.testing.assert_close(attn[row], want_attn[0], atol=1e-5, rtol=1e-4)
