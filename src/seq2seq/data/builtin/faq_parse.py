"""Question -> answer pairs parsed from the FAQ documents that Debian packages ship.

Where this sits in the data flow::

    faq.SOURCES: (package, FAQ file, format, licence), a fixed list
      -> faq_parse.parse_faq(text, format)          (this module)
         a format's ``Marker`` finds question headings and section headings line by line;
         the lines between a question and the next heading are its answer
      -> clean_answer: markup and quotes removed, paragraphs joined by spaces, at most
         ANSWER_WORDS words (whole paragraphs, else whole sentences)
      -> faq.build_rows: dedupe, split by package, write_splits

FAQ documents are free text, so each recognisable layout gets a small ``Marker``: a function
``(lines, i) -> Mark | None`` saying whether a question (or a section heading, which ends the
previous answer) starts at line ``i`` and where its heading ends. Everything else is shared by
:func:`pair_up`. A table of contents is harmless: its questions are followed directly by the
next question, so their answers are empty and they are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

ANSWER_WORDS = 200
"""Longest answer kept, in words; longer answers are cut at a paragraph or sentence end."""
MIN_ANSWER_WORDS = 3
MAX_QUESTION_WORDS = 40
MAX_QUESTION_LINES = 4
"""A question heading may wrap over this many lines before its ``?``."""


class Mark(NamedTuple):
    """A heading found at some line.

    Attributes:
        question: The question text (heading marks removed), or None for a section heading
            that only ends the previous answer.
        next: Index of the first line after the heading.
    """

    question: str | None
    next: int


Marker = Callable[[Sequence[str], int], Mark | None]

_NUMBER = re.compile(
    r"^\s*(?:[+*-]\s+|!)?(?:Subject:\s*)?(?:#|Q\.?\s*)?"
    r"(?:\d+(?:\.\d+)*[.):]?|[A-Z]\.\d+[.):]?|\[\d+(?:\.\d+)*\])\s+(?=\S)"
)
_CAPS_HEADING = re.compile(r"^\s*(?=(?:.*[A-Z]){4})[A-Z0-9 ._:&/,()'-]+$")
_CHAPTER = re.compile(r"^\s*(?:Chapter|Section|Part)\s+[\dIVX]+\b", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\s*(?:([-=_*~#+])\1{4,}|---.*---)\s*$")
_UNDERLINE = re.compile(r"^\s*([-=~^*+#])\1{2,}\s*$")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_BOLD = re.compile(r"^\s*(?:\*\*|__)(.+?)(?:\*\*|__)\s*$")
_QA_PREFIX = re.compile(r"^\s*(Q|Question|A|Answer)\s*(?:\d+\s*)?[:.)]\s*", re.IGNORECASE)
_EMAIL_HEADER = re.compile(r"^(From|Subject|Date|Newsgroups|Organization|Message-ID):\s")


def is_question(text: str) -> bool:
    """True for a plausible question: ends with ``?``, 2 to MAX_QUESTION_WORDS words."""
    words = text.split()
    return text.rstrip().endswith("?") and 2 <= len(words) <= MAX_QUESTION_WORDS


def _question_from(lines: Sequence[str], i: int, first: str) -> Mark | None:
    """The question starting with ``first`` (line ``i`` without its marks), read on while it
    wraps (no blank line) until a line ending with ``?``."""
    parts = [first.strip()]
    j = i + 1
    while not parts[-1].endswith("?") and j < len(lines) and j < i + MAX_QUESTION_LINES:
        if not lines[j].strip() or _NUMBER.match(lines[j]):
            break
        parts.append(lines[j].strip())
        j += 1
    question = " ".join(parts)
    return Mark(question, j) if is_question(question) else None


def numbered_marker(lines: Sequence[str], i: int) -> Mark | None:
    """``1.2) How do I ...?``, ``3.4. Why ...?``, ``#3. Why ...?``, ``Subject: 1.1. What ...?``,
    ``+ 7.32 What ... mean?``, ``!01.02 What ...?``: a number then a question, possibly
    wrapped. A numbered line that is no question (``04.00 Filing``), an upper-case line
    (``SECTION 2 - EDITING``), ``Chapter 2: ...`` or a separator line is a section heading."""
    line = lines[i]
    if _SEPARATOR.match(line) or _CAPS_HEADING.match(line) or _CHAPTER.match(line):
        return Mark(None, i + 1)
    match = _NUMBER.match(line)
    if match is None:
        return None
    found = _question_from(lines, i, line[match.end() :])
    return found if found is not None else Mark(None, i + 1)


def underlined_marker(lines: Sequence[str], i: int) -> Mark | None:
    """reStructuredText / setext headings: a text line over a line of ``---``, ``===`` or
    ``~~~``; a question when the text ends with ``?``, else a section heading."""
    if i + 1 >= len(lines) or not lines[i].strip() or not _UNDERLINE.match(lines[i + 1]):
        return None
    if _UNDERLINE.match(lines[i]):  # an overline: the title is on the next line
        return None
    text = strip_markup(_NUMBER.sub("", lines[i]))
    return Mark(text if is_question(text) else None, i + 2)


def markdown_marker(lines: Sequence[str], i: int) -> Mark | None:
    """Markdown ``## How do I ...?`` headings and whole-line ``**How do I ...?**``; any other
    heading ends the answer."""
    heading = _MD_HEADING.match(lines[i])
    if heading is not None:
        text = strip_markup(_NUMBER.sub("", heading.group(2)))
        return Mark(text if is_question(text) else None, i + 1)
    bold = _MD_BOLD.match(lines[i])
    if bold is not None:
        text = strip_markup(_NUMBER.sub("", bold.group(1)))
        if is_question(text):
            return Mark(text, i + 1)
    return underlined_marker(lines, i)


def qa_marker(lines: Sequence[str], i: int) -> Mark | None:
    """``Q: How do I ...?`` followed by ``A: ...``: the ``Q:`` line (possibly wrapped) is the
    question; the ``A:`` prefix is removed from the answer by :func:`clean_answer`."""
    match = _QA_PREFIX.match(lines[i])
    if match is None or match.group(1)[0].upper() != "Q":
        return Mark(None, i + 1) if _SEPARATOR.match(lines[i]) else None
    return _question_from(lines, i, lines[i][match.end() :]) or Mark(None, i + 1)


MARKERS: dict[str, Marker] = {
    "numbered": numbered_marker,
    "underlined": underlined_marker,
    "markdown": markdown_marker,
    "qa": qa_marker,
}
"""One marker per recognisable FAQ layout; ``faq.SOURCES`` names one per document."""


def pair_up(lines: Sequence[str], marker: Marker) -> list[tuple[str, list[str]]]:
    """``(question, answer lines)`` for every question ``marker`` finds, in document order.

    An answer runs from the end of its question heading to the next heading of any kind.
    """
    pairs: list[tuple[str, list[str]]] = []
    question: str | None = None
    body: list[str] = []
    i = 0
    while i < len(lines):
        mark = marker(lines, i)
        if mark is None:
            body.append(lines[i])
            i += 1
            continue
        if question is not None:
            pairs.append((question, body))
        question, body, i = mark.question, [], mark.next
    if question is not None:
        pairs.append((question, body))
    return pairs


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_RST_REF = re.compile(r"`([^`<]+?)\s*(?:<[^>]*>)?`_{1,2}")
_HTML_TAG = re.compile(
    r"</?(?:a|b|br|code|div|em|i|img|kbd|p|pre|span|strong|sub|sup|tt|u)(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
_INLINE = re.compile(r"\*\*|__|``|`|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)|:\w+:(?=`)")


def strip_markup(text: str) -> str:
    """``text`` without Markdown / reST / HTML inline markup: links keep their text, emphasis
    and code marks and common HTML tags go, whitespace runs become one space."""
    text = _RST_REF.sub(r"\1", _LINK.sub(r"\1", _HTML_TAG.sub(" ", text)))
    return " ".join(_INLINE.sub("", text).split())


def _keep_line(line: str) -> bool:
    """False for lines that are not answer prose: quoted mail, reST targets and directives,
    HTML comments, table rules."""
    stripped = line.strip()
    return not (
        stripped.startswith((">", ".. ", "__ ", "<!--", "|"))
        or _SEPARATOR.match(line)
        or _UNDERLINE.match(line)
    )


def paragraphs(lines: Sequence[str]) -> list[str]:
    """The prose paragraphs of answer ``lines``: blank-line separated, code fences and the
    mail headers that open an answer (``From:``, ``Date:``) removed, each a single line."""
    result: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in lines:
        if line.strip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence or not line.strip() or (not result and _EMAIL_HEADER.match(line)):
            if current:
                result.append(" ".join(current))
                current = []
            continue
        if _keep_line(line):
            current.append(_QA_PREFIX.sub("", line) if not result and not current else line)
    if current:
        result.append(" ".join(current))
    return [text for text in (strip_markup(p) for p in result) if text]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def cap_words(texts: Sequence[str], limit: int = ANSWER_WORDS) -> str:
    """Leading paragraphs of ``texts`` that fit in ``limit`` words, joined by spaces; when
    the first paragraph alone is longer, its leading sentences that fit ("" if none does)."""
    kept: list[str] = []
    count = 0
    for text in texts:
        words = len(text.split())
        if count + words > limit:
            break
        kept.append(text)
        count += words
    if kept:
        return " ".join(kept)
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(texts[0]) if texts else []:
        count += len(sentence.split())
        if count > limit:
            break
        sentences.append(sentence)
    return " ".join(sentences)


def clean_answer(lines: Sequence[str], limit: int = ANSWER_WORDS) -> str:
    """One answer field from its raw lines ("" when fewer than MIN_ANSWER_WORDS words)."""
    answer = cap_words(paragraphs(lines), limit)
    return answer if len(answer.split()) >= MIN_ANSWER_WORDS else ""


def parse_faq(text: str, layout: str, limit: int = ANSWER_WORDS) -> list[tuple[str, str]]:
    """Cleaned ``(question, answer)`` pairs of one FAQ document, in document order.

    A question asked twice in one document keeps its last answer: an earlier one is usually
    a table of contents entry that caught the next line.

    Args:
        text: The document.
        layout: A key of :data:`MARKERS`.
        limit: Answer cap in words.

    Raises:
        KeyError: ``layout`` is not a known layout (``faq.SOURCES`` is fixed, so a bug).
    """
    marker = MARKERS[layout]
    pairs: dict[str, tuple[str, str]] = {}
    for question, body in pair_up(text.expandtabs().splitlines(), marker):
        answer = clean_answer(body, limit)
        if answer:
            question = strip_markup(question)
            key = question.casefold()
            pairs.pop(key, None)  # re-insert: the last answer, in the last position
            pairs[key] = (question, answer)
    return list(pairs.values())
