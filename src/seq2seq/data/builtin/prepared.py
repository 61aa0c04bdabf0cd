"""Corpora prepared locally into the cache: atomic writing, reuse and lookup of TSV splits.

The Debian corpora (``debian-summaries``, ``debian-cloze-qa``, ``gettext-multi``,
``debian-faq-qa``) hold texts under their packages' licences, so they are never shipped: each
preparer turns its inputs into rows and hands them to :func:`write_splits`, which writes
``train.tsv``, ``dev.tsv``, ``test.tsv`` and ``info.json`` into a temporary sibling directory
and renames it into place at the end. An interrupted prepare therefore leaves either nothing or
the complete previous result, never a half-written split; :func:`find_prepared` treats a
directory as prepared only when ``info.json`` (written last) and every split are present.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seq2seq.errors import DataError

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
INFO_FILE = "info.json"

Row = tuple[str, ...]
"""One TSV line as fields: (source, target) or (question, context, answer)."""


@dataclass(frozen=True)
class Prepared:
    """What a prepare produced or found, for the CLI to print.

    Attributes:
        name: Corpus name, e.g. ``"debian-summaries"``.
        paths: ``{"train": path, "dev": path, "test": path}``.
        counts: Lines per split.
        reused: True when an earlier complete result was found and nothing was rebuilt.
        info: The content of ``info.json`` (sources, versions, counts, timing).
    """

    name: str
    paths: dict[str, Path]
    counts: dict[str, int]
    reused: bool
    info: dict[str, Any]


def clean_field(text: str) -> str:
    """``text`` with every whitespace run (tabs, newlines included) collapsed to one space.

    A TSV field must never hold a tab or a newline: either would break the line into the wrong
    number of fields for :mod:`seq2seq.data.corpus`.
    """
    return " ".join(text.split())


def finish_info(provenance: Mapping[str, Any], start: float) -> dict[str, Any]:
    """``provenance`` plus the creation time (UTC) and the seconds since ``start``
    (a :func:`time.perf_counter` reading)."""
    return {
        **provenance,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - start, 1),
    }


def split_of_package(package: str, dev: Sequence[str], test: Sequence[str]) -> str:
    """``dev``, ``test`` or ``train``: corpora split by whole package, so no package's texts
    (its boilerplate, its names) appear on both sides of a split."""
    if package in dev:
        return "dev"
    if package in test:
        return "test"
    return "train"


def split_paths(out_dir: Path) -> dict[str, Path]:
    """``{"train": out_dir/train.tsv, ...}``."""
    return {split: Path(out_dir) / f"{split}.tsv" for split in SPLITS}


def find_prepared(name: str, out_dir: Path) -> Prepared | None:
    """The complete earlier result in ``out_dir``, or None when there is none (or a partial one)."""
    info_path = Path(out_dir) / INFO_FILE
    paths = split_paths(out_dir)
    if not info_path.is_file() or not all(p.is_file() for p in paths.values()):
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("counts"), dict):
        return None
    return Prepared(name, paths, dict(info["counts"]), True, info)


def require_prepared(name: str, out_dir: Path) -> dict[str, Path]:
    """The split paths of a prepared corpus; DataError telling how to prepare it otherwise."""
    if find_prepared(name, out_dir) is None:
        raise DataError(
            f"data.corpus: corpus {name!r} is not prepared in {out_dir}; "
            f"run `seq2seq data prepare {name}` first (it downloads Debian packages)"
        )
    return split_paths(out_dir)


def write_splits(
    name: str,
    out_dir: Path,
    rows: Mapping[str, Sequence[Row]],
    info: Mapping[str, Any],
) -> Prepared:
    """Writes the splits and ``info.json`` into ``out_dir`` atomically.

    Args:
        name: Corpus name, recorded in ``info.json``.
        out_dir: Final directory; replaced as a whole if it holds an incomplete result.
        rows: ``{"train": rows, "dev": rows, "test": rows}``; every field already cleaned.
        info: Provenance to record beside the splits (sources, versions, timing).

    Returns:
        The :class:`Prepared` result (``reused=False``).

    Raises:
        ValueError: A field holds a tab or a newline, or the rows of one corpus have
            different numbers of fields (a bug in the preparer, not a user error).
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    counts = {split: len(rows[split]) for split in SPLITS}
    full_info = {"name": name, "counts": counts, **info}
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        for split, path in split_paths(tmp).items():
            _write_tsv(path, rows[split])
        # info.json last: its presence marks the directory as complete.
        (tmp / INFO_FILE).write_text(json.dumps(full_info, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp creates 0700
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.debug("%s: %s -> %s", name, counts, out_dir)
    return Prepared(name, split_paths(out_dir), counts, False, full_info)


def _write_tsv(path: Path, rows: Iterable[Row]) -> None:
    width = None
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            if width is None:
                width = len(row)
            if len(row) != width or any("\t" in x or "\n" in x or "\r" in x for x in row):
                raise ValueError(f"{path}: malformed row {row!r}")
            f.write("\t".join(row) + "\n")
