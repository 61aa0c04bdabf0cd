"""The command line's input and output ends: stdin bytes, pipes as files, output paths that
cannot be written, a reader that goes away, and flags the chosen search would ignore.

Every bad input or path ends as exit code 2 with one ``seq2seq: error: ...`` line naming the
place and the problem, checked before any decoding, and never with a traceback.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_cli import assert_user_error, run_cli

from seq2seq import Config, Translator, train
from seq2seq.cli import EXIT_BROKEN_PIPE
from seq2seq.data.corpus import read_stream_lines

pytestmark = pytest.mark.integration

MakeConfig = Callable[..., Config]
SOURCES = ["1 2 3", "4 5 6 7", "0"]
KEEP = "an earlier run's output\n"


@pytest.fixture(scope="module")
def model_dir(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli-io") / "model"
    train(toy_config(train={"max_steps": 40, "valid_every": 20}), directory)
    return directory


def assert_one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *texts: str) -> str:
    """Runs ``argv`` as :func:`assert_user_error` does, and checks the error is one line."""
    lines = assert_user_error(capsys, argv, *texts)
    assert len(lines) == 1, lines
    return lines[0]


def set_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """A stdin like a real one: a text layer over the bytes (``sys.stdin.buffer``)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def expected_texts(model_dir: Path, sources: list[str]) -> list[str]:
    return [t.text for t in Translator.load(model_dir).translate(sources)]


def lines_bytes(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


@pytest.fixture
def pipe_path() -> Iterator[Callable[[bytes], str]]:
    """Factory: a ``/dev/fd/N`` path reading ``data`` from a pipe, as ``<(cat file)`` gives."""
    opened: list[int] = []

    def make(data: bytes) -> str:
        read_fd, write_fd = os.pipe()
        os.write(write_fd, data)  # small: fits in the pipe's buffer
        os.close(write_fd)
        opened.append(read_fd)
        return f"/dev/fd/{read_fd}"

    yield make
    for fd in opened:
        os.close(fd)


# --- stdin -----------------------------------------------------------------------------------


def test_stdin_invalid_utf8_is_named_by_line_as_for_a_file(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    model_dir: Path,
    tmp_path: Path,
) -> None:
    data = b"1 2\n\xff\xfe 3\n4 5\n"
    set_stdin(monkeypatch, data)
    from_stdin = assert_one_line_error(capsys, ["translate", str(model_dir)], "<stdin>:2: ")
    bad_file = tmp_path / "bad.txt"
    bad_file.write_bytes(data)
    from_file = assert_one_line_error(
        capsys, ["translate", str(model_dir), "-i", str(bad_file)], f"{bad_file}:2: "
    )
    assert "not valid UTF-8 text" in from_stdin
    assert from_stdin.replace("<stdin>", str(bad_file)) == from_file


def test_stdin_byte_order_mark_is_not_part_of_the_first_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    set_stdin(monkeypatch, b"\xef\xbb\xbf" + lines_bytes(SOURCES))
    assert run_cli(["translate", str(model_dir), "--output-format", "json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in records] == SOURCES
    assert [r["text"] for r in records] == expected_texts(model_dir, SOURCES)


def test_stdin_lines_are_read_as_they_are_needed() -> None:
    """A long stdin is streamed: taking two lines reads two lines, not the whole input."""

    def stdin_bytes() -> Iterator[bytes]:
        yield b"\xef\xbb\xbf1 2\r\n"
        yield b"3\n"
        raise AssertionError("read more of stdin than was asked for")

    assert list(itertools.islice(read_stream_lines(stdin_bytes(), "<stdin>"), 2)) == ["1 2", "3"]


# --- pipes given as files --------------------------------------------------------------------


def test_input_and_constraints_from_pipes_match_regular_files(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    pipe_path: Callable[[bytes], str],
) -> None:
    """``-i <(cat in.txt) --constraints <(cat c.jsonl)`` reads what the files would give."""
    sources = lines_bytes(SOURCES)
    phrases = lines_bytes([json.dumps(["3"]), "[]", "[]"])
    (tmp_path / "in.txt").write_bytes(sources)
    (tmp_path / "c.jsonl").write_bytes(phrases)
    argv = ["translate", str(model_dir), "--beam", "4", "--output-format", "json"]
    files = ["-i", str(tmp_path / "in.txt"), "--constraints", str(tmp_path / "c.jsonl")]
    assert run_cli([*argv, *files]) == 0
    from_files = capsys.readouterr().out
    assert run_cli([*argv, "-i", pipe_path(sources), "--constraints", pipe_path(phrases)]) == 0
    from_pipes = capsys.readouterr().out
    assert [json.loads(line)["source"] for line in from_pipes.splitlines()] == SOURCES
    assert from_pipes == from_files


def test_gzip_input_from_a_file_and_a_pipe(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    pipe_path: Callable[[bytes], str],
) -> None:
    packed = gzip.compress(lines_bytes(SOURCES))
    (tmp_path / "in.txt.gz").write_bytes(packed)
    for source in (str(tmp_path / "in.txt.gz"), pipe_path(packed)):
        assert run_cli(["translate", str(model_dir), "-i", source]) == 0
        assert capsys.readouterr().out.splitlines() == expected_texts(model_dir, SOURCES)


def test_an_empty_pipe_is_an_empty_file(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    pipe_path: Callable[[bytes], str],
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    for source in (str(empty), pipe_path(b"")):
        argv = ["translate", str(model_dir), "-i", source]
        assert_one_line_error(capsys, argv, f"{source}: file is empty")


# --- output paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["translate", "evaluate"])
@pytest.mark.parametrize(
    ("where", "problem"),
    [("dir", "is a directory, expected a file path"), ("missing", "does not exist")],
)
def test_unwritable_output_path_is_refused_before_reading_anything(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    command: str,
    where: str,
    problem: str,
) -> None:
    """The input named here does not exist: the output path's error must come first."""
    output = tmp_path if where == "dir" else tmp_path / "no-such-folder" / "out.txt"
    missing = str(tmp_path / "missing.txt")
    if command == "translate":
        argv, option = ["translate", str(model_dir), "-i", missing, "-o", str(output)], "-o"
    else:
        option = "--hyp-output"
        argv = ["evaluate", str(model_dir), "--src", missing, "--ref", missing, option, str(output)]
    assert_one_line_error(capsys, argv, f"{option} {output}: ", problem)
    assert not (tmp_path / "no-such-folder").exists()


def test_output_that_cannot_be_opened_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    link = tmp_path / "out.txt"
    link.symlink_to(tmp_path / "gone" / "out.txt")  # dangling: opening it fails
    src = tmp_path / "in.txt"
    src.write_bytes(lines_bytes(SOURCES))
    argv = ["translate", str(model_dir), "-i", str(src), "-o", str(link)]
    assert_one_line_error(capsys, argv, f"-o {link}: cannot write (no such file or directory)")


@pytest.mark.parametrize(
    ("options", "input_bytes", "expected"),
    [
        (["--beam", "0"], b"1 2\n", "beam_size"),
        (["--beam", "2", "--nbest", "3"], b"1 2\n", "n_best"),
        ([], b"1 2\n\xff 3\n", "in.txt:2: not valid UTF-8 text"),
    ],
)
def test_failed_translation_leaves_an_existing_output_untouched(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    options: list[str],
    input_bytes: bytes,
    expected: str,
) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(input_bytes)
    out.write_text(KEEP, encoding="utf-8")
    argv = ["translate", str(model_dir), "-i", str(src), "-o", str(out), *options]
    assert_one_line_error(capsys, argv, expected)
    assert out.read_text(encoding="utf-8") == KEEP


def test_successful_translation_replaces_an_existing_output(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(lines_bytes(SOURCES))
    out.write_text(KEEP, encoding="utf-8")
    assert run_cli(["translate", str(model_dir), "-i", str(src), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert out.read_text(encoding="utf-8").splitlines() == expected_texts(model_dir, SOURCES)


def test_output_onto_the_input_is_refused(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(lines_bytes(SOURCES))
    argv = ["translate", str(model_dir), "-i", str(src), "-o", str(tmp_path / "." / "in.txt")]
    assert_one_line_error(capsys, argv, "is also the -i file; write elsewhere")
    assert src.read_bytes() == lines_bytes(SOURCES)


def test_average_into_an_existing_file_is_refused(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text(KEEP, encoding="utf-8")
    for out in (existing, existing / "model"):
        argv = ["average", str(model_dir), str(model_dir), "-o", str(out)]
        assert_one_line_error(
            capsys, argv, f"{out}: {existing} is a file, not a directory; choose a new output"
        )
        assert existing.read_text(encoding="utf-8") == KEEP


@pytest.mark.parametrize(
    ("name", "problem"), [("out.txt", "unknown image format 'txt'"), ("out", "no file extension")]
)
@pytest.mark.parametrize("verb", ["curves", "attention"])
def test_plot_output_needs_an_image_extension(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    verb: str,
    name: str,
    problem: str,
) -> None:
    output = tmp_path / name
    argv = ["plot", verb, str(model_dir), *(["1 2 3"] if verb == "attention" else [])]
    err = assert_one_line_error(capsys, [*argv, "-o", str(output)], f"-o {output}: {problem}")
    assert "png" in err and "svg" in err and "pdf" in err
    assert not output.exists()


# --- a reader that stops early ---------------------------------------------------------------


def test_closed_pipe_ends_quietly(model_dir: Path, tmp_path: Path) -> None:
    """``seq2seq translate ... | head -1``: no traceback, no message, SIGPIPE's exit code.

    The output (JSON lines, hundreds of kilobytes) is far larger than a pipe's buffer, so the
    command is still writing when the reader closes the pipe.
    """
    src = tmp_path / "in.txt"
    src.write_bytes(lines_bytes(SOURCES * 700))
    script = Path(sys.executable).parent / "seq2seq"
    argv = [str(script), "translate", str(model_dir), "-i", str(src), "--output-format", "json"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        code = proc.wait(timeout=300)
    assert json.loads(first)["source"] == SOURCES[0]
    assert err == b""
    assert code == EXIT_BROKEN_PIPE == 141


# --- flags the search would ignore -----------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "warning"),
    [
        (["--temperature", "0.5", "--seed", "3"], "--temperature, --seed: ignored"),
        (["--top-k", "2", "--top-p", "0.5"], "--top-k, --top-p: ignored, only used with --sample"),
        (["--mbr-candidates", "4", "--mbr-metric", "bleu"], "only used with --mbr"),
        (["--with-attention"], "--with-attention: ignored, only used with --output-format json"),
    ],
)
def test_ignored_flags_are_warned_about(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    model_dir: Path,
    flags: list[str],
    warning: str,
) -> None:
    set_stdin(monkeypatch, lines_bytes(SOURCES))
    assert run_cli(["translate", str(model_dir), *flags]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == expected_texts(model_dir, SOURCES)
    assert captured.err.count("\n") == 1 and warning in captured.err, captured.err


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--sample", "--temperature", "0.5", "--top-k", "2", "--top-p", "0.9", "--seed", "3"],
        ["--mbr", "--mbr-candidates", "4", "--mbr-metric", "bleu"],
        ["--output-format", "json", "--with-attention"],
    ],
)
def test_flags_that_are_used_give_no_warning(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    model_dir: Path,
    flags: list[str],
) -> None:
    set_stdin(monkeypatch, lines_bytes(SOURCES))
    assert run_cli(["translate", str(model_dir), *flags]) == 0
    assert capsys.readouterr().err == ""
