"""The built-in English -> Spanish Bible corpus (``bible-en-es``), rebuilt offline from SWORD.

Where this sits in the data flow::

    Debian sword-text-web / sword-text-sparv (SWORD modules engWEB2015eb, spaRV1909eb)
      -> read_module (pysword, raw OSIS per verse; only the allow-listed books)
      -> clean_english / clean_spanish (rules in seq2seq.data.builtin.osis)
      -> align_chapters (drop chapters whose verse numbering differs or looks shifted)
      -> filter_by_ratio (drop pairs whose es/en character ratio is outside [1/2.2, 2.2])
      -> split_pairs (whole books, by allow-list) -> train/dev/test.tsv.gz
      -> shipped in bible_en_es/ and read by seq2seq.data.builtin.corpus_files

The recipe is DATA.md's "bible-en-es". It reproduces the reference exactly: 23 chapters dropped
(Num 12, 13, 29, 30; 1Sam 23, 24; 2Sam 20; 2Chr 33; Job 35, 38, 39, 40; Hos 11, 12; Jonah 1, 2;
Luke 17; Acts 8, 15, 19, 24; Rom 16; 2Cor 13), 18 pairs dropped by ratio, and 27,742 / 978 / 930
train / dev / test pairs. Two remarks on how we get there:

* Luke 17, Acts 8, 15 and 24 fall under "verse numbers differ": the English keeps only a
  footnote in Luke 17:36, Acts 8:37, 15:34 and 24:7, so those verses are empty once notes go.
* Our shift detector (:func:`looks_shifted`) flags Num 13, Num 30, 1Sam 24, Hos 12 and also
  Jonah 2, and does not flag Ps 150 or Job 39. Jonah 2 and Job 39 stay in :data:`MANUAL_DROPS`
  and Ps 150 in :data:`KEEP_CHAPTERS` as DATA.md lists them, so the result does not hang on
  the detector's margins.

The reserved books (:data:`RESERVED_BOOKS`) are never read: every stage works on the union of
the three allow-lists.
"""

from __future__ import annotations

import functools
import gzip
import io
import logging
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from seq2seq.data.builtin import osis
from seq2seq.errors import DataError
from seq2seq.files import atomic_write

logger = logging.getLogger(__name__)

EN_MODULE = "engWEB2015eb"
ES_MODULE = "spaRV1909eb"
DEFAULT_SWORD_DIR = Path("/usr/share/sword")
APT_PACKAGES = "sword-text-web sword-text-sparv"
SHIPPED_DIR = Path(__file__).parent / "bible_en_es"
SPLITS = ("train", "dev", "test")

# fmt: off
CANON: tuple[str, ...] = (
    "Gen", "Exod", "Lev", "Num", "Deut", "Josh", "Judg", "Ruth", "1Sam", "2Sam", "1Kgs", "2Kgs",
    "1Chr", "2Chr", "Ezra", "Neh", "Esth", "Job", "Ps", "Prov", "Eccl", "Song", "Isa", "Jer",
    "Lam", "Ezek", "Dan", "Hos", "Joel", "Amos", "Obad", "Jonah", "Mic", "Nah", "Hab", "Zeph",
    "Hag", "Zech", "Mal", "Matt", "Mark", "Luke", "John", "Acts", "Rom", "1Cor", "2Cor", "Gal",
    "Eph", "Phil", "Col", "1Thess", "2Thess", "1Tim", "2Tim", "Titus", "Phlm", "Heb", "Jas",
    "1Pet", "2Pet", "1John", "2John", "3John", "Jude", "Rev",
)
"""The 66 books of the protestant canon (OSIS names), in canonical order."""

TRAIN_BOOKS: tuple[str, ...] = (
    "Gen", "Exod", "Lev", "Num", "Deut", "Josh", "Judg", "1Sam", "2Sam", "1Kgs", "2Kgs", "1Chr",
    "2Chr", "Ezra", "Neh", "Job", "Ps", "Prov", "Eccl", "Song", "Isa", "Jer", "Ezek", "Dan",
    "Hos", "Jonah", "Mic", "Zech", "Matt", "Luke", "John", "Acts", "Rom", "1Cor", "2Cor", "Heb",
    "2Pet", "1John", "Rev",
)
DEV_BOOKS: tuple[str, ...] = (
    "Joel", "Obad", "Nah", "Hab", "Hag", "Mal", "Gal", "Eph", "1Thess", "2Thess", "1Tim",
    "2Tim", "Phlm", "2John", "3John",
)
TEST_BOOKS: tuple[str, ...] = ("Zeph", "Mark", "Phil", "Col")
RESERVED_BOOKS: tuple[str, ...] = ("Ruth", "Esth", "Lam", "Amos", "Titus", "Jas", "1Pet", "Jude")
"""Kept for independent evaluation: never read, shipped, trained, tuned or reported on."""

SPLIT_BOOKS: dict[str, tuple[str, ...]] = {
    "train": TRAIN_BOOKS,
    "dev": DEV_BOOKS,
    "test": TEST_BOOKS,
}

# Epistles whose last Spanish verse carries a subscription ("Fué escrita de Corinto...").
SUBSCRIBED_BOOKS = frozenset(
    {
        "Rom", "1Cor", "2Cor", "Gal", "Eph", "Phil", "Col", "1Thess", "2Thess", "1Tim", "2Tim",
        "Titus", "Phlm", "Heb",
    }
)
# fmt: on
MANUAL_DROPS = frozenset({("Job", 39), ("Jonah", 2)})
"""Chapters misaligned by the Spanish numbering that DATA.md drops by hand."""
KEEP_CHAPTERS = frozenset({("Ps", 150)})
"""Known false positives of the shift detector (short, evenly sized verses)."""
SHIFT_MISFIT_FACTOR = 0.6
"""A chapter is shifted when an offset of one verse cuts the length misfit below this factor."""
MAX_LENGTH_RATIO = 2.2
"""Pairs whose es/en character ratio lies outside [1/2.2, 2.2] are dropped."""

Chapter = dict[int, str]
"""Verse number -> verse text (raw OSIS or clean)."""
Bible = dict[tuple[str, int], Chapter]
"""(OSIS book, chapter) -> chapter, in canonical order."""


class VersePair(NamedTuple):
    """One aligned verse: its reference and both texts."""

    book: str
    chapter: int
    verse: int
    en: str
    es: str


def allowed_books() -> tuple[str, ...]:
    """The books of the three splits, in canonical order (never the reserved ones)."""
    allowed = {*TRAIN_BOOKS, *DEV_BOOKS, *TEST_BOOKS}
    return tuple(book for book in CANON if book in allowed)


# ---------------------------------------------------------------------------------------------
# Reading the SWORD modules


def read_module(name: str, books: Sequence[str], sword_dir: Path = DEFAULT_SWORD_DIR) -> Bible:
    """Raw OSIS text of every verse of ``books`` in SWORD module ``name``.

    Args:
        name: Module name, e.g. ``"engWEB2015eb"``.
        books: OSIS book names to read, in the order wanted.
        sword_dir: The SWORD data path holding ``mods.d/`` and ``modules/``.

    Returns:
        ``{(book, chapter): {verse: raw OSIS}}`` with every verse of the module's
        versification (empty strings included).

    Raises:
        DataError: pysword is not installed or the module is missing.
    """
    bible = _open_module(name, sword_dir)
    structure = bible.get_structure()
    chapters: Bible = {}
    for book in books:
        _, book_structure = structure.find_book(book)
        for chapter, num_verses in enumerate(book_structure.chapter_lengths, start=1):
            texts = list(bible.get_iter(books=book, chapters=chapter, clean=False))
            if len(texts) != num_verses:  # pysword skips unreadable verses: read one by one
                texts = [
                    bible.get(books=book, chapters=chapter, verses=verse, clean=False)
                    for verse in range(1, num_verses + 1)
                ]
            chapters[(book, chapter)] = dict(enumerate(texts, start=1))
    return chapters


def _open_module(name: str, sword_dir: Path) -> Any:
    """A pysword ``SwordBible`` for module ``name``; user-facing errors as :class:`DataError`."""
    try:
        from pysword.modules import SwordModules
    except ImportError as err:
        raise DataError("pysword is not installed: pip install 'seq2seq-kit[corpus]'") from err
    missing = DataError(
        f"SWORD module {name} not found in {sword_dir}: install it with "
        f"`apt-get install {APT_PACKAGES}`"
    )
    if not (sword_dir / "mods.d").is_dir():
        raise missing
    modules = SwordModules(str(sword_dir))
    if name not in modules.parse_modules():
        raise missing
    bible = modules.get_bible_from_module(name)
    # Speed only: pysword decompresses the whole book block for every verse it reads
    # (about 90 s for both modules); caching the last blocks makes a rebuild take seconds.
    decompress = getattr(bible, "_decompressed_text", None)
    if decompress is not None:
        bible._decompressed_text = functools.lru_cache(maxsize=4)(decompress)
    return bible


# ---------------------------------------------------------------------------------------------
# Cleaning


def clean_english(raw: Bible) -> Bible:
    """Plain text of every English verse (:func:`osis.strip_markup`)."""
    return {key: {v: osis.strip_markup(t) for v, t in ch.items()} for key, ch in raw.items()}


def clean_spanish(raw: Bible) -> Bible:
    """Plain text of every Spanish verse, with the Reina-Valera defects repaired.

    Added words are spaced (:func:`osis.space_added_words`), subscriptions after the
    epistles removed (:func:`osis.remove_subscription`) and the drop cap of each chapter's
    first verse re-cased (:func:`osis.recase_drop_cap`, name casing learnt from the text).
    """
    clean = {
        key: {
            v: osis.space_added_words(osis.strip_markup(t, mark_added=True)) for v, t in ch.items()
        }
        for key, ch in raw.items()
    }
    for book in SUBSCRIBED_BOOKS:
        if last := _last_verse(clean, book):
            key, verse = last
            clean[key][verse] = osis.remove_subscription(clean[key][verse])
    casing = osis.build_casing_table(t for ch in clean.values() for t in ch.values())
    for chapter in clean.values():
        if chapter.get(1):
            chapter[1] = osis.recase_drop_cap(chapter[1], casing)
    return clean


def _last_verse(bible: Bible, book: str) -> tuple[tuple[str, int], int] | None:
    """((book, chapter), verse) of the last non-empty verse of ``book``, if it was read."""
    keys = [key for key in bible if key[0] == book]
    for key in sorted(keys, key=lambda k: k[1], reverse=True):
        verses = [v for v, text in bible[key].items() if text]
        if verses:
            return key, max(verses)
    return None


# ---------------------------------------------------------------------------------------------
# Alignment


def align_chapters(en: Bible, es: Bible) -> tuple[list[VersePair], list[str]]:
    """Pairs the verses of the chapters whose numbering agrees in both texts.

    Args:
        en: Clean English chapters.
        es: Clean Spanish chapters (same keys, other versification).

    Returns:
        The pairs in canonical order and one ``"Book chapter: reason"`` line per dropped
        chapter.
    """
    log_ratio = _log_length_ratio(en, es)
    pairs: list[VersePair] = []
    dropped: list[str] = []
    for (book, number), en_chapter in en.items():
        en_verses = _non_empty(en_chapter)
        es_verses = _non_empty(es.get((book, number), {}))
        reason = _drop_reason((book, number), en_verses, es_verses, log_ratio)
        if reason:
            dropped.append(f"{book} {number}: {reason}")
            continue
        pairs.extend(VersePair(book, number, v, en_verses[v], es_verses[v]) for v in en_verses)
    return pairs, dropped


def _non_empty(chapter: Mapping[int, str]) -> Chapter:
    """The chapter's non-empty verses, by ascending verse number."""
    return {v: chapter[v] for v in sorted(chapter) if chapter[v]}


def _drop_reason(key: tuple[str, int], en: Chapter, es: Chapter, log_ratio: float) -> str:
    """Why chapter ``key`` must go ('' to keep it)."""
    if key in MANUAL_DROPS:
        return "manual drop (verse numbering shifted)"
    if set(en) != set(es):
        return "verse numbers differ"
    if key not in KEEP_CHAPTERS and looks_shifted(en, es, log_ratio):
        return "looks shifted by one verse"
    return ""


def looks_shifted(en: Chapter, es: Chapter, log_ratio: float) -> bool:
    """Whether the Spanish verses fit the English better one verse earlier or later.

    An offset wins when it cuts the length misfit (:func:`length_misfit`) below
    :data:`SHIFT_MISFIT_FACTOR` times the unshifted one without losing shared proper names
    (:func:`shared_names`).

    Args:
        en: Non-empty English verses of one chapter.
        es: Non-empty Spanish verses of the same chapter.
        log_ratio: ``log(es characters / en characters)`` over the whole corpus.
    """
    misfit = length_misfit(en, es, 0, log_ratio)
    names = shared_names(en, es, 0)
    return any(
        length_misfit(en, es, offset, log_ratio) < SHIFT_MISFIT_FACTOR * misfit
        and shared_names(en, es, offset) >= names
        for offset in (-1, 1)
    )


def length_misfit(en: Chapter, es: Chapter, offset: int, log_ratio: float) -> float:
    """Mean ``|log(len(es[v + offset]) / len(en[v])) - log_ratio|`` over the verses."""
    pairs = [(en[v], es[v + offset]) for v in en if v + offset in es]
    if not pairs:
        return math.inf
    return sum(abs(math.log(len(s) / len(e)) - log_ratio) for e, s in pairs) / len(pairs)


def shared_names(en: Chapter, es: Chapter, offset: int) -> int:
    """How many capitalised English words reappear in the Spanish verse ``offset`` away.

    Proper names are mostly spelt alike (Israel, David, Jesús); accents are ignored.
    """
    return sum(
        len(_english_names(text) & _spanish_words(es[verse + offset]))
        for verse, text in en.items()
        if verse + offset in es
    )


@functools.lru_cache(maxsize=4096)
def _english_names(text: str) -> frozenset[str]:
    """Folded capitalised words of an English verse."""
    return frozenset(_fold(word) for word in re.findall(r"\b[A-Z][a-z]{2,}\b", text))


@functools.lru_cache(maxsize=4096)
def _spanish_words(text: str) -> frozenset[str]:
    """Folded words of three letters or more of a Spanish verse."""
    return frozenset(_fold(word) for word in re.findall(r"\w{3,}", text))


@functools.lru_cache(maxsize=65536)
def _fold(word: str) -> str:
    """Lowercase without accents: ``Jesús`` -> ``jesus``."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _log_length_ratio(en: Bible, es: Bible) -> float:
    """``log(total Spanish characters / total English characters)``."""
    en_chars = sum(len(text) for chapter in en.values() for text in chapter.values())
    es_chars = sum(len(text) for chapter in es.values() for text in chapter.values())
    return math.log(es_chars / en_chars)


def filter_by_ratio(pairs: Iterable[VersePair]) -> tuple[list[VersePair], list[VersePair]]:
    """Splits ``pairs`` into (kept, dropped) by the es/en character ratio bound."""
    kept: list[VersePair] = []
    dropped: list[VersePair] = []
    for pair in pairs:
        ratio = len(pair.es) / len(pair.en)
        in_range = 1 / MAX_LENGTH_RATIO <= ratio <= MAX_LENGTH_RATIO
        (kept if in_range else dropped).append(pair)
    return kept, dropped


def split_pairs(pairs: Iterable[VersePair]) -> dict[str, list[VersePair]]:
    """Groups pairs by split through the book allow-lists; other books go nowhere."""
    split_of = {book: split for split, books in SPLIT_BOOKS.items() for book in books}
    splits: dict[str, list[VersePair]] = {split: [] for split in SPLITS}
    for pair in pairs:
        if pair.book in split_of:
            splits[split_of[pair.book]].append(pair)
    return splits


# ---------------------------------------------------------------------------------------------
# Files


def write_pairs(path: Path, pairs: Iterable[tuple[str, str]]) -> None:
    """Writes ``english<TAB>spanish`` lines as deterministic gzip, atomically.

    The gzip header stores no file name and ``mtime=0``, so equal pairs give equal bytes.
    """
    lines = []
    for en, es in pairs:
        if not en or not es or any(ch in en + es for ch in "\t\n\r"):
            raise ValueError(f"unwritable pair: {en!r} / {es!r}")
        lines.append(f"{en}\t{es}\n")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
        gz.write("".join(lines).encode("utf-8"))

    def write(tmp: Path) -> None:
        tmp.write_bytes(buffer.getvalue())
        tmp.chmod(0o644)  # mkstemp creates 0600; package data must be world-readable

    atomic_write(path, write)


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """The (english, spanish) pairs of one ``.tsv.gz`` split.

    Raises:
        DataError: A line does not hold exactly two tab-separated fields.
    """
    pairs = []
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, start=1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 2:
                raise DataError(f"{path}:{number}: expected english<TAB>spanish, got {line!r}")
            pairs.append((fields[0], fields[1]))
    return pairs


def prepare_from_sword(out_dir: Path, *, sword_dir: Path = DEFAULT_SWORD_DIR) -> dict[str, Path]:
    """Rebuild train/dev/test.tsv.gz for en->es into out_dir; returns {"train": path, ...}.

    Args:
        out_dir: Directory for ``train.tsv.gz``, ``dev.tsv.gz`` and ``test.tsv.gz``.
        sword_dir: SWORD data path holding the two modules.

    Returns:
        ``{"train": path, "dev": path, "test": path}``.

    Raises:
        DataError: pysword or a SWORD module is missing (the message says what to install).
    """
    start = time.perf_counter()
    books = allowed_books()
    en = clean_english(read_module(EN_MODULE, books, sword_dir))
    es = clean_spanish(read_module(ES_MODULE, books, sword_dir))
    pairs, dropped_chapters = align_chapters(en, es)
    kept, dropped_pairs = filter_by_ratio(pairs)
    logger.info("dropped %d chapters: %s", len(dropped_chapters), "; ".join(dropped_chapters))
    logger.info("dropped %d pairs by the es/en length ratio", len(dropped_pairs))
    paths: dict[str, Path] = {}
    for split, verses in split_pairs(kept).items():
        paths[split] = Path(out_dir) / f"{split}.tsv.gz"
        write_pairs(paths[split], ((pair.en, pair.es) for pair in verses))
        logger.info("%s: %d pairs -> %s", split, len(verses), paths[split])
    logger.info("bible-en-es rebuilt in %.1f s", time.perf_counter() - start)
    return paths


def compare_with_shipped(out_dir: Path) -> list[str]:
    """Human-readable differences between out_dir's splits and the shipped ones; [] when identical.

    Splits are compared pair by pair (their decompressed content); identical content with
    different gzip bytes (another zlib build) only logs a warning.
    """
    differences: list[str] = []
    for split in SPLITS:
        built, shipped = Path(out_dir) / f"{split}.tsv.gz", SHIPPED_DIR / f"{split}.tsv.gz"
        missing = [str(p) for p in (built, shipped) if not p.is_file()]
        if missing:
            differences.append(f"{split}: missing {', '.join(missing)}")
            continue
        if built.read_bytes() == shipped.read_bytes():
            continue
        split_differences = _pair_differences(split, read_pairs(built), read_pairs(shipped))
        differences.extend(split_differences)
        if not split_differences:
            logger.warning("%s: same pairs as shipped but different gzip bytes", split)
    return differences


def _pair_differences(
    split: str, built: Sequence[tuple[str, str]], shipped: Sequence[tuple[str, str]]
) -> list[str]:
    """At most two lines describing how ``built`` differs from ``shipped``."""
    differences = []
    if len(built) != len(shipped):
        differences.append(f"{split}: {len(built)} pairs rebuilt, {len(shipped)} shipped")
    for line, (new, old) in enumerate(zip(built, shipped, strict=False), start=1):
        if new != old:
            differences.append(f"{split} line {line}: rebuilt {new!r}, shipped {old!r}")
            break
    return differences
