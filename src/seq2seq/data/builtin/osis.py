"""OSIS markup -> plain verse text, and the repairs the Reina-Valera 1909 text needs.

Where this sits in the data flow: :mod:`seq2seq.data.builtin.bible` reads one raw OSIS fragment
per verse from the SWORD modules and passes it through these pure functions before aligning
verses into translation pairs. Nothing here imports pysword, so the rules are unit-tested on
hand-written snippets.

Rules (DATA.md, "bible-en-es"):

* keep the text of ``<w>``, ``<q>``, ``<transChange>``, ``<seg>``, ``<name>`` (and of every other
  inline element); drop ``<note>`` with its content and put a space where it stood, unless
  closing punctuation follows (``God<note/>created`` -> ``God created``, ``gerahs<note/>);`` ->
  ``gerahs);``);
* keep canonical psalm titles (``<title canonical="true">``) as part of the verse; drop other
  titles and ``<speaker>`` labels; drop everything after the end-of-book marker (the English
  module appends a glossary to Rev 22:21);
* Spanish: ``<transChange>`` words glued to a neighbour get a space, except enclitic pronouns
  on a verb (``sáca<transChange>lo</transChange>`` stays ``sácalo``); the drop cap that opens a
  chapter (``EN el principio``) is re-cased, keeping real small-caps names (``JEHOVÁ``); the
  subscriptions after Paul's letters (``Fué escrita de Corinto...``) are removed.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping

# Inside the cleaned text, <transChange> boundaries are marked with these two control
# characters until `space_added_words` has decided where spaces go.
ADDED_OPEN = "\x01"
ADDED_CLOSE = "\x02"

_BOOK_END_RE = re.compile(r'<div\b(?=[^>]*\btype="book")(?=[^>]*\beID=)[^>]*>')
_CLOSING_PUNCT = r"[,.;:!?)\]”’]"
# A note directly followed (past any tags) by closing punctuation leaves no space behind.
_NOTE_BEFORE_PUNCT_RE = re.compile(
    rf"<note\b[^>]*>(?:(?!</note>).)*</note>(?=(?:\s*<[^>]*>)*\s*{_CLOSING_PUNCT})", re.DOTALL
)
_NOTE_RE = re.compile(r"<note\b[^>]*>.*?</note>|<note\b[^>]*/>", re.DOTALL)
_SPEAKER_RE = re.compile(r"<speaker\b[^>]*>.*?</speaker>", re.DOTALL)
_TITLE_RE = re.compile(r"<title\b([^>]*)>(.*?)</title>|<title\b[^>]*/>", re.DOTALL)
_TRANS_CHANGE_RE = re.compile(r"<(/?)transChange\b[^>]*>")
# Elements that only carry text (dropping their tags must not separate words).
_INLINE_TAGS = frozenset(
    {"w", "q", "transChange", "seg", "name", "hi", "foreign", "divineName", "inscription", "a"}
)
_INLINE_TAG_RE = re.compile(rf"</?(?:{'|'.join(sorted(_INLINE_TAGS))})\b[^>]*>")
_TAG_RE = re.compile(r"<[^>]*>")
_MARKER_RE = re.compile(f"[{ADDED_OPEN}{ADDED_CLOSE}]")
_LAST_WORD_RE = re.compile(r"[^\W_]+$")

_UPPER = "A-ZÁÉÍÓÚÑÜÂÊÎÔÛ"
_CAPS_RUN_RE = re.compile(rf"(?<![\w-])[{_UPPER}]+(?:\s+[{_UPPER}]+)*(?![\w-])")
_WORD_RE = re.compile(r"[^\W\d_]+")
_SENTENCE_SPLIT_RE = re.compile(r"[.:;!?¿¡]")
SMALL_CAPS_WORDS = frozenset({"JEHOVÁ", "JAH"})
"""Divine names the Spanish prints in small caps on purpose: never re-cased."""
# Psalm 119's acrostic headings ("ALEPH. BIENAVENTURADOS ...") precede the drop cap.
# fmt: off
_HEBREW_LETTERS = frozenset(
    {
        "ALEPH", "BETH", "GIMEL", "DALETH", "HE", "VAU", "ZAIN", "CHETH", "TETH", "JOD", "CAPH",
        "LAMED", "MEM", "NUN", "SAMECH", "AIN", "PE", "TZADDI", "COPH", "RESH", "SIN", "SHIN",
        "TAU",
    }
)
# fmt: on

_CLITICS = frozenset({"me", "te", "se", "le", "lo", "la", "les", "los", "las", "nos", "os", "teme"})
# Words with a written accent that are not verbs, so a glued clitic after them is a new word.
# fmt: off
_ACCENTED_NON_VERBS = frozenset(
    {
        "á", "é", "ó", "ú", "él", "mí", "tú", "sí", "aún", "más", "así", "allí", "aquí", "ahí",
        "allá", "acá", "después", "jamás", "también", "sólo", "según", "qué", "quién", "cuál",
        "cómo", "dónde", "cuándo", "cuánto", "cuánta", "cuántos", "cuántas", "cuán", "además",
        "detrás", "través",
    }
)
# fmt: on
# Short imperatives (and the auxiliary "he") that take enclitics without a written accent.
_SHORT_VERB_HOSTS = frozenset(
    {"da", "di", "haz", "he", "ve", "vi", "ten", "pon", "sal", "ven", "oye"}
)

_SUBSCRIPTION_RE = re.compile(r"(?<=Amén\.)\s+[^.]*\b(?:escrita|enviada)\b.*$", re.IGNORECASE)


def strip_markup(raw: str, *, mark_added: bool = False) -> str:
    """Plain text of one verse's OSIS fragment.

    Args:
        raw: The verse as stored in the SWORD module (OSIS XML fragment).
        mark_added: Keep ``<transChange>`` boundaries as :data:`ADDED_OPEN` /
            :data:`ADDED_CLOSE` so :func:`space_added_words` can repair them.

    Returns:
        The verse text with notes, non-canonical titles and speaker labels removed,
        entities decoded and whitespace normalised.
    """
    text = raw
    if match := _BOOK_END_RE.search(text):
        text = text[: match.start()]
    text = _NOTE_BEFORE_PUNCT_RE.sub("", text)
    text = _NOTE_RE.sub(" ", text)
    text = _SPEAKER_RE.sub(" ", text)
    text = _TITLE_RE.sub(_title_text, text)
    if mark_added:
        text = _TRANS_CHANGE_RE.sub(lambda m: ADDED_CLOSE if m.group(1) else ADDED_OPEN, text)
    text = _TAG_RE.sub(" ", _INLINE_TAG_RE.sub("", text))
    return normalize_whitespace(html.unescape(text))


def _title_text(match: re.Match[str]) -> str:
    """A canonical title keeps its text (followed by a space); any other title disappears."""
    attrs, body = match.group(1) or "", match.group(2) or ""
    return f" {body} " if 'canonical="true"' in attrs else " "


def normalize_whitespace(text: str) -> str:
    """Collapses every run of whitespace (tabs and newlines included) into one space."""
    return " ".join(text.split())


def space_added_words(text: str) -> str:
    """Puts a space between a ``<transChange>`` word and a neighbouring word it touches.

    The Reina-Valera module glues added words to their neighbours (``noserá
    estaoscuridad``). A clitic pronoun added after a verb is left attached, since Spanish
    writes enclitics as one word (``sáca`` + ``lo`` -> ``sácalo``, ``díjo`` + ``le``).

    Args:
        text: Output of :func:`strip_markup` with ``mark_added=True``.

    Returns:
        The text without markers, with the missing spaces inserted.
    """
    out: list[str] = []
    pos = 0
    for match in _MARKER_RE.finditer(text):
        out.append(text[pos : match.start()])
        pos = match.end()
        done = "".join(out)
        before, after = _last_word(done), _first_word(text[pos:])
        glued = bool(before and after)
        if glued and (match.group(0) == ADDED_CLOSE or not _is_enclitic(before, after, done)):
            out.append(" ")
    out.append(text[pos:])
    return normalize_whitespace("".join(out))


def _last_word(text: str) -> str:
    """The letters at the end of ``text`` ('' when it ends otherwise)."""
    match = _LAST_WORD_RE.search(text[-40:])
    return match.group(0) if match else ""


def _first_word(text: str) -> str:
    """The letters at the start of ``text``, skipping markers ('' when it starts otherwise)."""
    match = re.match(rf"[{ADDED_OPEN}{ADDED_CLOSE}]*([^\W_]+)", text)
    return match.group(1) if match else ""


def _is_enclitic(host: str, added: str, before: str) -> bool:
    """Whether ``added`` is a clitic pronoun that Spanish writes fused to the verb ``host``."""
    if added.lower() not in _CLITICS:
        return False
    low = host.lower()
    if low in _ACCENTED_NON_VERBS:
        return False
    if host[0].isupper() and not _starts_sentence(before, len(before) - len(host)):
        return False  # a proper name such as "Jehová" or "Josué"
    has_accent = any(ch in "áéíóú" for ch in low)
    return has_accent or low.endswith(("r", "d")) or low in _SHORT_VERB_HOSTS


def _starts_sentence(text: str, index: int) -> bool:
    """Whether the word at ``text[index]`` opens the text or follows sentence punctuation."""
    index -= 1
    while index >= 0 and text[index].isspace():
        index -= 1
    return index < 0 or text[index] in ".:;!?¿¡"


def build_casing_table(texts: Iterable[str]) -> dict[str, str]:
    """Maps lowercase words to the case they usually take inside a sentence.

    Words that are capitalised more often than not away from a sentence start are proper
    names (``abraham`` -> ``Abraham``). All-caps words are ignored.

    Args:
        texts: Clean verses of one language.

    Returns:
        ``{lowercase word: preferred spelling}`` for the words seen capitalised most often.
    """
    counts: Counter[tuple[str, bool]] = Counter()
    for text in texts:
        for sentence in _SENTENCE_SPLIT_RE.split(text):
            words = _WORD_RE.findall(sentence)[1:]  # the first word is capitalised anyway
            counts.update((word.lower(), word[0].isupper()) for word in words if not word.isupper())
    return {
        low: low.capitalize()
        for (low, capital), n in counts.items()
        if capital and n > counts[(low, False)]
    }


def recase_drop_cap(text: str, casing: Mapping[str, str]) -> str:
    """Re-cases the first all-caps run of a chapter's first verse (``EN el`` -> ``En el``).

    The run's first word is capitalised, the others take their usual case from ``casing``
    (``Y ABRAHAM`` -> ``Y Abraham``, ``DE OCHO años`` -> ``De ocho años``). Words in
    :data:`SMALL_CAPS_WORDS` are kept. Runs made only of one-letter words (``Y la tierra``)
    or Psalm 119's acrostic headings (``ALEPH.``) are not the drop cap and are skipped.

    Args:
        text: The first verse of a chapter, cleaned.
        casing: Output of :func:`build_casing_table`.

    Returns:
        The verse with the drop cap re-cased.
    """
    for match in _CAPS_RUN_RE.finditer(text):
        words = match.group(0).split()
        if all(len(word) == 1 for word in words) or _is_acrostic_heading(text, match):
            continue
        recased = [_recase_word(word, casing, first=i == 0) for i, word in enumerate(words)]
        return text[: match.start()] + " ".join(recased) + text[match.end() :]
    return text


def _is_acrostic_heading(text: str, match: re.Match[str]) -> bool:
    """Whether ``match`` is a Hebrew letter heading such as ``ALEPH.`` (not ``HE aquí``)."""
    return match.group(0) in _HEBREW_LETTERS and text[match.end() : match.end() + 1] == "."


def _recase_word(word: str, casing: Mapping[str, str], *, first: bool) -> str:
    """One word of a drop-cap run in its normal case."""
    if word in SMALL_CAPS_WORDS:
        return word
    low = word.lower()
    return low.capitalize() if first else casing.get(low, low)


def remove_subscription(text: str) -> str:
    """Drops the subscription after the final ``Amén.`` of an epistle's last verse.

    ``... Amén. Fué escrita de Corinto á los Romanos, ...`` -> ``... Amén.``
    """
    return _SUBSCRIPTION_RE.sub("", text)
