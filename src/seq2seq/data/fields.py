"""Special tokens that carry task structure through the data flow, kept whole by every tokenizer.

A QA corpus line ``question<TAB>context<TAB>answer`` becomes the source text
``question <sep> context`` (:func:`join_fields`), a cloze question marks its gap with
``<blank>``, and a multilingual source starts with a target-language tag such as ``<2de>``
(Johnson et al., 2017, https://arxiv.org/abs/1611.04558). Users type the same strings at
inference (``seq2seq translate`` input), so every tokenizer must return each of them as one
token, before and after a model directory is saved and loaded:

- char / word tokenizers cut the text around them with :func:`split_special` and never split
  them further;
- sentencepiece learns them as ``user_defined_symbols`` (:func:`sentencepiece_symbols`), which
  its model file stores, so a reloaded model keeps them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from seq2seq.data.languages import LANGUAGE_CODE

SEP = "<sep>"
BLANK = "<blank>"
_SPECIAL = re.compile(rf"({re.escape(SEP)}|{re.escape(BLANK)}|<2{LANGUAGE_CODE}>)")
FIELD_SEPARATOR = f" {SEP} "


def join_fields(fields: Sequence[str]) -> str:
    """Joins the source fields of a corpus line into one source text.

    Example:
        ``join_fields(["Which port?", "ssh listens on port 22"])`` is
        ``"Which port? <sep> ssh listens on port 22"``.
    """
    return FIELD_SEPARATOR.join(fields)


def is_special(token: str) -> bool:
    """Whether ``token`` is exactly one special token (``<sep>``, ``<blank>`` or ``<2xx>``)."""
    return _SPECIAL.fullmatch(token) is not None


def split_special(text: str) -> list[str]:
    """Cuts ``text`` around special tokens; they come back as their own items.

    Text between them is returned unchanged (spaces included) and empty pieces are dropped, so
    ``"".join(split_special(text)) == text``.

    Example:
        ``split_special("<2fr> Open <blank>.")`` is ``["<2fr>", " Open ", "<blank>", "."]``.
    """
    return [piece for piece in _SPECIAL.split(text) if piece]


def sentencepiece_symbols(texts: Iterable[str]) -> list[str]:
    """The symbols sentencepiece must keep whole: ``<sep>``, ``<blank>`` and every language tag
    seen in ``texts``, sorted so that the same texts give the same model."""
    tags = {match.group(0) for text in texts for match in _SPECIAL.finditer(text)}
    return [SEP, BLANK, *sorted(tags - {SEP, BLANK})]
