"""Multilingual data: target-language tags at the start of the source.

One model translates into several languages when each source starts with a tag naming the
target language, ``<2de> Open file<TAB>Datei öffnen`` (Johnson et al., 2017, "Google's
Multilingual Neural Machine Translation System", https://arxiv.org/abs/1611.04558). This module
reads those tags: ``data.languages`` keeps the lines of some languages only (bilingual baselines
from the same corpus, :func:`keep_languages`), and evaluation scores each language apart
(:func:`group_by_language`). The tokenizers keep a tag as one token (see
:mod:`seq2seq.data.fields`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from seq2seq.errors import DataError

if TYPE_CHECKING:  # corpus imports fields, which imports this module
    from seq2seq.data.corpus import Pair

# A language code of 2-3 letters, optionally a region or script: de, pt_BR, sr-Latn.
LANGUAGE_CODE = r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]+)*"
_LEADING_TAG = re.compile(rf"\s*<2({LANGUAGE_CODE})>")


def language_tag(language: str) -> str:
    """The source tag for a target language: ``language_tag("de") == "<2de>"``."""
    return f"<2{language}>"


def is_language_code(text: str) -> bool:
    """Whether ``text`` can name a language in a tag (``de``, ``pt_BR``; not ``<2de>``)."""
    return re.fullmatch(LANGUAGE_CODE, text) is not None


def source_language(source: str) -> str | None:
    """The target language a source asks for, from its leading tag; None if it has none.

    Example:
        ``source_language("<2fr> Open file")`` is ``"fr"``.
    """
    match = _LEADING_TAG.match(source)
    return match.group(1) if match else None


def group_by_language(sources: Sequence[str]) -> dict[str, list[int]]:
    """Indices of the sources per tagged language, languages sorted; untagged lines left out.

    Returns an empty mapping when no source has a tag (not multilingual data).
    """
    groups: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        language = source_language(source)
        if language is not None:
            groups.setdefault(language, []).append(index)
    return dict(sorted(groups.items()))


def keep_languages(pairs: Sequence[Pair], languages: Sequence[str], label: str) -> list[Pair]:
    """The pairs whose source tag names one of ``languages`` (``data.languages``).

    Args:
        pairs: Pairs read from one split.
        languages: Language codes to keep, e.g. ``["de"]``.
        label: The split's file, for error messages.

    Raises:
        DataError: A requested language has no line in the split (a typo, or the wrong
            corpus); the message lists the tags the split does have.
    """
    groups = group_by_language([p.src for p in pairs])
    missing = [lang for lang in languages if lang not in groups]
    if missing:
        found = ", ".join(language_tag(lang) for lang in groups) or "none"
        raise DataError(
            f"data.languages: no line of {label} starts with "
            f"{', '.join(language_tag(lang) for lang in missing)}; tags found there: {found}"
        )
    wanted = set(languages)
    return [p for p in pairs if source_language(p.src) in wanted]
