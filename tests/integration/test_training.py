"""End-to-end training and inference on the generated reversal task, through the public API.

A shipped config must learn its task; resuming must be exact; signals must stop training
cleanly; model directories must be protected and self-contained; the Translator must be the
same in memory and after a save/load round trip.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from seq2seq import Config, Translator, load_config, train
from seq2seq.config import config_to_dict, save_config
from seq2seq.configs import resolve_config
from seq2seq.data.builtin import corpus_files
from seq2seq.data.corpus import read_pairs
from seq2seq.decoding.translator import MAX_SOURCE_TOKENS
from seq2seq.errors import InputError, ModelDirError
from seq2seq.model_dir import load_model_dir
from seq2seq.training.checkpoint import BEST_WEIGHTS as BEST
from seq2seq.training.checkpoint import read_metrics, save_weights

pytestmark = pytest.mark.integration

MakeConfig = Callable[..., Config]


def split_pairs(config: Config, split: str) -> list[Any]:
    return read_pairs(corpus_files(config.data.corpus, config.data.toy)[split])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# --- learning --------------------------------------------------------------------------------


def test_shipped_reverse_config_reaches_99_percent_sequence_accuracy(tmp_path: Path) -> None:
    config = load_config(resolve_config("toy/reverse-lstm"), ["train.progress=false"])
    result = train(config, tmp_path / "reverse")
    assert result.steps == config.train.max_steps
    translator = Translator.load(tmp_path / "reverse")
    pairs = split_pairs(config, "test")
    outputs = translator.translate([p.src for p in pairs], beam_size=1)
    accuracy = sum(o.text == p.tgt for o, p in zip(outputs, pairs, strict=True)) / len(pairs)
    assert accuracy >= 0.99, f"sequence accuracy on the toy test split: {accuracy:.3f}"


# --- exact resume ----------------------------------------------------------------------------

RESUME_CHANGES: dict[str, Any] = {
    "model": {"encoder": {"layers": 2, "dropout": 0.3}, "decoder": {"dropout": 0.3}},
    "train": {
        "schedule": "plateau",
        "plateau_patience": 0,
        "label_smoothing": 0.1,
        # exact match stays 0 this early, so every validation after the first cuts the lr:
        # the schedule state must be restored too.
        "early_stopping_metric": "exact",
    },
}


@pytest.fixture(scope="module")
def steps_per_epoch(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> int:
    config = toy_config(train={"max_steps": None, "max_epochs": 1})
    return train(config, tmp_path_factory.mktemp("one-epoch") / "m").steps


def resume_config(toy_config: MakeConfig, max_steps: int, valid_every: int) -> Config:
    return toy_config(
        model=RESUME_CHANGES["model"],
        train={**RESUME_CHANGES["train"], "max_steps": max_steps, "valid_every": valid_every},
    )


@pytest.mark.parametrize(
    "case", ["valid-every-divides-n", "valid-every-does-not-divide-n", "crosses-epoch", "at-epoch"]
)
def test_resumed_training_equals_uninterrupted(
    tmp_path: Path, toy_config: MakeConfig, steps_per_epoch: int, case: str
) -> None:
    n, valid_every = {
        "valid-every-divides-n": (8, 4),
        "valid-every-does-not-divide-n": (8, 3),
        "crosses-epoch": (steps_per_epoch - 3, 5),  # the resumed half starts a new epoch
        "at-epoch": (steps_per_epoch, 4),  # stopped exactly at the end of an epoch
    }[case]
    if case == "crosses-epoch":
        assert n < steps_per_epoch < 2 * n
    straight = tmp_path / "straight"
    train(resume_config(toy_config, 2 * n, valid_every), straight)

    stopped = tmp_path / "stopped"
    first = train(resume_config(toy_config, n, valid_every), stopped)
    assert first.steps == n
    config = load_config(stopped / "config.yaml", [f"train.max_steps={2 * n}"])
    assert config == resume_config(toy_config, 2 * n, valid_every)
    second = train(config, stopped, resume=True)
    assert second.steps == 2 * n

    want, got = load_file(straight / "last.safetensors"), load_file(stopped / "last.safetensors")
    assert want.keys() == got.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name
    want_state = torch.load(straight / "training_state.pt", weights_only=True)
    got_state = torch.load(stopped / "training_state.pt", weights_only=True)
    for key in ("step", "epoch", "batch_in_epoch"):
        assert got_state["progress"][key] == want_state["progress"][key]
    assert got_state["schedule"] == want_state["schedule"]
    # The validation made at the first stop leaves no trace: the best model and the
    # validation records are those of the uninterrupted run.
    want_best, got_best = load_file(straight / BEST), load_file(stopped / BEST)
    assert all(torch.equal(got_best[name], want_best[name]) for name in want_best)
    assert got_state["progress"]["best_step"] == want_state["progress"]["best_step"]
    assert scores(stopped) == scores(straight)


def scores(model_dir: Path) -> list[dict[str, Any]]:
    """Every metrics record without its timing fields (a resumed run's log windows average
    the same steps as an uninterrupted run's)."""
    timing = {"tokens_per_s", "elapsed_s"}
    return [{k: v for k, v in r.items() if k not in timing} for r in read_metrics(model_dir)]


def test_resume_after_a_crash_drops_metrics_past_the_checkpoint(
    tmp_path: Path, toy_config: MakeConfig
) -> None:
    # kill -9 after step 6's checkpoint leaves records of steps the resumed run trains again.
    model_dir = tmp_path / "model"
    train(resume_config(toy_config, 6, 3), model_dir)
    with open(model_dir / "metrics.jsonl", "a", encoding="utf-8") as metrics:
        metrics.write('{"kind": "train", "step": 7, "loss": 1.0}\n{"kind": "tra')
    train(resume_config(toy_config, 9, 3), model_dir, resume=True)
    steps = [(r["kind"], r["step"]) for r in read_metrics(model_dir)]
    assert len(steps) == len(set(steps))
    assert ("valid", 9) in steps and ("valid", 6) in steps


def test_a_run_that_died_before_its_first_checkpoint_can_start_again(
    tmp_path: Path, toy_config: MakeConfig
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.yaml").write_text("left by a run killed at start-up\n")
    (model_dir / "metrics.jsonl").write_text('{"kind": "train", "step": 5, "loss": 9.0}\n')
    train(toy_config(train={"max_steps": 4, "valid_every": 4}), model_dir)
    assert [r["step"] for r in read_metrics(model_dir)][-1] == 4
    assert all(r.get("loss") != 9.0 for r in read_metrics(model_dir))


class _RunsCode:
    """Unpickling this would run a shell command; a checkpoint must never be able to."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("touch ran-code",))


def test_a_training_state_that_would_run_code_is_refused_without_advice_to_allow_it(
    tmp_path: Path, toy_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model_dir = tmp_path / "model"
    train(resume_config(toy_config, 2, 2), model_dir)
    torch.save({"progress": _RunsCode()}, model_dir / "training_state.pt")
    with pytest.raises(ModelDirError, match="refused: it holds objects other than") as info:
        train(resume_config(toy_config, 4, 2), model_dir, resume=True)
    assert "weights_only" not in str(info.value)
    assert not (tmp_path / "ran-code").exists()


def test_resume_refuses_changed_model_or_data_settings(
    tmp_path: Path, toy_config: MakeConfig
) -> None:
    model_dir = tmp_path / "model"
    train(resume_config(toy_config, 4, 4), model_dir)
    stored = config_to_dict(load_config(model_dir / "config.yaml"))
    for override, key in [
        ("data.tokenizer.kind=char", "data.tokenizer.kind: 'word' -> 'char'"),
        ("model.decoder.hidden_size=32", "model.decoder.hidden_size: 16 -> 32"),
    ]:
        config = load_config(model_dir / "config.yaml", ["train.max_steps=8", override])
        with pytest.raises(ModelDirError, match=re.escape(key)):
            train(config, model_dir, resume=True)
    assert config_to_dict(load_config(model_dir / "config.yaml")) == stored
    config = load_config(model_dir / "config.yaml", ["train.max_steps=8", "train.lr=0.005"])
    assert train(config, model_dir, resume=True).steps == 8  # train settings may change


# --- signals ---------------------------------------------------------------------------------


def seq2seq_command() -> list[str]:
    script = Path(sys.executable).parent / "seq2seq"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "seq2seq.cli"]


def wait_for_metrics(process: subprocess.Popen[str], metrics: Path, deadline_s: float) -> None:
    """Polls until ``metrics`` has a complete line (a deadline only guards against hangs)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if metrics.is_file() and metrics.read_text().endswith("\n"):
            return
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"training exited early ({process.returncode}):\n{out}\n{err}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("no metrics line was written before the deadline")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_training_cleanly_and_resume_finishes(
    tmp_path: Path, toy_config: MakeConfig, sig: signal.Signals
) -> None:
    config = toy_config(train={"max_steps": 1_000_000, "log_every": 1, "valid_every": 100_000})
    config_path = tmp_path / "config.yaml"
    save_config(config, config_path)
    model_dir = tmp_path / "model"
    process = subprocess.Popen(
        [*seq2seq_command(), "train", str(config_path), "train.threads=1", "-o", str(model_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        wait_for_metrics(process, model_dir / "metrics.jsonl", deadline_s=120)
        process.send_signal(sig)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert f"stopped by {sig.name}" in out
    assert "--resume" in out
    assert (model_dir / "training_state.pt").is_file()
    assert (model_dir / "last.safetensors").is_file()
    assert (model_dir / "model.safetensors").is_file()
    stopped_at = int(re.search(r"trained (\d+) steps", out).group(1))
    assert stopped_at >= 1

    budget = stopped_at + 5
    resumed = subprocess.run(
        [*seq2seq_command(), "train", "--resume", str(model_dir), "--max-steps", str(budget)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"trained {budget} steps (reached max_steps={budget})" in resumed.stdout
    assert Translator.load(model_dir).translate(["1 2 3"])[0].source == "1 2 3"


# --- model directory protection --------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_dir(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trained model, shared by the tests that only read it (copy before damaging)."""
    model_dir = tmp_path_factory.mktemp("trained") / "model"
    train(toy_config(train={"max_steps": 60, "valid_every": 30}), model_dir)
    return model_dir


def test_training_into_an_existing_model_dir_is_refused(
    tmp_path: Path, trained_dir: Path, toy_config: MakeConfig
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(trained_dir, model_dir)
    before = snapshot(model_dir)
    with pytest.raises(ModelDirError, match="already holds a model") as info:
        train(toy_config(), model_dir)
    assert str(model_dir) in str(info.value)
    assert "--resume" in str(info.value)
    assert snapshot(model_dir) == before


@pytest.mark.parametrize("exists", [True, False], ids=["empty-dir", "no-dir"])
def test_resume_without_a_previous_run_is_refused(
    tmp_path: Path, toy_config: MakeConfig, exists: bool
) -> None:
    model_dir = tmp_path / "model"
    if exists:
        model_dir.mkdir()
    with pytest.raises(ModelDirError, match="nothing to resume") as info:
        train(toy_config(), model_dir, resume=True)
    assert str(model_dir) in str(info.value)
    assert not exists or list(model_dir.iterdir()) == []


# --- Translator ------------------------------------------------------------------------------


def test_translator_save_load_round_trip_matches_the_in_memory_model(
    tmp_path: Path, trained_dir: Path
) -> None:
    config, model, codec = load_model_dir(trained_dir)
    with torch.no_grad():  # weights that exist only in memory until saved below
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.01)
    in_memory = Translator(model, codec, config.search)
    model_dir = tmp_path / "copy"
    model_dir.mkdir()
    save_config(config, model_dir / "config.yaml")
    codec.save(model_dir)
    save_weights(model, model_dir / "model.safetensors")
    reloaded = Translator.load(model_dir)
    sources = [p.src for p in split_pairs(config, "test")]
    for search in ({"beam_size": 1}, {"beam_size": 4, "n_best": 3}):
        want, got = in_memory.translate(sources, **search), reloaded.translate(sources, **search)
        for w, g in zip(want, got, strict=True):
            assert [c.text for c in g.candidates] == [c.text for c in w.candidates]
            assert [c.score for c in g.candidates] == pytest.approx(
                [c.score for c in w.candidates], abs=1e-6
            )


def test_translate_keeps_order_and_matches_one_by_one(trained_dir: Path) -> None:
    translator = Translator.load(trained_dir)
    sources = ["1 2 3 4 5 6", "7", "3 3", "0 1 2 3", "6 5 4"]
    together = translator.translate(sources, batch_size=2)
    assert [t.source for t in together] == sources
    for source, translation in zip(sources, together, strict=True):
        assert translator.translate([source])[0].text == translation.text


def test_empty_and_blank_lines_give_empty_outputs_in_place(trained_dir: Path) -> None:
    translator = Translator.load(trained_dir)
    sources = ["1 2 3", "", "   ", "4 5", "\t"]
    for search in ({"beam_size": 1}, {"beam_size": 3, "n_best": 2}):
        translations = translator.translate(sources, **search)
        assert [t.source for t in translations] == sources
        for i in (1, 2, 4):
            assert translations[i].text == ""
            assert translations[i].source_tokens == []
        assert translations[0].text == translator.translate(["1 2 3"], **search)[0].text
        assert translations[3].text == translator.translate(["4 5"], **search)[0].text
    assert translator.translate([]) == []


def test_over_long_input_is_truncated_with_a_warning(
    trained_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    translator = Translator.load(trained_dir)
    too_long = " ".join(str(i % 8) for i in range(MAX_SOURCE_TOKENS + 50))
    with caplog.at_level(logging.WARNING, logger="seq2seq"):
        [translation] = translator.translate([too_long])
    assert isinstance(translation.text, str)
    assert len(translation.source_tokens) <= MAX_SOURCE_TOKENS
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("truncated" in r.getMessage() for r in warnings)
    assert any(str(MAX_SOURCE_TOKENS) in r.getMessage() for r in warnings)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ({"beam_size": 0}, "beam_size"),
        ({"beam_size": 2, "n_best": 3}, "n_best"),
        ({"n_best": 0}, "n_best"),
        ({"max_len": 0}, "max_len"),
        ({"beam": 3}, "beam"),
        ({"nbest": 2, "lenght_penalty": 1.0}, "lenght_penalty"),
    ],
)
def test_bad_search_options_are_input_errors(
    trained_dir: Path, search: dict[str, Any], expected: str
) -> None:
    translator = Translator.load(trained_dir)
    with pytest.raises(InputError) as info:
        translator.translate(["1 2 3"], **search)
    assert expected in str(info.value)


def test_unknown_search_option_lists_the_allowed_ones(trained_dir: Path) -> None:
    with pytest.raises(InputError) as info:
        Translator.load(trained_dir).translate(["1 2"], beam=2)
    assert "beam" in str(info.value)
    assert "beam_size" in str(info.value)


# --- damaged model directories ---------------------------------------------------------------


def damage_config(model_dir: Path) -> None:
    (model_dir / "config.yaml").write_text("data: [unclosed\n", encoding="utf-8")


def damage_config_keys(model_dir: Path) -> None:
    raw = config_to_dict(load_config(model_dir / "config.yaml"))
    raw["model"]["encoder"]["hiden_size"] = 3
    (model_dir / "config.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")


def change_architecture(model_dir: Path) -> None:
    raw = config_to_dict(load_config(model_dir / "config.yaml"))
    raw["model"]["decoder"]["hidden_size"] = 24
    (model_dir / "config.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing-weights": (lambda d: (d / "model.safetensors").unlink(), "model.safetensors"),
    "truncated-weights": (lambda d: truncate(d / "model.safetensors"), "model.safetensors"),
    "empty-weights": (lambda d: (d / "model.safetensors").write_bytes(b""), "model.safetensors"),
    "missing-src-vocab": (lambda d: (d / "src.vocab").unlink(), "src.vocab"),
    "corrupt-src-vocab": (lambda d: (d / "src.vocab").write_bytes(b"\xff\xfe\x00"), "src.vocab"),
    "missing-config": (lambda d: (d / "config.yaml").unlink(), "config.yaml"),
    "invalid-yaml-config": (damage_config, "config.yaml"),
    "unknown-key-config": (damage_config_keys, "config.yaml"),
    "config-does-not-match-weights": (change_architecture, "model.safetensors"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_model_dir_names_the_file(tmp_path: Path, trained_dir: Path, damage: str) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(trained_dir, model_dir)
    apply, file_name = DAMAGES[damage]
    apply(model_dir)
    with pytest.raises(ModelDirError) as info:
        Translator.load(model_dir)
    assert file_name in str(info.value)


def test_missing_model_dir_is_a_model_dir_error(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="no such model directory"):
        Translator.load(tmp_path / "nope")


def test_sampling_through_the_translator_is_seeded_and_gives_n_samples(trained_dir: Path) -> None:
    translator = Translator.load(trained_dir)
    sources = ["1 2 3", "4 5 6 7"]
    options = {"sample": True, "n_best": 4, "temperature": 1.5, "seed": 3}
    first = translator.translate(sources, **options)
    again = translator.translate(sources, **options)
    assert [len(t.candidates) for t in first] == [4, 4]  # n_best may exceed beam_size here
    assert [[c.text for c in t.candidates] for t in first] == [
        [c.text for c in t.candidates] for t in again
    ]
    greedy = [t.text for t in translator.translate(sources, beam_size=1)]
    cold = translator.translate(sources, sample=True, n_best=2, temperature=0.0)
    assert [[c.text for c in t.candidates] for t in cold] == [[g, g] for g in greedy]


def test_bad_sampling_options_are_input_errors_naming_the_key(trained_dir: Path) -> None:
    translator = Translator.load(trained_dir)
    with pytest.raises(InputError, match="top_p"):
        translator.translate(["1 2"], sample=True, top_p=1.5)
    with pytest.raises(InputError, match=r"n_best \(3\) must be <= beam_size \(1\)"):
        translator.translate(["1 2"], beam_size=1, n_best=3)
