"""Corpus reading: the entry of the data flow, files -> validated (source, target) text pairs.

Training data comes either as one TSV file (``source<TAB>target`` per line) or as two parallel
plain-text files (line i of each forms a pair); either may be gzip-compressed (detected from the
file's first bytes). A TSV line may hold more than two fields, as a QA corpus does
(``question<TAB>context<TAB>answer``): the last field is the target and the others are joined
into one source with the ``<sep>`` token (``question <sep> context``, see
:mod:`seq2seq.data.fields`). Every line of a file must have as many fields as its first one.
Translation input is read line by line with :func:`read_lines` (a file) or
:func:`read_stream_lines` (stdin), which decode and report bad lines the same way.

Every malformed input raises :class:`~seq2seq.errors.DataError` with a one-line message naming
``file:line``, the problem and what is allowed. With ``skip_bad_lines=True`` problems confined to
one line are skipped and reported once with ``logging.warning``; problems with a whole file
(missing, empty, parallel files of different lengths) always raise. Files are streamed, so
memory does not grow with corpus size when using :func:`iter_pairs`.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

from seq2seq.data.fields import join_fields
from seq2seq.errors import DataError

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
_BINARY_HINT = "(is this a binary file?)"
_NEED_BOTH = "every pair needs text on both sides"


@dataclass(frozen=True)
class Pair:
    """One training example as text.

    Attributes:
        src: Source text, surrounding whitespace stripped; the source fields of a TSV line
            with more than two fields, joined by ``" <sep> "``.
        tgt: Target text, surrounding whitespace stripped.
        origin: ``"path:line"`` where the pair was read, for error messages.
    """

    src: str
    tgt: str
    origin: str


class _BadLine(Exception):
    """A problem confined to one line: raised as DataError or skipped, as the caller chose."""


class _BadLineLog:
    """Raises on a bad line, or counts it and warns once at the end when skipping."""

    def __init__(self, label: str, skip: bool) -> None:
        self.label = label
        self.skip = skip
        self.count = 0
        self.first = ""

    def bad(self, path: str, line_no: int, problem: str) -> None:
        if not self.skip:
            raise DataError(f"{path}:{line_no}: {problem}")
        if self.count == 0:
            where = f"line {line_no}" if path == self.label else f"{path}:{line_no}"
            self.first = f"{where}: {problem}"
        self.count += 1

    def finish(self, num_good: int) -> None:
        if self.count and not num_good:
            raise DataError(
                f"{self.label}: all {self.count} lines are bad, no pairs to read "
                f"(first: {self.first})"
            )
        if self.count:
            logger.warning(
                "skipped %d bad lines in %s (first: %s)", self.count, self.label, self.first
            )


def iter_pairs(
    path: Path | str,
    *,
    tgt_path: Path | str | None = None,
    skip_bad_lines: bool = False,
) -> Iterator[Pair]:
    """Stream validated pairs from a TSV file or from two parallel files.

    Whole-file problems (missing, empty, not gzip) are checked before this returns; line
    problems and a line-count mismatch are raised while iterating.

    Args:
        path: A TSV file (``source<TAB>target``, or ``source 1<TAB>...<TAB>target`` per line)
            if ``tgt_path`` is None, else the source side of two parallel plain-text files.
            ``.gz`` content is detected.
        tgt_path: Target side of parallel files, or None for TSV input.
        skip_bad_lines: Skip (and log once) lines that are ragged, empty on one side or not
            text, instead of raising.

    Raises:
        DataError: Naming ``file:line``, the problem and what is allowed.
    """
    _check_file(path)
    if tgt_path is None:
        return _iter_tsv(str(path), _BadLineLog(str(path), skip_bad_lines))
    _check_file(tgt_path)
    label = f"{path} and {tgt_path}"
    return _iter_parallel(str(path), str(tgt_path), _BadLineLog(label, skip_bad_lines))


def read_pairs(
    path: Path | str,
    *,
    tgt_path: Path | str | None = None,
    skip_bad_lines: bool = False,
) -> list[Pair]:
    """Read and validate every pair; see :func:`iter_pairs` for the arguments and errors."""
    return list(iter_pairs(path, tgt_path=tgt_path, skip_bad_lines=skip_bad_lines))


def read_lines(path: Path | str) -> Iterator[str]:
    """Stream the lines of a text file (e.g. translation input), without their newline.

    Empty lines are yielded as ``""``; deciding what to do with them is the caller's job.

    Raises:
        DataError: The file is missing, empty, or a line is not UTF-8 text.
    """
    _check_file(path)
    return _decode_lines(_raw_lines(str(path)), str(path))


def read_stream_lines(stream: Iterable[bytes], name: str) -> Iterator[str]:
    """Stream the lines of an open byte stream (stdin), checked like :func:`read_lines`.

    Reading bytes and decoding each line strictly, rather than reading through a text layer,
    lets a line that is not UTF-8 fail as ``name:line`` instead of reaching the tokenizer as
    surrogate escapes; a leading byte-order mark is dropped as it is from a file.

    Raises:
        DataError: A line is not UTF-8 text (the message names ``name:line``).
    """
    return _decode_lines(enumerate(stream, start=1), name)


def _decode_lines(numbered: Iterable[tuple[int, bytes]], name: str) -> Iterator[str]:
    for line_no, raw in numbered:
        try:
            yield _decode_line(raw, line_no)
        except _BadLine as bad:
            raise DataError(f"{name}:{line_no}: {bad}") from None


def _iter_tsv(path: str, log: _BadLineLog) -> Iterator[Pair]:
    num_good = 0
    width: tuple[int, int] | None = None  # (fields per line, the good line that set it)
    for line_no, raw in _raw_lines(path):
        try:
            fields = _split_tsv(_decode_line(raw, line_no), width)
        except _BadLine as bad:
            log.bad(path, line_no, str(bad))
            continue
        width = width or (len(fields), line_no)
        num_good += 1
        yield Pair(join_fields(fields[:-1]), fields[-1], f"{path}:{line_no}")
    log.finish(num_good)


def _iter_parallel(src_path: str, tgt_path: str, log: _BadLineLog) -> Iterator[Pair]:
    num_good = 0
    src_lines, tgt_lines = _raw_lines(src_path), _raw_lines(tgt_path)
    for src_line, tgt_line in itertools.zip_longest(src_lines, tgt_lines):
        if src_line is None or tgt_line is None:
            _raise_length_mismatch(src_path, tgt_path, src_line, tgt_line, src_lines, tgt_lines)
        line_no = src_line[0]
        try:
            src = _side_text(src_path, src_line[1], line_no, "source")
            tgt = _side_text(tgt_path, tgt_line[1], line_no, "target")
        except _BadLine as bad:
            path, problem = bad.args
            log.bad(path, line_no, problem)
            continue
        num_good += 1
        yield Pair(src, tgt, f"{src_path}:{line_no}")
    log.finish(num_good)


def _side_text(path: str, raw: bytes, line_no: int, side: str) -> str:
    """Decode and strip one side of a parallel pair; _BadLine carries (path, problem)."""
    try:
        text = _decode_line(raw, line_no).strip()
    except _BadLine as bad:
        raise _BadLine(path, str(bad)) from None
    if not text:
        raise _BadLine(path, f"empty {side}: {_NEED_BOTH}")
    return text


def _raise_length_mismatch(
    src_path: str,
    tgt_path: str,
    src_line: tuple[int, bytes] | None,
    tgt_line: tuple[int, bytes] | None,
    src_rest: Iterator[tuple[int, bytes]],
    tgt_rest: Iterator[tuple[int, bytes]],
) -> NoReturn:
    """Count the longer file to its end and raise the mismatch as one DataError."""
    line_no = src_line[0] if src_line else tgt_line[0] if tgt_line else 1
    src_count = line_no + sum(1 for _ in src_rest) if src_line else line_no - 1
    tgt_count = line_no + sum(1 for _ in tgt_rest) if tgt_line else line_no - 1
    raise DataError(
        f"{src_path} has {src_count} lines but {tgt_path} has {tgt_count}: "
        "parallel files must have the same number of lines"
    )


def _split_tsv(text: str, width: tuple[int, int] | None) -> list[str]:
    """Split a TSV line into its stripped fields (sources, then the target) or raise _BadLine.

    Args:
        text: The decoded line.
        width: ``(fields per line, line that set it)`` once a good line was read, else None.
    """
    expected = _tsv_format(width[0] if width else None)
    if not text.strip():
        raise _BadLine(f"empty line, {expected}")
    fields = [field.strip() for field in text.split("\t")]
    if width is None and len(fields) < 2:
        raise _BadLine(f"{expected}, found {len(fields)}")
    if width is not None and len(fields) != width[0]:
        raise _BadLine(
            f"{expected}, found {len(fields)}; every line must have as many fields as "
            f"line {width[1]}"
        )
    for index, field in enumerate(fields, start=1):
        if not field:
            raise _BadLine(f"{_field_name(index, len(fields))}: {_NEED_BOTH}")
    return fields


def _tsv_format(num_fields: int | None) -> str:
    """What a TSV line must look like, once the file's field count is known (or not yet)."""
    if num_fields is None:
        return (
            "expected 2 or more tab-separated fields (source<TAB>target, or "
            "source 1<TAB>...<TAB>source N<TAB>target)"
        )
    if num_fields == 2:
        return "expected 2 tab-separated fields (source<TAB>target)"
    return (
        f"expected {num_fields} tab-separated fields ({num_fields - 1} source fields, then target)"
    )


def _field_name(index: int, num_fields: int) -> str:
    """``empty source``/``empty target``, numbering the source fields when there are several."""
    if index == num_fields:
        return "empty target"
    if num_fields == 2:
        return "empty source"
    return f"empty source field {index} of {num_fields - 1}"


def _decode_line(raw: bytes, line_no: int) -> str:
    """Drop the trailing newline and decode UTF-8, rejecting NUL bytes (binary data)."""
    if raw.endswith(b"\n"):
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    if b"\x00" in raw:
        raise _BadLine(f"contains a NUL byte, expected UTF-8 text {_BINARY_HINT}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadLine(f"not valid UTF-8 text {_BINARY_HINT}") from None
    # Editors on Windows may start a file with a byte-order mark; it is not part of the text.
    return text.removeprefix("\ufeff") if line_no == 1 else text


@contextmanager
def _open_binary(path: Path | str) -> Iterator[BinaryIO]:
    """Open ``path`` for reading bytes, transparently decompressing gzip content.

    The file is opened once and its first bytes are peeked at, not read: a pipe
    (``-i <(zcat ...)``, ``/dev/stdin``) cannot be reopened or rewound.
    """
    with open(path, "rb") as stream:
        if stream.peek(len(_GZIP_MAGIC)).startswith(_GZIP_MAGIC):
            with gzip.GzipFile(fileobj=stream) as unzipped:
                yield unzipped
        else:
            yield stream


def _check_file(path: Path | str) -> None:
    """Raise DataError unless ``path`` is a readable, non-empty (decompressed) file.

    Only a regular file is opened here. A pipe or other stream would lose what this check
    read (and a named pipe would block until its writer starts), so its emptiness is found
    while reading it, with the same message (see :func:`_raw_lines`).
    """
    if not Path(path).exists():
        raise DataError(f"{path}: no such file")
    if Path(path).is_dir():
        raise DataError(f"{path}: is a directory, expected a text file")
    if not Path(path).is_file():
        return
    try:
        with _open_binary(path) as stream:
            is_empty = stream.read(1) == b""
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot read ({_reason(err)})") from err
    if is_empty:
        raise DataError(_empty_file(path))


def _empty_file(path: Path | str) -> str:
    """One message for an empty file, found up front (regular file) or on reading (pipe)."""
    return f"{path}: file is empty"


def _raw_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_no, raw bytes)`` from 1, turning read failures into DataError."""
    line_no = 0
    try:
        with _open_binary(path) as stream:
            for line_no, raw in enumerate(stream, start=1):
                yield line_no, raw
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot read after line {line_no} ({_reason(err)})") from err
    if line_no == 0:  # a pipe that gave nothing (a regular file was checked up front)
        raise DataError(_empty_file(path))


def _reason(err: BaseException) -> str:
    if isinstance(err, EOFError):
        return "compressed data ends early: the .gz file is truncated"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err) or type(err).__name__
