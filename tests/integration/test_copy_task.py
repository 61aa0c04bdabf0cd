"""End to end: a pointer-generator learns to copy symbols it never saw in training.

On ``toy-copy-unseen`` the dev/test symbols ``num_symbols ..`` are outside the word vocabulary;
the copy model reproduces them, the same model without ``model.copy`` cannot. The trained copy
model also decodes the same alone and batched, survives a save/load round trip, shows its OOV
source tokens as strings, and prints a summary table.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from seq2seq import Config, Translator, load_config, train
from seq2seq.cli import main
from seq2seq.configs import resolve_config
from seq2seq.data.builtin import corpus_files
from seq2seq.data.corpus import Pair, read_pairs
from seq2seq.model_dir import load_model_dir
from seq2seq.models import build_model
from seq2seq.summary import summary_text
from seq2seq.training.checkpoint import BEST_WEIGHTS, read_metrics, save_weights

pytestmark = pytest.mark.integration

NUM_SYMBOLS = 10


def toy_config(copy: bool, **train: Any) -> Config:
    """A small bidirectional LSTM with Bahdanau attention (and coverage when copying)."""
    return load_config(
        {
            "data": {
                "corpus": "toy-copy-unseen",
                "toy": {
                    "num_train": 1000,
                    "num_valid": 40,
                    "num_test": 100,
                    "min_len": 3,
                    "max_len": 8,
                    "num_symbols": NUM_SYMBOLS,
                    "seed": 1,
                },
                "tokenizer": {"kind": "word", "joint": True},
            },
            "model": {
                "encoder": {
                    "type": "lstm",
                    "hidden_size": 32,
                    "embedding_size": 16,
                    "bidirectional": True,
                },
                "decoder": {"type": "lstm", "hidden_size": 32, "embedding_size": 16},
                "attention": "bahdanau",
                "copy": copy,
                "coverage": copy,
            },
            "train": {
                "lr": 0.01,
                "batch_size": 32,
                "batch_tokens": None,
                "max_steps": 300,
                "valid_every": 1000,
                "valid_bleu": False,
                "log_every": 5,
                "progress": False,
                **train,
            },
            "search": {"beam_size": 1, "max_len_ratio": 1.0, "max_len_extra": 2},
        }
    )


@pytest.fixture(scope="module")
def test_pairs() -> list[Pair]:
    return read_pairs(corpus_files("toy-copy-unseen", toy_config(True).data.toy)["test"])


@pytest.fixture(scope="module")
def copy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("copy") / "model"
    train(toy_config(True), model_dir)
    return model_dir


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("plain") / "model"
    train(toy_config(False), model_dir)
    return model_dir


def unseen_token_accuracy(outputs: list[str], pairs: list[Pair]) -> float:
    """Share of reference positions holding an unseen symbol that the output reproduces."""
    right = total = 0
    for output, pair in zip(outputs, pairs, strict=True):
        hyp = output.split()
        for i, ref in enumerate(pair.tgt.split()):
            if int(ref) >= NUM_SYMBOLS:
                total += 1
                right += i < len(hyp) and hyp[i] == ref
    return right / total


def test_copy_model_reproduces_unseen_symbols(copy_dir: Path, test_pairs: list[Pair]) -> None:
    outputs = Translator.load(copy_dir).translate([p.src for p in test_pairs])
    assert unseen_token_accuracy([o.text for o in outputs], test_pairs) >= 0.9


def test_the_same_model_without_copy_cannot(plain_dir: Path, test_pairs: list[Pair]) -> None:
    outputs = Translator.load(plain_dir).translate([p.src for p in test_pairs])
    assert unseen_token_accuracy([o.text for o in outputs], test_pairs) <= 0.05


@pytest.mark.parametrize("beam_size", [1, 3])
def test_batched_equals_one_by_one(copy_dir: Path, test_pairs: list[Pair], beam_size: int) -> None:
    translator = Translator.load(copy_dir)
    sources = [p.src for p in test_pairs[:24]]
    batched = translator.translate(sources, beam_size=beam_size, batch_size=24)
    alone = [translator.translate([s], beam_size=beam_size)[0] for s in sources]
    assert [t.text for t in batched] == [t.text for t in alone]
    for b, a in zip(batched, alone, strict=True):
        assert math.isclose(b.score, a.score, rel_tol=1e-4, abs_tol=1e-4)


def test_save_load_round_trip_gives_identical_output(
    copy_dir: Path, test_pairs: list[Pair], tmp_path: Path
) -> None:
    config, model, codec = load_model_dir(copy_dir)
    sources = [p.src for p in test_pairs[:30]]
    in_memory = Translator(model, codec, config.search).translate(sources, beam_size=3)
    copied = tmp_path / "copied"
    shutil.copytree(copy_dir, copied)
    save_weights(model, copied / BEST_WEIGHTS)
    reloaded = Translator.load(copied).translate(sources, beam_size=3)
    assert [(t.text, t.score) for t in reloaded] == [(t.text, t.score) for t in in_memory]


def test_oov_source_tokens_keep_their_strings(copy_dir: Path) -> None:
    translation = Translator.load(copy_dir).translate(["3 17 4 17"])[0]
    assert translation.source_tokens == ["3", "17", "4", "17"]  # not <unk>
    assert translation.text == "3 17 4 17"


def test_coverage_loss_phase_resumes_and_stays_finite(tmp_path: Path) -> None:
    model_dir = tmp_path / "phases"
    train(toy_config(True, max_steps=10), model_dir)
    train(toy_config(True, max_steps=20, coverage_loss_weight=1.0), model_dir, resume=True)
    losses = [r["loss"] for r in read_metrics(model_dir) if r["kind"] == "train"]
    assert len(losses) >= 2 and all(math.isfinite(x) for x in losses)


def test_summary_prints_a_table_for_a_copy_model(
    capsys: pytest.CaptureFixture[str], copy_dir: Path
) -> None:
    assert main(["summary", str(copy_dir)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^pointer\.switch \(Linear\)", out, re.MULTILINE), out
    assert re.search(r"^decoder\.attention\.coverage_proj \(Linear\)", out, re.MULTILINE), out


def test_shipped_toy_pointer_config_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "toy/copy-unseen-pointer"]) == 0
    assert "pointer.switch (Linear)" in capsys.readouterr().out


def test_shipped_debian_pointer_config_builds_a_copy_model() -> None:
    """Without the prepared corpus (``seq2seq data prepare debian-summaries``): a stand-in
    vocabulary size, the real config."""
    config = load_config(resolve_config("debian-summaries/pointer-generator"))
    assert config.model.copy and config.model.coverage and config.data.tokenizer.joint
    assert config.data.tokenizer.kind == "word"
    model = build_model(config.model, 1000, 1000, pad_id=0)
    assert "pointer.switch (Linear)" in summary_text(model)
