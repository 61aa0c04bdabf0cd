"""Corpus reading: TSV, parallel and .gz files, and every user-facing DataError message."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest

from seq2seq.data.corpus import Pair, iter_pairs, read_lines, read_pairs
from seq2seq.errors import DataError


def write(path: Path, content: str | bytes) -> Path:
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("name", ["corpus.tsv", "corpus.tsv.gz"])
def test_read_tsv(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "hola\thello\n  niño \t child\r\nadiós\tbye")
    pairs = read_pairs(path)
    assert [(p.src, p.tgt) for p in pairs] == [
        ("hola", "hello"),
        ("niño", "child"),
        ("adiós", "bye"),
    ]
    assert pairs[1].origin == f"{path}:2"


def test_gzip_is_detected_from_content(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(gzip.compress(b"a\tb\n"))
    assert read_pairs(path) == [Pair("a", "b", f"{path}:1")]


def test_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.tsv", "\ufeffa\tb\n")
    assert read_pairs(path)[0].src == "a"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_parallel(tmp_path: Path, suffix: str) -> None:
    src = write(tmp_path / f"train.en{suffix}", "hello\nthe\tcat\n")
    tgt = write(tmp_path / f"train.es{suffix}", "hola\r\n el gato \n")
    pairs = read_pairs(src, tgt_path=tgt)
    assert [(p.src, p.tgt) for p in pairs] == [("hello", "hola"), ("the\tcat", "el gato")]
    assert pairs[0].origin == f"{src}:1"


def test_iter_pairs_streams(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.tsv", "a\tb\nc\td\ne\tf\tg\n")
    stream = iter_pairs(path)
    assert next(stream).src == "a"
    assert next(stream).src == "c"
    with pytest.raises(DataError, match=r"corpus\.tsv:3:"):
        next(stream)


def test_missing_file_is_raised_before_iterating(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train\.en: no such file$"):
        iter_pairs(tmp_path / "train.en")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "a\tb\nx\ty\tz\n",
            r"corpus\.tsv:2: expected 2 tab-separated fields "
            r"\(source<TAB>target\), found 3",
        ),
        ("a\tb\njust one\n", r"corpus\.tsv:2: expected 2 .*found 1"),
        ("a\tb\n\n", r"corpus\.tsv:2: empty line, expected 2 tab-separated fields"),
        ("a\tb\n \tb\n", r"corpus\.tsv:2: empty source"),
        ("a\tb\nc\td\nx\t  \n", r"corpus\.tsv:3: empty target"),
        (
            b"a\tb\n\xff\xfe\tb\n",
            r"corpus\.tsv:2: not valid UTF-8 text \(is this a binary file\?\)",
        ),
        (b"a\x00\tb\n", r"corpus\.tsv:1: contains a NUL byte.*binary file"),
    ],
)
def test_tsv_line_errors(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = write(tmp_path / "corpus.tsv", content)
    with pytest.raises(DataError, match=message) as info:
        read_pairs(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, r"train\.en: no such file$"), ("", r"train\.en: file is empty$")],
)
@pytest.mark.parametrize("side", ["src", "tgt"])
def test_whole_file_errors(tmp_path: Path, content: str | None, message: str, side: str) -> None:
    good = write(tmp_path / "good.txt", "x\n")
    path = tmp_path / "train.en"
    if content is not None:
        write(path, content)
    src, tgt = (path, good) if side == "src" else (good, path)
    with pytest.raises(DataError, match=message):
        read_pairs(src, tgt_path=tgt)
    with pytest.raises(DataError, match=message):  # skipping bad lines does not hide it
        read_pairs(src, tgt_path=tgt, skip_bad_lines=True)


def test_plain_text_named_gz_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "corpus.tsv.gz"
    path.write_bytes(b"a\tb\n")
    assert [(p.src, p.tgt) for p in read_pairs(path)] == [("a", "b")]


def test_empty_gzip_file(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.tsv.gz", "")
    with pytest.raises(DataError, match=r"corpus\.tsv\.gz: file is empty"):
        read_pairs(path)


def test_truncated_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "corpus.tsv.gz"
    path.write_bytes(gzip.compress(b"a\tb\n" * 1000)[:-20])
    with pytest.raises(DataError, match=r"corpus\.tsv\.gz: cannot read.*truncated"):
        read_pairs(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        read_pairs(tmp_path)


@pytest.mark.parametrize(("src_lines", "tgt_lines"), [(5, 3), (3, 5)])
def test_parallel_line_count_mismatch(tmp_path: Path, src_lines: int, tgt_lines: int) -> None:
    src = write(tmp_path / "train.en", "x\n" * src_lines)
    tgt = write(tmp_path / "train.es", "y\n" * tgt_lines)
    expected = (
        rf"train\.en has {src_lines} lines but .*train\.es has {tgt_lines}: "
        "parallel files must have the same number of lines"
    )
    with pytest.raises(DataError, match=expected):
        read_pairs(src, tgt_path=tgt)
    with pytest.raises(DataError, match=expected):  # skipping bad lines does not hide it
        read_pairs(src, tgt_path=tgt, skip_bad_lines=True)


def test_parallel_line_errors_name_the_right_file(tmp_path: Path) -> None:
    src = write(tmp_path / "train.en", "a\nb\nc\n")
    tgt = write(tmp_path / "train.es", b"a\n\xc3\x28\nc\n")
    with pytest.raises(DataError, match=r"train\.es:2: not valid UTF-8"):
        read_pairs(src, tgt_path=tgt)
    write(tgt, "a\nb\n  \n")
    with pytest.raises(DataError, match=r"train\.es:3: empty target"):
        read_pairs(src, tgt_path=tgt)
    write(src, "\nb\nc\n")
    with pytest.raises(DataError, match=r"train\.en:1: empty source"):
        read_pairs(src, tgt_path=tgt)


def test_skip_bad_lines_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    content = b"a\tb\nc\td\ne\tf\tg\nh\ti\nx\t\n\xff\tz\nj\tk\n"
    path = write(tmp_path / "corpus.tsv", content)
    with caplog.at_level(logging.WARNING):
        pairs = read_pairs(path, skip_bad_lines=True)
    assert [p.src for p in pairs] == ["a", "c", "h", "j"]
    assert [p.origin.rsplit(":", 1)[1] for p in pairs] == ["1", "2", "4", "7"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == (
        f"skipped 3 bad lines in {path} (first: line 3: expected 2 tab-separated fields "
        "(source<TAB>target), found 3; every line must have as many fields as line 1)"
    )


def test_skip_bad_lines_parallel(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = write(tmp_path / "train.en", "a\n\nc\n")
    tgt = write(tmp_path / "train.es", "A\nB\n\n")
    with caplog.at_level(logging.WARNING):
        assert [p.tgt for p in read_pairs(src, tgt_path=tgt, skip_bad_lines=True)] == ["A"]
    assert "skipped 2 bad lines" in caplog.text
    assert f"first: {src}:2: empty source" in caplog.text


def test_no_warning_without_bad_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path / "corpus.tsv", "a\tb\n")
    with caplog.at_level(logging.WARNING):
        read_pairs(path, skip_bad_lines=True)
    assert not caplog.records


def test_all_bad_lines_still_raise(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.tsv", "one field\n\nx\t\n")
    with pytest.raises(DataError, match=r"corpus\.tsv: all 3 lines are bad.*first: line 1"):
        read_pairs(path, skip_bad_lines=True)


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "model.bin", bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"model\.bin:1: .*binary file"):
        read_pairs(path)
    with pytest.raises(DataError, match=r"model\.bin: all .* lines are bad"):
        read_pairs(path, skip_bad_lines=True)


@pytest.mark.parametrize("name", ["input.txt", "input.txt.gz"])
def test_read_lines(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "first line \r\n\nniño\tcafé")
    assert list(read_lines(path)) == ["first line ", "", "niño\tcafé"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"input\.txt: no such file"),
        ("", r"input\.txt: file is empty"),
        (b"ok\n\x80\n", r"input\.txt:2: not valid UTF-8 text"),
        (b"ok\nnul\x00\n", r"input\.txt:2: contains a NUL byte"),
    ],
)
def test_read_lines_errors(tmp_path: Path, content: str | bytes | None, message: str) -> None:
    path = tmp_path / "input.txt"
    if content is not None:
        write(path, content)
    with pytest.raises(DataError, match=message):
        list(read_lines(path))
