"""``debian-faq-qa``: question -> answer pairs from FAQ documents shipped by Debian packages.

Where this sits in the data flow::

    SOURCES (a fixed list: package, FAQ file under usr/share/doc, layout, licence)
      -> debian_archive.package_trees: apt-get download + dpkg-deb -x
         (or --from DIR: .deb files or extracted trees)
      -> read_document (plain or .gz) -> faq_parse.parse_faq(text, layout)
      -> split by package (DEV_PACKAGES, TEST_PACKAGES, the rest train)
      -> deduplicate questions: once per split (first in SOURCES order); a dev/test question
         asked in train, or a test question asked in dev, is dropped
      -> write_splits: train/dev/test.tsv (``question<TAB>answer``) + info.json (each
         package's version and licence)

Only packages whose copyright file puts the FAQ under a permissive licence (BSD, MIT/Expat,
ISC, Apache-2.0, zlib, curl, public domain, Vim's charityware licence) are read; GPL-covered
FAQs (cvs, GNU GLOBAL, gosa, ...) are left out. It is a closed-book task: the answer is not in
the source, so a model must hold the documents' knowledge in its weights.
"""

from __future__ import annotations

import gzip
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from seq2seq.data.builtin import debian_archive
from seq2seq.data.builtin.debian_archive import PackageTree
from seq2seq.data.builtin.faq_parse import ANSWER_WORDS, MARKERS, parse_faq
from seq2seq.data.builtin.prepared import (
    SPLITS,
    Prepared,
    Row,
    finish_info,
    split_of_package,
    write_splits,
)
from seq2seq.errors import DataError

NAME = "debian-faq-qa"


class Source(NamedTuple):
    """One FAQ document: ``usr/share/doc/<path>`` inside ``package``, parsed as ``layout``."""

    package: str
    path: str
    layout: str
    licence: str


# fmt: off
SOURCES: tuple[Source, ...] = (
    Source("vim-doc", "vim/FAQ.gz", "numbered", "Vim (charityware, GPL-compatible)"),
    Source("libc-client2007e", "libc-client2007e/FAQ.txt.gz", "numbered", "Apache-2.0"),
    Source("libsnmp-base", "libsnmp-base/FAQ.gz", "underlined", "BSD-3-clause and BSD-like"),
    Source("nmh", "nmh/FAQ.gz", "numbered", "BSD-3-clause"),
    Source("libcurl4-doc", "libcurl4/FAQ.gz", "numbered", "curl (MIT-like)"),
    Source("javacc-doc", "javacc/faq.md.gz", "markdown", "BSD-3-clause"),
    Source("libblis-dev", "libblis-dev/FAQ.md.gz", "markdown", "BSD-3-clause"),
    Source("fonts-hack", "fonts-hack/FAQ.md.gz", "markdown", "Expat"),
    Source("rancid", "rancid/FAQ.gz", "qa", "BSD-4-clause"),
    Source("etcd-server", "etcd-server/faq.md.gz", "markdown", "Apache-2.0"),
    Source("etcd-server", "etcd-server/v2/faq.md.gz", "markdown", "Apache-2.0"),
    Source("postgresql-15-plproxy", "postgresql-15-plproxy/faq.md.gz", "markdown", "ISC"),
    Source("vtprint", "vtprint/FAQ.gz", "numbered", "Expat-like (Garrett D'Amore)"),
    Source("flye", "flye/FAQ.md.gz", "markdown", "BSD-3-clause"),
    Source("scrot", "scrot/FAQ.gz", "numbered", "MIT-advertising"),
    Source("ppp", "ppp/FAQ.gz", "qa", "BSD-like (freely usable)"),
    Source("inn2", "inn2/FAQ.gz", "numbered", "ISC"),
    Source("conserver-client", "conserver-client/FAQ.gz", "numbered", "BSD-3-clause"),
    Source("ruby-rack-cache", "ruby-rack-cache/faq.markdown.gz", "markdown", "Expat"),
    Source("noweb", "noweb/FAQ.gz", "qa", "BSD-2-clause"),
    Source("libncbi6", "libncbi6/FAQ.txt.gz", "qa", "public-domain"),
    Source("golang-github-gcla-gowid-dev", "golang-github-gcla-gowid-dev/FAQ.md.gz",
           "markdown", "Expat"),
    Source("mk-configure", "mk-configure/FAQ.gz", "qa", "BSD-2-clause"),
    Source("php-predis", "php-predis/FAQ.md.gz", "markdown", "Expat"),
    Source("weather-util", "weather-util/FAQ", "underlined", "ISC"),
    Source("ftnchek", "ftnchek/FAQ.gz", "numbered", "MIT"),
    Source("mgp", "mgp/FAQ.gz", "qa", "BSD-2-clause (WIDE Project)"),
    Source("afflib-tools", "afflib-tools/FAQ.txt.gz", "qa", "public-domain"),
    Source("libjs-jquery-flot", "libjs-jquery-flot/FAQ.md", "markdown", "MIT"),
    Source("stterm", "stterm/FAQ.gz", "markdown", "Expat"),
    Source("ii", "ii/FAQ", "underlined", "MIT/X-Consortium"),
    Source("pchar", "pchar/FAQ", "numbered", "public-domain"),
    Source("sparse", "sparse/FAQ", "qa", "MIT"),
    Source("ruby-ldap", "ruby-ldap/FAQ", "qa", "BSD-3-clause"),
    Source("lxd", "lxd/faq.md.gz", "markdown", "Apache-2.0"),
    Source("node-log4js", "node-log4js/faq.md", "markdown", "Apache-2.0"),
    # dev
    Source("zlib1g-dev", "zlib1g-dev/FAQ.gz", "numbered", "Zlib"),
    Source("docutils-doc", "docutils-doc/FAQ.txt", "underlined", "public-domain"),
    Source("ngspice", "ngspice/FAQ.gz", "numbered", "BSD-3-clause"),
    Source("xz-utils", "xz-utils/faq.txt.gz", "qa", "public-domain"),
    Source("mesa-common-dev", "mesa-common-dev/faq.rst.gz", "underlined", "MIT"),
    Source("termshark", "termshark/FAQ.md.gz", "markdown", "Expat"),
    # test
    Source("zsh-common", "zsh-common/FAQ.gz", "numbered", "Zsh (MIT-like)"),
    Source("expect", "expect/FAQ.gz", "numbered", "public-domain"),
    Source("fasttext", "fasttext/faqs.md.gz", "markdown", "Expat"),
    Source("mmark", "mmark/FAQ.md", "markdown", "BSD-2-clause"),
    Source("cowpatty", "cowpatty/FAQ.gz", "qa", "BSD-3-clause"),
)
"""The FAQ documents read. Licences are those of each package's
``usr/share/doc/PKG/copyright`` for the files holding the FAQ. Packages shipping the same
document (libsnmp40, tkmib, nas-*, xzdec, tcl-expect-dev, ...) are listed once."""
DEV_PACKAGES: tuple[str, ...] = (
    "zlib1g-dev", "docutils-doc", "ngspice", "xz-utils", "mesa-common-dev", "termshark",
)
TEST_PACKAGES: tuple[str, ...] = ("zsh-common", "expect", "fasttext", "mmark", "cowpatty")
# fmt: on
"""Whole packages held out for validation and test (~10% each); the others are train."""


class Pair(NamedTuple):
    """One question -> answer pair and the package it comes from."""

    package: str
    question: str
    answer: str


def package_split(package: str) -> str:
    """The split a package's pairs belong to (a fixed assignment, documented above)."""
    return split_of_package(package, DEV_PACKAGES, TEST_PACKAGES)


def packages(sources: Sequence[Source] = SOURCES) -> list[str]:
    """The distinct packages of ``sources``, in order."""
    return list(dict.fromkeys(source.package for source in sources))


def check_sources(sources: Sequence[Source] = SOURCES) -> None:
    """Raises ValueError when the fixed lists are inconsistent (a bug, not a user error)."""
    names = set(packages(sources))
    held_out = set(DEV_PACKAGES) | set(TEST_PACKAGES)
    if not held_out <= names or set(DEV_PACKAGES) & set(TEST_PACKAGES):
        raise ValueError(f"{NAME}: DEV_PACKAGES/TEST_PACKAGES must be disjoint parts of SOURCES")
    unknown = {source.layout for source in sources} - set(MARKERS)
    if unknown:
        raise ValueError(f"{NAME}: unknown layouts {sorted(unknown)}")


def read_document(tree: PackageTree, path: str) -> str:
    """The text of ``usr/share/doc/<path>`` in ``tree`` (gunzipped; bad UTF-8 replaced).

    Raises:
        DataError: The file is missing or is not valid gzip.
    """
    file = tree.root / "usr" / "share" / "doc" / path
    if not file.is_file():
        raise DataError(
            f"{file}: package {tree.name} ({tree.version}) ships no usr/share/doc/{path}; "
            f"the archive changed and {NAME}'s SOURCES needs updating"
        )
    raw = file.read_bytes()
    if file.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{file}: not a readable gzip file ({err})") from err
    return raw.decode("utf-8", errors="replace")


def read_pairs(
    trees: dict[str, PackageTree], sources: Sequence[Source], limit: int = ANSWER_WORDS
) -> list[Pair]:
    """Every parsed pair of ``sources``, in SOURCES and document order.

    Raises:
        DataError: A document is missing or yields no pair (its layout changed).
    """
    pairs: list[Pair] = []
    for source in sources:
        tree = trees[source.package]
        found = parse_faq(read_document(tree, source.path), source.layout, limit)
        if not found:
            raise DataError(
                f"{tree.root}/usr/share/doc/{source.path}: no {source.layout!r} "
                f"question -> answer pair found; the document's layout changed"
            )
        pairs.extend(Pair(source.package, q, a) for q, a in found)
    return pairs


def question_key(question: str) -> str:
    """Duplicate key of a question: case and whitespace ignored."""
    return " ".join(question.casefold().split())


def split_pairs(pairs: Iterable[Pair]) -> dict[str, list[Row]]:
    """``(question, answer)`` rows per split, deduplicated by question.

    A question is kept once per split (its first answer). Dev keeps only questions never
    asked in train, and test only questions asked in neither, so scores measure answering
    unseen questions.
    """
    rows: dict[str, list[Row]] = {split: [] for split in SPLITS}
    for pair in pairs:
        rows[package_split(pair.package)].append((pair.question, pair.answer))
    seen: set[str] = set()
    for split in SPLITS:
        kept = []
        for question, answer in rows[split]:
            key = question_key(question)
            if key not in seen:
                seen.add(key)
                kept.append((question, answer))
        rows[split] = kept
    return rows


def provenance(
    trees: dict[str, PackageTree], sources: Sequence[Source], pairs: Sequence[Pair]
) -> dict[str, Any]:
    """Per-package version, licence, documents, split and parsed pairs, for ``info.json``."""
    per_package: dict[str, Any] = {}
    for source in sources:
        entry = per_package.setdefault(
            source.package,
            {
                "version": trees[source.package].version,
                "licence": source.licence,
                "split": package_split(source.package),
                "documents": {},
                "pairs_parsed": 0,
            },
        )
        entry["documents"][f"usr/share/doc/{source.path}"] = source.layout
    for pair in pairs:
        per_package[pair.package]["pairs_parsed"] += 1
    return {"packages": per_package}


def prepare(out_dir: Path, *, lists_dir: Path, from_dir: Path | None = None) -> Prepared:
    """Builds ``question<TAB>answer`` TSVs and ``info.json`` in ``out_dir``.

    Args:
        out_dir: Destination (the cache's ``debian-faq-qa`` folder by default).
        lists_dir: Private apt lists folder that ``apt-get download`` uses.
        from_dir: A folder with ``NAME_*.deb`` or extracted ``NAME/usr/...`` for every
            package of :data:`SOURCES`; None downloads them with apt.

    Raises:
        DataError: apt is unusable and no ``from_dir`` was given, a package is missing or
            cannot be downloaded, or a FAQ document is missing or no longer parses.
    """
    start = time.perf_counter()
    check_sources(SOURCES)
    with tempfile.TemporaryDirectory(prefix="seq2seq-faq-") as work:
        trees = debian_archive.package_trees(packages(SOURCES), Path(work), lists_dir, from_dir)
        pairs = read_pairs(trees, SOURCES)
        info = provenance(trees, SOURCES, pairs)
    info["answer_words_max"] = ANSWER_WORDS
    info["dev_packages"] = list(DEV_PACKAGES)
    info["test_packages"] = list(TEST_PACKAGES)
    return write_splits(NAME, out_dir, split_pairs(pairs), finish_info(info, start))
