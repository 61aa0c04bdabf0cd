"""``seq2seq translate`` with constraints (``--constraints``, ``--input-format json``) and MBR
(``--mbr``), through ``main([...])`` on a tiny trained toy model, and their error messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import assert_user_error, run_cli

from seq2seq import Config, Translator, train

pytestmark = pytest.mark.integration

SOURCES = ["1 2 3", "4 5 6 7", "3 3 1"]
PHRASES = [["7 7", "0"], [], ["5 2 4"]]


@pytest.fixture(scope="module")
def model_dir(toy_config: Callable[..., Config], tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("constrained") / "model"
    train(toy_config(train={"max_steps": 30, "valid_every": 30}), directory)
    return directory


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def has_phrase(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


@pytest.mark.parametrize("beam", ["1", "3"])
def test_constraints_file_puts_every_phrase_in_the_output(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], beam: str
) -> None:
    src = write_lines(tmp_path / "in.txt", SOURCES)
    constraints = write_lines(tmp_path / "c.jsonl", [json.dumps(p) for p in PHRASES])
    argv = ["translate", str(model_dir), "-i", str(src), "--constraints", str(constraints)]
    assert run_cli([*argv, "--beam", beam]) == 0
    outputs = capsys.readouterr().out.splitlines()
    assert len(outputs) == len(SOURCES)
    for text, phrases in zip(outputs, PHRASES, strict=True):
        assert all(has_phrase(text, p) for p in phrases), (text, phrases)


@pytest.mark.parametrize("options", [{"n_best": 8}, {"mbr": True, "mbr_candidates": 8}])
def test_every_candidate_and_the_mbr_pick_keep_the_phrases(
    model_dir: Path, options: dict[str, object]
) -> None:
    # A short maximum length cuts some beams before they meet the phrases. They are never
    # returned, so neither an n-best candidate nor MBR's choice among them lacks a phrase.
    translations = Translator.load(model_dir).translate(
        SOURCES, constraints=PHRASES, beam_size=8, max_len=4, **options
    )
    for translation, phrases in zip(translations, PHRASES, strict=True):
        assert translation.candidates
        for candidate in translation.candidates:
            assert all(has_phrase(candidate.text, p) for p in phrases), (candidate.text, phrases)


def test_json_input_carries_text_and_constraints(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [{"text": s, "constraints": p} for s, p in zip(SOURCES, PHRASES, strict=True)]
    records[1] = {"text": SOURCES[1]}  # the field is optional
    src = write_lines(tmp_path / "in.jsonl", [json.dumps(r) for r in records])
    argv = ["translate", str(model_dir), "-i", str(src), "--input-format", "json"]
    assert run_cli([*argv, "--output-format", "json"]) == 0
    outputs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["source"] for o in outputs] == SOURCES
    for output, phrases in zip(outputs, PHRASES, strict=True):
        assert all(has_phrase(output["text"], p) for p in phrases)


def test_mbr_reports_the_expected_utility(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_lines(tmp_path / "in.txt", SOURCES)
    argv = ["translate", str(model_dir), "-i", str(src), "--output-format", "json"]
    options = ["--mbr", "--mbr-candidates", "4", "--mbr-metric", "bleu", "--nbest", "2"]
    assert run_cli([*argv, *options]) == 0
    for line in capsys.readouterr().out.splitlines():
        nbest = json.loads(line)["nbest"]
        assert len(nbest) == 2
        assert nbest[0]["mbr_utility"] >= nbest[1]["mbr_utility"] >= 0.0


def test_constraint_errors(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_lines(tmp_path / "in.txt", SOURCES)
    base = ["translate", str(model_dir), "-i", str(src)]
    short = write_lines(tmp_path / "short.jsonl", ['["1"]', "[]"])
    assert_user_error(
        capsys, [*base, "--constraints", str(short)], f"{short} has 2 lines but the input"
    )
    bad = write_lines(tmp_path / "bad.jsonl", ['["1"]', "[1 2]", "[]"])
    assert_user_error(capsys, [*base, "--constraints", str(bad)], f"{bad}:2: not JSON")
    blank = write_lines(tmp_path / "blank.jsonl", ['["1"]', '["   "]', "[]"])
    assert_user_error(
        capsys, [*base, "--constraints", str(blank)], "constraint '   '", "tokenizes to nothing"
    )
    json_input = write_lines(tmp_path / "in.jsonl", ['{"text": "1 2"}', '{"txt": "3"}'])
    assert_user_error(
        capsys,
        ["translate", str(model_dir), "-i", str(json_input), "--input-format", "json"],
        f"{json_input}:2: unknown field(s) txt",
    )
    assert_user_error(
        capsys, [*base, "--mbr", "--mbr-candidates", "1"], "search: mbr_candidates: 1"
    )
    # JSON escapes can spell lone surrogates, which no tokenizer takes: named by file:line.
    surrogate = write_lines(tmp_path / "s.jsonl", ['["1"]', '["ok", "caf\\udce9"]', "[]"])
    assert_user_error(
        capsys,
        [*base, "--constraints", str(surrogate)],
        f"{surrogate}:2: phrase 1: not valid Unicode text",
    )
    surrogate_text = write_lines(tmp_path / "s_in.jsonl", ['{"text": "caf\\udce9"}'])
    assert_user_error(
        capsys,
        ["translate", str(model_dir), "-i", str(surrogate_text), "--input-format", "json"],
        f'{surrogate_text}:1: "text": not valid Unicode text',
    )
