"""Constraint phrases as text: reading them and turning them into target ids.

Lexically constrained decoding (``seq2seq.decoding.constrained``) works on target-id phrases;
users give text. This module sits between the two: it reads the JSON-lines inputs of
``seq2seq translate`` (a ``--constraints`` file with one list of phrases per input line, or
``--input-format json`` lines ``{"text": ..., "constraints": [...]}``) and encodes phrases with
the model's target tokenizer and vocabulary, rejecting phrases the output could not contain.
A phrase is tokenized on its own, as text starting a word, so it matches from a word boundary
(with sentencepiece its first piece carries the word-start mark).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from seq2seq.data.corpus import read_lines
from seq2seq.data.pipeline import TextCodec
from seq2seq.errors import InputError

JSON_INPUT_FIELDS = ("text", "constraints")
PHRASES_EXAMPLE = '["la casa", "grande"]'


def check_unicode(text: str, where: str) -> str:
    """``text``, unless it holds a lone surrogate (a JSON ``"\\udce9"`` escape decodes to one)
    that no tokenizer can take: then InputError naming ``where`` and the character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(
            f"{where}: not valid Unicode text ({err.reason} at character {err.start})"
        ) from None
    return text


def encode_phrases(codec: TextCodec, source: str, phrases: Sequence[str]) -> list[list[int]]:
    """Target ids of each phrase, for the source sentence ``source`` (named in errors).

    Raises:
        InputError: A phrase tokenizes to nothing, or holds a token outside the target
            vocabulary or a special token (``<unk>``, ``<s>``, ...): the output could only
            contain ``<unk>`` or a control symbol there.
    """
    vocab = codec.tgt_vocab
    special = {vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id}
    encoded = []
    for phrase in phrases:
        tokens = codec.tgt_tokenizer.encode(phrase.strip()) if phrase.strip() else []
        if not tokens:
            raise InputError(
                f"constraint {phrase!r} for source {source!r} tokenizes to nothing; "
                "give a phrase with at least one target token"
            )
        ids = vocab.encode(tokens)
        bad = [token for token, i in zip(tokens, ids, strict=True) if i in special]
        if bad:
            raise InputError(
                f"constraint {phrase!r} for source {source!r}: {bad} not in the target "
                "vocabulary (or special); use words the model can produce"
            )
        encoded.append(ids)
    return encoded


def parse_phrase_list(line: str, where: str) -> list[str]:
    """One line of a constraints file: a JSON list of phrases (``[]`` for none).

    Raises:
        InputError: The line is not JSON or not a list of strings (``where`` is ``file:line``).
    """
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{where}: not JSON ({err.msg}); expected a list of phrases such as "
            f"{PHRASES_EXAMPLE} ([] for none)"
        ) from None
    return _phrases(value, where)


def read_constraints_file(path: Path) -> list[list[str]]:
    """Every line of a JSON-lines constraints file, one list of phrases per line.

    Raises:
        DataError: The file is missing, empty or not UTF-8.
        InputError: A line is not a JSON list of strings (message names ``file:line``).
    """
    return [parse_phrase_list(line, f"{path}:{n}") for n, line in enumerate(read_lines(path), 1)]


def parse_json_input(line: str, where: str) -> tuple[str, list[str] | None]:
    """One ``--input-format json`` line: ``{"text": ..., "constraints": [...]}``.

    Returns:
        The text and its phrases (None when the line has no ``constraints`` field).

    Raises:
        InputError: Not a JSON object, unknown fields, or fields of the wrong type.
    """
    example = '{"text": "...", "constraints": ["..."]}'
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{where}: not JSON ({err.msg}); expected an object like {example}"
        ) from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object like {example}, got {_show(record)}")
    unknown = sorted(set(record) - set(JSON_INPUT_FIELDS))
    if unknown:
        raise InputError(
            f"{where}: unknown field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(JSON_INPUT_FIELDS)}"
        )
    text = record.get("text")
    if not isinstance(text, str):
        raise InputError(f'{where}: "text" must be a string, got {_show(text)}')
    check_unicode(text, f'{where}: "text"')
    if "constraints" not in record:
        return text, None
    return text, _phrases(record["constraints"], f'{where}: "constraints"')


def translation_input(
    lines: Iterable[str], name: str, input_format: str, constraints_path: Path | None
) -> tuple[Iterable[str], list[list[str]] | None]:
    """The sources and per-source phrases of ``seq2seq translate``.

    Plain text without a constraints file streams through untouched; otherwise every line is
    read first, so a count mismatch is reported before anything is translated.

    Args:
        lines: Input lines (without newlines).
        name: The input's name for messages (a path or ``<stdin>``).
        input_format: ``text`` or ``json`` (:func:`parse_json_input`).
        constraints_path: A JSON-lines constraints file, or None.

    Returns:
        The source texts, and per source its phrases (None when no constraints were given).

    Raises:
        InputError: A bad line, constraints given both ways, or a constraints file whose line
            count differs from the input's.
    """
    if input_format == "text" and constraints_path is None:
        return lines, None
    if input_format == "json":
        records = [parse_json_input(line, f"{name}:{n}") for n, line in enumerate(lines, 1)]
    else:
        records = [(line, None) for line in lines]
    texts = [text for text, _ in records]
    inline = [phrases for _, phrases in records]
    with_field = [n for n, phrases in enumerate(inline, 1) if phrases is not None]
    if constraints_path is None:
        return texts, [p or [] for p in inline] if with_field else None
    if with_field:
        raise InputError(
            f'{name}:{with_field[0]} has a "constraints" field but constraints also come from '
            f"{constraints_path}; give them one way only"
        )
    from_file = read_constraints_file(constraints_path)
    if len(from_file) != len(texts):
        raise InputError(
            f"{constraints_path} has {len(from_file)} lines but the input {name} has "
            f"{len(texts)}: give one JSON list of phrases per input line ([] for none)"
        )
    return texts, from_file


def _phrases(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise InputError(
            f"{where}: expected a JSON list of phrases such as {PHRASES_EXAMPLE}, "
            f"got {_show(value)}"
        )
    return [check_unicode(phrase, f"{where}: phrase {n}") for n, phrase in enumerate(value)]


def _show(value: Any) -> str:
    """A short JSON rendering of a bad value for an error message."""
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 60 else shown[:57] + "..."
