"""Ensembles: several models decode as one by averaging next-token probabilities."""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from seq2seq.cli import main
from seq2seq.config import Config
from seq2seq.decoding.ensemble import Ensemble
from seq2seq.decoding.translator import Translator
from seq2seq.errors import InputError, ModelDirError
from seq2seq.models import build_model
from seq2seq.training.trainer import train

MakeConfig = Callable[..., Config]
SOURCES = ["1 2 3", "4 5 6 7", "2 2 8", ""]
TRANSFORMER = {
    "type": "transformer",
    "hidden_size": 16,
    "embedding_size": 16,
    "heads": 2,
    "ff_size": 32,
}


@pytest.fixture(scope="module")
def members(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """An LSTM run, another LSTM seed and a Transformer, all on the same toy data."""
    root = tmp_path_factory.mktemp("ensemble")
    configs = {
        "lstm1": toy_config(train={"seed": 1, "max_steps": 30, "valid_every": 30}),
        "lstm2": toy_config(train={"seed": 2, "max_steps": 30, "valid_every": 30}),
        "transformer": toy_config(
            model={"encoder": TRANSFORMER, "decoder": TRANSFORMER, "attention": "multihead"},
            train={"max_steps": 30, "valid_every": 30},
        ),
    }
    for name, config in configs.items():
        train(config, root / name)
    return [root / name for name in configs]


def texts_and_scores(translator: Translator, **options: object) -> list[list[tuple[str, float]]]:
    return [
        [(c.text, round(c.score, 4)) for c in t.candidates]
        for t in translator.translate(SOURCES, **options)
    ]


def test_a_model_ensembled_with_itself_equals_the_model(members: list[Path]) -> None:
    alone = Translator.load(members[0])
    twice = Translator.load_ensemble([members[0], members[0]])
    for options in ({"beam_size": 1}, {"beam_size": 3, "n_best": 2}):
        assert texts_and_scores(twice, **options) == texts_and_scores(alone, **options)


def test_each_step_averages_the_members_probabilities(members: list[Path]) -> None:
    ensemble = Translator.load_ensemble(members).model
    parts = [Translator.load(d).model for d in members]
    src, lengths = torch.tensor([[5, 6, 7, 3]]), torch.tensor([4])
    prev = torch.tensor([2])
    with torch.no_grad():
        enc = ensemble.encode(src, lengths)
        got, _, _ = ensemble.decode_step(prev, ensemble.init_state(enc), enc)
        probs = []
        for model in parts:
            member_enc = model.encode(src, lengths)
            log_probs, _, _ = model.decode_step(prev, model.init_state(member_enc), member_enc)
            probs.append(log_probs.exp())
    torch.testing.assert_close(got.exp(), torch.stack(probs).mean(0))


def test_mixed_families_decode_together_from_the_cli(
    members: list[Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("1 2 3\n\n4 5\n"))
    argv = ["translate", *map(str, members), "--beam", "2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1] == ""


def test_members_with_another_vocabulary_are_refused(
    members: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    shutil.copytree(members[1], other)
    vocab = other / "tgt.vocab"
    vocab.write_text(vocab.read_text(encoding="utf-8") + "extra\n", encoding="utf-8")
    with pytest.raises(ModelDirError, match=r"vocabulary \(tgt.vocab\) differs"):
        Translator.load_ensemble([members[0], other])
    assert main(["translate", str(members[0]), str(other)]) == 2
    assert "must share their vocabularies" in capsys.readouterr().err


def test_copy_models_and_fewer_than_two_members_are_refused(
    members: list[Path], small_model_config: Callable[..., object]
) -> None:
    # A copy model's distribution reaches past the shared vocabulary into each sentence's own
    # copied words; averaged with others those would come out as <unk>, so it is refused.
    copier = build_model(small_model_config(copy=True, attention="bahdanau"), 12, 12, 0)
    with pytest.raises(InputError, match=r"member 1 is a copy .* cannot be ensembled"):
        Ensemble([copier, copier])
    for bad in (str(members[0]), [members[0]], []):
        with pytest.raises(InputError, match="two or more model directories"):
            Translator.load_ensemble(bad)  # type: ignore[arg-type]
