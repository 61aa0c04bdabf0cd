"""``debian-summaries``: Debian long package descriptions -> their one-line synopses.

Where this sits in the data flow::

    apt lists folder (debian_archive.fetch_lists, or --from DIR)
      -> read_descriptions: Translation-en joined with Packages on (Package, Description-md5)
      -> split_description: synopsis (first line) and long description (paragraphs joined)
      -> keep_pairs: long >= 20 words, synopsis >= 3 words, identical long description once
      -> split_of: sha1(package) % 64; 7 reserved (never written), {0, 1} dev, {2, 3} test
      -> write_splits: train/dev/test.tsv (``long<TAB>synopsis``) + info.json, in the cache

The recipe is DATA.md's "debian-summaries"; on the bookworm archive (12.15; main, amd64, with
bookworm-updates and bookworm-security) it gives its reference counts: 63,666 packages ->
55,820 kept -> 53,693 after deduplication (median 49 and 7 words). Descriptions are compared
case-insensitively when deduplicating, which is what reproduces the reference. The cloze task
(:mod:`seq2seq.data.builtin.cloze`) starts from the same pairs and split rule.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from seq2seq.data.builtin import debian_archive
from seq2seq.data.builtin.prepared import (
    SPLITS,
    Prepared,
    Row,
    clean_field,
    finish_info,
    write_splits,
)
from seq2seq.errors import DataError

logger = logging.getLogger(__name__)

NAME = "debian-summaries"
MIN_LONG_WORDS = 20
MIN_SYNOPSIS_WORDS = 3
HASH_BUCKETS = 64
RESERVED_BUCKET = 7
"""Packages in this bucket are kept for independent evaluation: never written to any split."""
SPLIT_BUCKETS = {0: "dev", 1: "dev", 2: "test", 3: "test"}
"""Buckets of the dev and test splits; every other bucket but the reserved one is train."""


class DescriptionPair(NamedTuple):
    """One package's description, cleaned to single-line fields."""

    package: str
    synopsis: str
    long: str


def split_of(package: str) -> str | None:
    """The split of ``package``: ``"train"``, ``"dev"``, ``"test"``, or None when reserved.

    ``h = int(sha1(package).hexdigest(), 16) % 64``; h == 7 is reserved, {0, 1} dev, {2, 3}
    test, the rest train. Hashing the name keeps a package in the same split whatever else
    changes in the archive.
    """
    bucket = int(hashlib.sha1(package.encode()).hexdigest(), 16) % HASH_BUCKETS
    if bucket == RESERVED_BUCKET:
        return None
    return SPLIT_BUCKETS.get(bucket, "train")


def split_description(text: str) -> tuple[str, str]:
    """(synopsis, long description) of a ``Description-en`` field.

    The first line is the synopsis. In the rest, a line holding only ``.`` separates
    paragraphs; lines and paragraphs are joined with single spaces (verbatim lines included),
    so neither field holds a tab or newline.
    """
    first, _, rest = text.partition("\n")
    lines = [line.strip() for line in rest.splitlines()]
    return clean_field(first), clean_field(" ".join(line for line in lines if line != "."))


def read_descriptions(lists_dir: Path) -> dict[str, str]:
    """``{package: Description-en}`` for every package of the ``main`` amd64 Packages files.

    A package's description is the Translation-en entry with the same (Package,
    Description-md5); when a package is listed with several descriptions (in more than one
    suite), the lexicographically smallest md5 that has a translation wins, so the result does
    not depend on the order of files.

    Raises:
        DataError: The folder has no Packages or no Translation-en file.
    """
    packages_files = debian_archive.index_files(lists_dir, debian_archive.PACKAGES_GLOB)
    translation_files = debian_archive.index_files(lists_dir, debian_archive.TRANSLATION_GLOB)
    for files, glob in (
        (packages_files, debian_archive.PACKAGES_GLOB),
        (translation_files, debian_archive.TRANSLATION_GLOB),
    ):
        if not files:
            raise DataError(
                f"{lists_dir}: no {glob} file; pass an apt lists folder fetched with "
                "`apt-get update -o Acquire::Languages=en -o Dir::State::Lists=DIR`"
            )
    translations: dict[tuple[str, str], str] = {}
    for path in translation_files:
        for stanza in debian_archive.parse_stanzas(debian_archive.read_index(path)):
            if {"Package", "Description-md5", "Description-en"} <= stanza.keys():
                key = (stanza["Package"], stanza["Description-md5"])
                translations[key] = stanza["Description-en"]
    md5s: dict[str, set[str]] = {}
    for path in packages_files:
        for stanza in debian_archive.parse_stanzas(debian_archive.read_index(path)):
            if "Package" in stanza and "Description-md5" in stanza:
                md5s.setdefault(stanza["Package"], set()).add(stanza["Description-md5"])
    descriptions = {}
    for package in sorted(md5s):
        keys = [(package, md5) for md5 in sorted(md5s[package])]
        found = [translations[key] for key in keys if key in translations]
        if found:
            descriptions[package] = found[0]
    return descriptions


def keep_pairs(descriptions: dict[str, str]) -> tuple[list[DescriptionPair], dict[str, int]]:
    """The pairs worth learning from, sorted by package name, and how many each step kept.

    Keeps a long description of >= 20 words with a synopsis of >= 3 words; an identical long
    description (ignoring case: package families share boilerplate) is kept once, for the
    first package name in sorted order.

    Returns:
        ``(pairs, {"packages": n, "kept": n, "deduplicated": n})``.
    """
    kept = []
    for package in sorted(descriptions):
        synopsis, long = split_description(descriptions[package])
        if len(long.split()) >= MIN_LONG_WORDS and len(synopsis.split()) >= MIN_SYNOPSIS_WORDS:
            kept.append(DescriptionPair(package, synopsis, long))
    seen: set[str] = set()
    unique = []
    for pair in kept:
        key = pair.long.lower()
        if key not in seen:
            seen.add(key)
            unique.append(pair)
    counts = {"packages": len(descriptions), "kept": len(kept), "deduplicated": len(unique)}
    return unique, counts


def split_pairs(pairs: Iterable[DescriptionPair]) -> dict[str, list[DescriptionPair]]:
    """``{"train": [...], "dev": [...], "test": [...]}`` by :func:`split_of`; drops reserved."""
    splits: dict[str, list[DescriptionPair]] = {split: [] for split in SPLITS}
    for pair in pairs:
        split = split_of(pair.package)
        if split is not None:
            splits[split].append(pair)
    return splits


def load_pairs(lists_dir: Path) -> tuple[list[DescriptionPair], dict[str, Any]]:
    """The deduplicated pairs of ``lists_dir`` and provenance for ``info.json``."""
    pairs, counts = keep_pairs(read_descriptions(lists_dir))
    counts["reserved"] = sum(split_of(pair.package) is None for pair in pairs)
    provenance = {
        "source": {
            "lists_dir": str(Path(lists_dir).resolve()),
            "releases": debian_archive.release_info(lists_dir),
        },
        "pipeline": counts,
    }
    return pairs, provenance


def resolve_lists(lists_dir: Path, from_dir: Path | None) -> Path:
    """``from_dir`` when given, else ``lists_dir`` (fetched with apt-get when still empty)."""
    if from_dir is not None:
        if not Path(from_dir).is_dir():
            raise DataError(f"--from {from_dir}: not a directory (expected an apt lists folder)")
        return Path(from_dir)
    if debian_archive.index_files(lists_dir, debian_archive.TRANSLATION_GLOB):
        logger.info("reusing the apt lists in %s (delete it to fetch fresh ones)", lists_dir)
        return lists_dir
    return debian_archive.fetch_lists(lists_dir)


def prepare(out_dir: Path, *, lists_dir: Path, from_dir: Path | None = None) -> Prepared:
    """Builds ``long<TAB>synopsis`` train/dev/test TSVs and ``info.json`` in ``out_dir``.

    Args:
        out_dir: Destination (the cache's ``debian-summaries`` folder by default).
        lists_dir: Private apt lists folder, fetched when empty.
        from_dir: An existing apt lists folder to read instead (no apt, no network).

    Raises:
        DataError: apt is unusable and no ``from_dir`` was given, or the lists are incomplete.
    """
    start = time.perf_counter()
    pairs, provenance = load_pairs(resolve_lists(lists_dir, from_dir))
    rows = {split: to_rows(chunk) for split, chunk in split_pairs(pairs).items()}
    return write_splits(NAME, out_dir, rows, finish_info(provenance, start))


def to_rows(pairs: Sequence[DescriptionPair]) -> list[Row]:
    """``(long, synopsis)`` rows of ``pairs``."""
    return [(pair.long, pair.synopsis) for pair in pairs]
