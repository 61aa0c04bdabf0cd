"""``debian-cloze-qa``: cloze questions built from the ``debian-summaries`` pairs.

Where this sits in the data flow::

    debian_summaries.load_pairs (same apt lists, same filters and deduplication)
      -> make_cloze: blank one content word of the synopsis that the description also uses
      -> debian_summaries.split_of (same buckets; bucket 7 reserved, never written)
      -> write_splits: train/dev/test.tsv (``question<TAB>context<TAB>answer``) + info.json

A content word is a synopsis token that is alphabetic, at least 3 letters, not an English
stopword, and present (ignoring case) among the words of the long description, so the answer
can be found in the context. The blanked word is drawn with a random generator seeded by the
package name: the same archive always gives the same questions, whatever the order of work.
Packages whose synopsis has no such word are left out.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from seq2seq.data.builtin import debian_summaries
from seq2seq.data.builtin.debian_summaries import DescriptionPair
from seq2seq.data.builtin.prepared import SPLITS, Prepared, Row, finish_info, write_splits

NAME = "debian-cloze-qa"
BLANK = "<blank>"
MIN_ANSWER_LETTERS = 3
_WORD = re.compile(r"\w+")
_EDGE_PUNCTUATION = "\"'`()[]{}<>,.;:!?"
_STOPWORD_TEXT = """
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each etc few for from
further had has have having he her here hers herself him himself his how i if in into is it its
itself just like many may me might more most much must my myself no nor not now of off on once
one only or other our ours ourselves out over own same several she should so some such than that
the their theirs them themselves then there these they this those through to too under until up
upon use used uses using very via was we were what when where which while who whom why will with
within without would you your yours yourself yourselves
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Function words never blanked: guessing them tests grammar, not reading."""


class Cloze(NamedTuple):
    """One question: the synopsis with a blank, the description, and the blanked word."""

    package: str
    question: str
    context: str
    answer: str


def candidates(synopsis: str, context: str) -> list[int]:
    """Indices of the whitespace tokens of ``synopsis`` that may be blanked.

    A token qualifies when, stripped of surrounding punctuation, it is alphabetic, has at
    least 3 letters, is not a stopword, and occurs (ignoring case) as a word of ``context``.
    """
    context_words = {word.lower() for word in _WORD.findall(context)}
    found = []
    for index, token in enumerate(synopsis.split()):
        word = token.strip(_EDGE_PUNCTUATION)
        if (
            word.isalpha()
            and len(word) >= MIN_ANSWER_LETTERS
            and word.lower() not in STOPWORDS
            and word.lower() in context_words
        ):
            found.append(index)
    return found


def make_cloze(pair: DescriptionPair) -> Cloze | None:
    """The cloze question of one package, or None when its synopsis has no candidate word.

    The choice among candidates is seeded by ``sha1(package)``, so it is reproducible.
    Only the chosen token's word is replaced; its surrounding punctuation stays
    (``"Tools for GNOME."`` -> ``"Tools for <blank>."``).
    """
    indices = candidates(pair.synopsis, pair.long)
    if not indices:
        return None
    seed = int(hashlib.sha1(pair.package.encode()).hexdigest(), 16)
    index = random.Random(seed).choice(indices)
    tokens = pair.synopsis.split()
    answer = tokens[index].strip(_EDGE_PUNCTUATION)
    tokens[index] = tokens[index].replace(answer, BLANK, 1)
    return Cloze(pair.package, " ".join(tokens), pair.long, answer)


def split_clozes(pairs: Iterable[DescriptionPair]) -> tuple[dict[str, list[Row]], int]:
    """``{"train": rows, ...}`` of ``(question, context, answer)``, and how many pairs had no
    candidate word. Reserved packages (bucket 7) are skipped before anything else."""
    rows: dict[str, list[Row]] = {split: [] for split in SPLITS}
    skipped = 0
    for pair in pairs:
        split = debian_summaries.split_of(pair.package)
        if split is None:
            continue
        cloze = make_cloze(pair)
        if cloze is None:
            skipped += 1
            continue
        rows[split].append((cloze.question, cloze.context, cloze.answer))
    return rows, skipped


def prepare(out_dir: Path, *, lists_dir: Path, from_dir: Path | None = None) -> Prepared:
    """Builds ``question<TAB>context<TAB>answer`` TSVs and ``info.json`` in ``out_dir``.

    Args and errors as :func:`seq2seq.data.builtin.debian_summaries.prepare`.
    """
    start = time.perf_counter()
    lists = debian_summaries.resolve_lists(lists_dir, from_dir)
    pairs, provenance = debian_summaries.load_pairs(lists)
    rows, skipped = split_clozes(pairs)
    provenance["pipeline"]["no_candidate_word"] = skipped
    provenance["blank_token"] = BLANK
    return write_splits(NAME, out_dir, rows, finish_info(provenance, start))
