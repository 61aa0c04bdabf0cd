"""Reading constraint phrases: the constraints file, JSON-lines input, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq.data.constraints import (
    parse_json_input,
    parse_phrase_list,
    read_constraints_file,
    translation_input,
)
from seq2seq.errors import DataError, InputError


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_phrase_lists_and_json_input_lines() -> None:
    assert parse_phrase_list('["la casa", "grande"]', "c:1") == ["la casa", "grande"]
    assert parse_phrase_list("[]", "c:2") == []
    assert parse_json_input('{"text": "a b", "constraints": ["x"]}', "in:1") == ("a b", ["x"])
    assert parse_json_input('{"text": "a b"}', "in:1") == ("a b", None)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", r"c:3: not JSON \(Expecting value\); expected a list of phrases such as"),
        ('"la casa"', 'c:3: expected a JSON list of phrases such as .*, got "la casa"'),
        ('["a", 2]', r'c:3: expected a JSON list of phrases .*, got \["a", 2\]'),
        ("{}", "c:3: expected a JSON list of phrases"),
    ],
)
def test_bad_phrase_lists(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_phrase_list(line, "c:3")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", r"in:7: not JSON \(Expecting property name"),
        ('["a"]', r'in:7: expected a JSON object like \{"text": "...", .*got \["a"\]'),
        ('{"text": "a", "lang": "es"}', "in:7: unknown field.s. lang; allowed: text, constraints"),
        ('{"constraints": []}', 'in:7: "text" must be a string, got null'),
        ('{"text": "a", "constraints": "b"}', 'in:7: "constraints": expected a JSON list'),
    ],
)
def test_bad_json_input_lines(line: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_json_input(line, "in:7")


def test_read_constraints_file_names_the_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", '["a"]', "[]", "[oops")
    with pytest.raises(InputError, match=rf"{path}:3: not JSON"):
        read_constraints_file(path)
    with pytest.raises(DataError):
        read_constraints_file(tmp_path / "missing.jsonl")


def test_plain_text_streams_through_untouched() -> None:
    lines = iter(["a", "b"])
    texts, constraints = translation_input(lines, "<stdin>", "text", None)
    assert texts is lines and constraints is None


def test_constraints_file_pairs_with_the_input_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", '["x y"]', "[]")
    texts, constraints = translation_input(["a", "b"], "in.txt", "text", path)
    assert list(texts) == ["a", "b"] and constraints == [["x y"], []]
    with pytest.raises(InputError, match=rf"{path} has 2 lines but the input in.txt has 3: give"):
        translation_input(["a", "b", "c"], "in.txt", "text", path)


def test_json_input_with_and_without_constraints(tmp_path: Path) -> None:
    lines = ['{"text": "a", "constraints": ["x"]}', '{"text": "b"}']
    texts, constraints = translation_input(lines, "in.jsonl", "json", None)
    assert list(texts) == ["a", "b"] and constraints == [["x"], []]
    texts, constraints = translation_input(['{"text": "a"}'], "in.jsonl", "json", None)
    assert list(texts) == ["a"] and constraints is None
    path = write(tmp_path / "c.jsonl", '["y"]', "[]")
    with pytest.raises(InputError, match=r'in\.jsonl:1 has a "constraints" field but .* one way'):
        translation_input(lines, "in.jsonl", "json", path)
    texts, constraints = translation_input(['{"text": "a"}', '{"text": "b"}'], "in", "json", path)
    assert constraints == [["y"], []]
