"""Loading, overriding and validating configs: the messages a user sees for each mistake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from seq2seq.config import Config, ParallelFiles, load_config, save_config
from seq2seq.configs import resolve_config, shipped_configs
from seq2seq.errors import ConfigError


def minimal() -> dict[str, Any]:
    """A fresh smallest valid config (fresh so that no test can leak changes into another)."""
    return {"data": {"corpus": "toy-reverse"}, "train": {"max_steps": 10}}


def errors_of(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(source, overrides)
    return str(info.value)


def write_yaml(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), "utf-8")
    return path


# --- loading ---------------------------------------------------------------------------------


def test_load_from_yaml_file_and_from_dict_agree(tmp_path: Path) -> None:
    raw = {
        **minimal(),
        "model": {"encoder": {"type": "gru", "hidden_size": 32}, "attention": "bahdanau"},
    }
    from_file = load_config(write_yaml(tmp_path / "c.yaml", raw))
    from_dict = load_config(raw)
    assert isinstance(from_file, Config)
    assert from_file == from_dict
    assert from_file.model.encoder.type == "gru"
    assert from_file.model.encoder.hidden_size == 32
    assert from_file.model.attention == "bahdanau"
    assert from_file.data.corpus == "toy-reverse"
    assert from_file.train.max_steps == 10


def test_load_config_does_not_modify_the_given_dict() -> None:
    raw = {"data": {"corpus": "toy-reverse"}, "train": {"max_steps": 10}}
    load_config(raw, ["train.lr=0.5", "model.encoder.layers=2"])
    assert raw == {"data": {"corpus": "toy-reverse"}, "train": {"max_steps": 10}}


def test_config_is_immutable() -> None:
    config = load_config(minimal())
    with pytest.raises(ValueError, match="frozen"):
        config.train.lr = 1.0  # type: ignore[misc]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    message = errors_of(path)
    assert str(path) in message
    assert "no such config file" in message


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "bad.yaml", "data: {corpus: toy-reverse}\ntrain:\n\tmax_steps: 3\n"
    )
    message = errors_of(path)
    assert message.startswith(f"{path}:3: invalid YAML")


def test_unclosed_bracket_reports_a_line_number(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "bad.yaml", "data:\n  corpus: toy\ntrain:\n  steps: [1, 2\n  x: 3\n"
    )
    assert re.match(rf"{re.escape(str(path))}:\d+: invalid YAML: ", errors_of(path))


@pytest.mark.parametrize("content", ["- data\n- train\n", "just a string\n", "", "42\n"])
def test_yaml_that_is_not_a_mapping_is_rejected(tmp_path: Path, content: str) -> None:
    path = write_yaml(tmp_path / "c.yaml", content)
    message = errors_of(path)
    assert str(path) in message
    assert "expected a mapping" in message


def test_non_utf8_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"data:\n  corpus: \xff\xfe\n")
    assert str(path) in errors_of(path)


# --- overrides -------------------------------------------------------------------------------


def test_override_sets_a_typed_value() -> None:
    config = load_config(minimal(), ["train.lr=0.0005", "train.label_smoothing=0.1"])
    assert config.train.lr == 0.0005
    assert config.train.label_smoothing == 0.1


def test_override_values_are_parsed_as_yaml() -> None:
    config = load_config(
        minimal(),
        [
            "train.max_steps=null",
            "train.max_epochs=3",
            "train.valid_bleu=false",
            "train.adam_betas=[0.8, 0.98]",
            "data.tokenizer.kind=word",
        ],
    )
    assert config.train.max_steps is None
    assert config.train.max_epochs == 3
    assert config.train.valid_bleu is False
    assert config.train.adam_betas == (0.8, 0.98)
    assert config.data.tokenizer.kind == "word"


def test_override_creates_missing_sections() -> None:
    config = load_config(
        {"data": {"corpus": "toy-reverse"}},
        ["train.max_steps=5", "model.encoder.hidden_size=32", "search.beam_size=3"],
    )
    assert config.train.max_steps == 5
    assert config.model.encoder.hidden_size == 32
    assert config.search.beam_size == 3


def test_later_override_wins() -> None:
    assert load_config(minimal(), ["train.lr=0.1", "train.lr=0.2"]).train.lr == 0.2


@pytest.mark.parametrize("bad", ["train.lr", "=0.1", " =3", "train.lr 0.1"])
def test_override_without_key_value_syntax_is_an_error(bad: str) -> None:
    message = errors_of(minimal(), [bad])
    assert repr(bad) in message
    assert "key=value" in message


def test_override_below_a_value_is_an_error() -> None:
    raw = minimal()
    raw["train"]["lr"] = 0.1
    message = errors_of(raw, ["train.lr.max=1"])
    assert "train.lr.max=1" in message
    assert "lr is not a section" in message
    # Below a key left at its default, the mapping it creates is rejected by validation.
    assert "train.lr:" in errors_of(minimal(), ["train.lr.max=1"])


def test_override_of_an_unknown_key_is_reported_like_a_file_key() -> None:
    message = errors_of(minimal(), ["train.learning_rate=0.1"])
    assert "train.learning_rate" in message
    assert "unknown key" in message


# --- validation: every problem at once -------------------------------------------------------


def test_every_problem_is_reported_at_once_one_line_each(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "c.yaml",
        {
            "data": {"corpus": "toy-reverse", "tokenizer": {"kind": "bpe"}},
            "model": {"attention": "luong", "encoder": {"hidden_size": "big"}},
            "train": {"max_steps": 10, "optimizer": "adagrad", "bogus": 1},
        },
    )
    lines = errors_of(path).splitlines()
    assert len(lines) == 5
    assert all(line.startswith(f"{path}: ") for line in lines)
    by_key = {line.split(": ")[1]: line for line in lines}
    assert set(by_key) == {
        "data.tokenizer.kind",
        "model.attention",
        "model.encoder.hidden_size",
        "train.optimizer",
        "train.bogus",
    }
    # Bad choices: the value and every allowed choice.
    for key, bad, allowed in [
        ("data.tokenizer.kind", "bpe", ["char", "word", "sentencepiece"]),
        ("model.attention", "luong", ["none", "bahdanau", "luong_dot", "luong_general"]),
        ("train.optimizer", "adagrad", ["adam", "adamw", "rmsprop", "sgd"]),
    ]:
        assert repr(bad) in by_key[key]
        for choice in allowed:
            assert repr(choice) in by_key[key]
    # Wrong type: the value and the expected type.
    assert "'big'" in by_key["model.encoder.hidden_size"]
    assert "integer" in by_key["model.encoder.hidden_size"]
    assert "unknown key" in by_key["train.bogus"]


def test_unknown_key_message_lists_the_valid_keys_of_its_section() -> None:
    message = errors_of(minimal(), ["train.learning_rate=0.1"])
    # "What is allowed" (STYLE.md): the keys the train section does accept.
    for valid in ("lr", "optimizer", "max_steps"):
        assert re.search(rf"\b{valid}\b", message), message


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("train.lr=-1", "train.lr", "-1"),
        ("train.label_smoothing=1.5", "train.label_smoothing", "1.5"),
        ("model.encoder.layers=0", "model.encoder.layers", "0"),
        ("search.beam_size=0", "search.beam_size", "0"),
        ("data.toy.num_symbols=1", "data.toy.num_symbols", "1"),
    ],
)
def test_out_of_range_value_names_key_value_and_bound(override: str, key: str, value: str) -> None:
    line = errors_of(minimal(), [override])
    assert f"{key}: {value}:" in line
    assert re.search(r"greater|less", line)


def test_missing_required_sections_are_all_reported() -> None:
    lines = errors_of({}).splitlines()
    assert any("data" in line and "missing" in line for line in lines)
    assert any("train" in line and "missing" in line for line in lines)


# --- rules across keys and sections ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"data": {"corpus": "toy-reverse", "tokenizer": {"joint": False}},
             "model": {"share_embeddings": True}, "train": {"max_steps": 1}},
            ["model.share_embeddings", "data.tokenizer.joint"],
        ),
        (
            {**minimal(), "search": {"beam_size": 2, "n_best": 3}},
            ["search", "n_best (3)", "beam_size (2)"],
        ),
        (
            {"data": {"corpus": "toy-reverse", "train": "t.tsv", "valid": "v.tsv"},
             "train": {"max_steps": 1}},
            ["data.corpus", "data.train", "exactly one"],
        ),
        (
            {"data": {}, "train": {"max_steps": 1}},
            ["data.corpus", "data.train", "exactly one"],
        ),
        (
            {"data": {"train": "t.tsv"}, "train": {"max_steps": 1}},
            ["data.valid", "required", "data.train"],
        ),
        (
            {"data": {"corpus": "toy-reverse"}, "train": {}},
            ["train", "max_steps", "max_epochs", "max_minutes"],
        ),
        (
            {"data": {"corpus": "toy-reverse"},
             "train": {"max_steps": 1, "batch_tokens": None, "batch_size": None}},
            ["train.batch_size", "batch_tokens"],
        ),
        (
            {"data": {"corpus": "toy-reverse"},
             "train": {"max_steps": 1, "early_stopping_metric": "bleu", "valid_bleu": False}},
            ["early_stopping_metric", "'bleu'", "valid_bleu"],
        ),
        (
            {"data": {"corpus": "toy-reverse"},
             "train": {"max_steps": 1, "early_stopping_metric": "exact", "valid_bleu": False}},
            ["early_stopping_metric", "'exact'", "valid_bleu"],
        ),
        (
            {"data": {"corpus": "toy-reverse", "toy": {"min_len": 9, "max_len": 3}},
             "train": {"max_steps": 1}},
            ["data.toy", "min_len (9)", "max_len (3)"],
        ),
    ],
    ids=[
        "share-embeddings-needs-joint",
        "n-best-le-beam",
        "corpus-and-train",
        "neither-corpus-nor-train",
        "train-needs-valid",
        "some-budget",
        "some-batch-limit",
        "bleu-needs-valid-bleu",
        "exact-needs-valid-bleu",
        "toy-lengths",
    ],
)  # fmt: skip
def test_cross_key_rules(raw: dict[str, Any], expected: list[str]) -> None:
    message = errors_of(raw)
    for part in expected:
        assert part in message


def test_valid_cross_key_combinations_load() -> None:
    load_config({**minimal(), "search": {"beam_size": 3, "n_best": 3}})
    load_config({"data": {"train": "t.tsv", "valid": "v.tsv"}, "train": {"max_epochs": 1}})
    load_config({"data": {"corpus": "toy-reverse"}, "train": {"max_minutes": 0.5}})
    load_config(
        {
            "data": {"corpus": "toy-reverse", "tokenizer": {"joint": True}},
            "model": {"share_embeddings": True},
            "train": {"max_steps": 1, "early_stopping_metric": "exact"},
        }
    )


def test_parallel_files_are_accepted_for_a_split() -> None:
    config = load_config(
        {
            "data": {"train": {"src": "a.src", "tgt": "a.tgt"}, "valid": "v.tsv"},
            "train": {"max_steps": 1},
        }
    )
    assert config.data.train == ParallelFiles(src="a.src", tgt="a.tgt")
    assert config.data.valid == "v.tsv"


# --- round trip and shipped configs ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        minimal(),
        {
            "data": {
                "train": {"src": "a.src", "tgt": "a.tgt"},
                "valid": "v.tsv",
                "test": {"src": "t.src", "tgt": "t.tgt"},
                "tokenizer": {"kind": "char", "joint": False, "max_vocab_size": 50},
            },
            "model": {
                "encoder": {"type": "gru", "layers": 2, "bidirectional": True, "dropout": 0.3},
                "decoder": {"type": "rnn", "hidden_size": 64, "embedding_size": 64,
                            "tie_embeddings": True, "input_feeding": False},
                "attention": "luong_concat",
                "bridge": "zero",
            },
            "train": {"max_epochs": 2, "max_minutes": 1.5, "adam_betas": [0.8, 0.9],
                      "clip_grad_norm": None, "schedule": "noam", "warmup_steps": 100},
            "search": {"beam_size": 4, "n_best": 2, "length_penalty": 0.0},
        },
    ],
    ids=["minimal", "everything-changed"],
)  # fmt: skip
def test_save_then_load_gives_an_equal_config(tmp_path: Path, raw: dict[str, Any]) -> None:
    config = load_config(raw)
    path = tmp_path / "config.yaml"
    save_config(config, path)
    reloaded = load_config(path)
    assert reloaded == config
    save_config(reloaded, tmp_path / "again.yaml")
    assert (tmp_path / "again.yaml").read_text() == path.read_text()


def test_there_are_shipped_configs() -> None:
    assert "toy/reverse-lstm" in shipped_configs()


@pytest.mark.parametrize("name", shipped_configs())
def test_every_shipped_config_loads(name: str) -> None:
    path = resolve_config(name)
    assert path.is_file()
    assert resolve_config(f"{name}.yaml") == path
    config = load_config(path)
    assert config.train.max_steps or config.train.max_epochs or config.train.max_minutes


def test_resolve_config_prefers_an_existing_path(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    local = write_yaml(tmp_path / "mine.yaml", minimal())
    assert resolve_config("mine.yaml") == Path("mine.yaml")
    assert load_config(resolve_config("mine.yaml")) == load_config(local)


def test_unknown_shipped_name_lists_the_shipped_configs() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config("toy/nope")
    assert "toy/nope" in str(info.value)
    assert "toy/reverse-lstm" in str(info.value)
