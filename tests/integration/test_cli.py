"""Every ``seq2seq`` verb through ``main([...])``, and every user-facing error message.

A user error must end as exit code 2 with one ``seq2seq: error: ...`` line per problem on
stderr, never a traceback.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from seq2seq import Config, Translator, train
from seq2seq.cli import main
from seq2seq.config import config_to_dict
from seq2seq.data.builtin import CORPORA
from seq2seq.model_dir import load_model_dir

pytestmark = pytest.mark.integration

MakeConfig = Callable[..., Config]
ERROR_PREFIX = "seq2seq: error: "


def run_cli(argv: list[str]) -> int:
    """``main(argv)``'s exit code, also when argparse exits through SystemExit."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


def assert_user_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str
) -> list[str]:
    """Runs ``argv``; checks exit code 2, only error lines on stderr, no traceback, and that
    the error lines contain every ``expected`` text. Returns the error lines."""
    code = run_cli(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines, "no error message"
    assert all(line.startswith(ERROR_PREFIX) for line in lines), err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    return lines


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def toy_raw(toy_config: MakeConfig) -> dict[str, Any]:
    """The tiny toy training config as a plain mapping, ready to be damaged and written."""
    return config_to_dict(toy_config(train={"max_steps": 6, "valid_every": 3}))


@pytest.fixture(scope="module")
def model_dir(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli") / "model"
    train(toy_config(train={"max_steps": 40, "valid_every": 20}), directory)
    return directory


SOURCES = ["1 2 3", "4 5 6 7", "0", "3 3 1"]


# --- data ------------------------------------------------------------------------------------


def test_data_list_shows_every_builtin_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name, info in CORPORA.items():
        assert re.search(rf"^{re.escape(name)}\s", out, re.MULTILINE)
        assert info.licence in out
    assert {"bible-en-es", "toy-reverse"} <= set(CORPORA)


def test_data_prepare_generates_the_toy_splits(
    capsys: pytest.CaptureFixture[str], isolated_cache: Path
) -> None:
    assert run_cli(["data", "prepare", "toy-reverse"]) == 0
    out = capsys.readouterr().out
    paths = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert set(paths) == {"train", "dev", "test"}
    for path in map(Path, paths.values()):
        assert path.is_file()
        assert isolated_cache in path.parents
        src, tgt = path.read_text().splitlines()[0].split("\t")
        assert tgt.split() == src.split()[::-1]


def test_data_prepare_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(capsys, ["data", "prepare", "toy-nope"], "toy-nope", "toy-reverse")
    assert_user_error(  # a shipped corpus is not written anywhere: -o would be ignored
        capsys, ["data", "prepare", "toy-reverse", "-o", "elsewhere"], "not toy-reverse"
    )


# --- train -----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["overrides-last", "overrides-first"])
def test_train_writes_a_model_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toy_raw: dict[str, Any], order: str
) -> None:
    config = write_config(tmp_path / "toy.yaml", toy_raw)
    out_dir = tmp_path / "model"
    overrides = ["train.valid_every=2", "train.lr=0.005"]
    options = ["-o", str(out_dir), "--max-steps", "4"]
    argv = (
        ["train", str(config), *options, *overrides]  # as documented in DESIGN.md
        if order == "overrides-last"
        else ["train", str(config), *overrides, *options]
    )
    assert run_cli(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "trained 4 steps (reached max_steps=4)" in out
    assert f"model saved in {out_dir}" in out
    for name in ("config.yaml", "model.safetensors", "last.safetensors", "training_state.pt"):
        assert (out_dir / name).is_file(), name
    saved = yaml.safe_load((out_dir / "config.yaml").read_text())
    assert saved["train"]["max_steps"] == 4
    assert saved["train"]["valid_every"] == 2
    assert saved["train"]["lr"] == 0.005


def test_train_resume_continues_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toy_raw: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "toy.yaml", toy_raw)
    out_dir = tmp_path / "model"
    assert run_cli(["train", str(config), "-o", str(out_dir), "--max-steps", "3"]) == 0
    assert run_cli(["train", "--resume", str(out_dir), "--max-steps", "5"]) == 0
    assert "trained 5 steps (reached max_steps=5)" in capsys.readouterr().out


def test_train_into_an_existing_model_dir_is_refused(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "toy.yaml", toy_raw)
    assert_user_error(
        capsys, ["train", str(config), "-o", str(model_dir)], str(model_dir), "--resume"
    )


def test_train_resume_of_an_empty_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Without a config, the config is read from the directory: its absence is the error.
    assert_user_error(capsys, ["train", "--resume", str(tmp_path)], str(tmp_path))
    assert_user_error(
        capsys, ["train", "toy/reverse-lstm", "--resume", str(tmp_path)], "nothing to resume"
    )
    assert list(tmp_path.iterdir()) == []
    other = tmp_path / "other"
    assert_user_error(
        capsys,
        ["train", "--resume", str(tmp_path), "-o", str(other)],
        f"--resume {tmp_path} continues in that directory; -o {other} names another",
    )


# --- translate -------------------------------------------------------------------------------


def expected_texts(model_dir: Path, sources: list[str], **search: Any) -> list[str]:
    return [t.text for t in Translator.load(model_dir).translate(sources, **search)]


def test_translate_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(s + "\n" for s in SOURCES)))
    assert run_cli(["translate", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == expected_texts(model_dir, SOURCES)


def test_translate_file_to_file(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\n".join([*SOURCES, "", "2 1"]) + "\n", encoding="utf-8")
    hyp = tmp_path / "out.txt"
    assert run_cli(["translate", str(model_dir), "-i", str(src), "-o", str(hyp)]) == 0
    assert capsys.readouterr().out == ""
    lines = hyp.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # every output line ends with a newline
    assert lines[:-1] == expected_texts(model_dir, [*SOURCES, "", "2 1"])
    assert lines[len(SOURCES)] == ""  # the empty input line keeps its place


def test_translate_json_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(s + "\n" for s in SOURCES)))
    assert run_cli(["translate", str(model_dir), "--output-format", "json", "--beam", "3"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in records] == SOURCES
    assert [r["text"] for r in records] == expected_texts(model_dir, SOURCES, beam_size=3)
    for record in records:
        assert isinstance(record["score"], float)
        [best] = record["nbest"]
        assert best["text"] == record["text"]
        assert best["score"] == record["score"]
        assert isinstance(best["tokens"], list)
        assert best["text"] == " ".join(best["tokens"])  # word tokenizer
        assert len(best["token_log_probs"]) >= len(best["tokens"])


def test_translate_n_best_prints_n_lines_per_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(s + "\n" for s in SOURCES)))
    assert run_cli(["translate", str(model_dir), "--beam", "3", "--nbest", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * len(SOURCES)
    translations = Translator.load(model_dir).translate(SOURCES, beam_size=3, n_best=2)
    assert lines == [c.text for t in translations for c in t.candidates]


def test_translate_n_best_keeps_n_lines_for_blank_inputs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    """A script reading n-best output takes lines in groups of n; a blank input must not
    shift every later group."""
    sources = ["1 2 3", "", "4 5"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(s + "\n" for s in sources)))
    assert run_cli(["translate", str(model_dir), "--beam", "3", "--nbest", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * len(sources)
    assert lines[2:4] == ["", ""]


def test_translate_json_n_best(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("1 2 3\n"))
    argv = ["translate", str(model_dir), "--output-format", "json", "--beam", "4", "--nbest", "3"]
    assert run_cli(argv) == 0
    [record] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    scores = [c["score"] for c in record["nbest"]]
    assert len(scores) == 3
    assert scores == sorted(scores, reverse=True)


def test_translate_json_has_confidence_token_probs_and_attention_when_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("1 2 3\n"))
    argv = ["translate", str(model_dir), "--output-format", "json", "--with-attention"]
    assert run_cli(argv) == 0
    [record] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [best] = record["nbest"]
    log_probs = best["token_log_probs"]
    assert record["confidence"] == pytest.approx(sum(log_probs) / len(log_probs))
    assert best["token_probs"] == pytest.approx([math.exp(lp) for lp in log_probs])
    assert all(0.0 < p <= 1.0 for p in best["token_probs"])
    attention = best["attention"]
    assert len(attention) == len(log_probs)  # one row per produced token, EOS included
    assert record["source_tokens"] == ["1", "2", "3", "</s>"]
    assert all(len(row) == len(record["source_tokens"]) for row in attention)
    assert all(sum(row) == pytest.approx(1.0, abs=1e-3) for row in attention)
    monkeypatch.setattr(sys, "stdin", io.StringIO("1 2 3\n"))
    assert run_cli(["translate", str(model_dir), "--output-format", "json"]) == 0
    assert "attention" not in json.loads(capsys.readouterr().out)["nbest"][0]


def test_translate_sample_flags_draw_seeded_samples(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    argv = ["translate", str(model_dir), "--output-format", "json", "--sample", "--nbest", "5"]
    argv += ["--temperature", "2", "--top-k", "4", "--top-p", "0.9", "--seed", "7"]
    outputs = []
    for _ in range(2):
        monkeypatch.setattr(sys, "stdin", io.StringIO("1 2 3\n"))
        assert run_cli(argv) == 0
        [record] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        outputs.append([c["text"] for c in record["nbest"]])
    assert len(outputs[0]) == 5
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(["--beam", "0"], "beam_size"), (["--beam", "2", "--nbest", "3"], "n_best")],
)
def test_translate_bad_search_flags(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    model_dir: Path,
    flags: list[str],
    expected: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("1 2\n"))
    assert_user_error(capsys, ["translate", str(model_dir), *flags], expected)


def test_translate_missing_model_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert_user_error(capsys, ["translate", str(missing)], str(missing))


def test_translate_missing_input_file(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "in.txt"
    assert_user_error(
        capsys, ["translate", str(model_dir), "-i", str(missing)], str(missing), "no such file"
    )


# --- evaluate --------------------------------------------------------------------------------


def test_evaluate_prints_bleu_and_chrf_with_signatures(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    src, ref, hyp = tmp_path / "src.txt", tmp_path / "ref.txt", tmp_path / "hyp.txt"
    src.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    ref.write_text("\n".join(" ".join(s.split()[::-1]) for s in SOURCES) + "\n", "utf-8")
    argv = ["evaluate", str(model_dir), "--src", str(src), "--ref", str(ref)]
    assert run_cli([*argv, "--hyp-output", str(hyp)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert re.match(r"BLEU = \d+\.\d\d  \(nrefs:1\|.*tok:13a.*\|version:[\d.]+\)$", lines[0])
    assert re.match(r"chrF2? = \d+\.\d\d  \(nrefs:1\|.*\|version:[\d.]+\)$", lines[1])
    assert hyp.read_text(encoding="utf-8").splitlines() == expected_texts(model_dir, SOURCES)


def test_evaluate_with_misaligned_files(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("1 2\n3 4\n5 6\n", encoding="utf-8")
    ref.write_text("2 1\n4 3\n", encoding="utf-8")
    assert_user_error(
        capsys,
        ["evaluate", str(model_dir), "--src", str(src), "--ref", str(ref)],
        str(src),
        str(ref),
        "3 lines",
        "2",
    )


# --- summary ---------------------------------------------------------------------------------


def check_summary(out: str, expected_total: int | None = None) -> None:
    assert re.search(r"^encoder\.\S+ \(LSTM\)", out, re.MULTILINE), out
    assert re.search(r"^decoder\.\S+ \(LSTM\)", out, re.MULTILINE), out
    assert re.search(r"^generator \(Linear\)", out, re.MULTILINE), out
    total = int(re.search(r"^Total params: ([\d,]+)$", out, re.MULTILINE).group(1).replace(",", ""))
    trainable = re.search(r"^Trainable params: ([\d,]+)$", out, re.MULTILINE)
    frozen = re.search(r"^Non-trainable params: ([\d,]+)$", out, re.MULTILINE)
    assert trainable and frozen
    assert int(trainable.group(1).replace(",", "")) + int(frozen.group(1).replace(",", "")) == total
    if expected_total is not None:
        assert total == expected_total


def test_summary_of_a_model_dir(capsys: pytest.CaptureFixture[str], model_dir: Path) -> None:
    assert run_cli(["summary", str(model_dir)]) == 0
    _, model, _ = load_model_dir(model_dir)
    unique = {id(p): p.numel() for p in model.parameters()}
    check_summary(capsys.readouterr().out, sum(unique.values()))


def test_summary_of_a_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["summary", "toy/reverse-lstm"]) == 0
    out = capsys.readouterr().out
    check_summary(out)
    assert "bidirectional" in out


def test_summary_of_a_missing_target(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert_user_error(capsys, ["summary", str(tmp_path / "nope.yaml")], "nope.yaml")


# --- user errors while training --------------------------------------------------------------


def test_unknown_config_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    toy_raw["train"]["learning_rate"] = 0.1
    toy_raw["model"]["encoder"]["hidden"] = 3
    config = write_config(tmp_path / "toy.yaml", toy_raw)
    lines = assert_user_error(
        capsys,
        ["train", str(config), "-o", str(tmp_path / "m")],
        "train.learning_rate",
        "model.encoder.hidden",
        "unknown key",
    )
    assert len(lines) == 2
    assert all(str(config) in line for line in lines)


def test_bad_choice_lists_the_choices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "toy.yaml", toy_raw)
    assert_user_error(
        capsys,
        ["train", str(config), "model.attention=luong", "-o", str(tmp_path / "m")],
        "model.attention",
        "'luong'",
        "'bahdanau'",
        "'luong_general'",
    )


def test_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert_user_error(
        capsys, ["train", str(missing), "-o", str(tmp_path / "m")], str(missing), "toy/reverse-lstm"
    )


def test_bad_override(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "toy.yaml", toy_raw)
    assert_user_error(
        capsys, ["train", str(config), "=0.1", "-o", str(tmp_path / "m")], "'=0.1'", "key=value"
    )


def test_train_without_output_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert_user_error(capsys, ["train", "toy/reverse-lstm"], "-o")


def test_train_with_two_configs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["train", "toy/reverse-lstm", "other.yaml", "-o", str(tmp_path / "m")]
    assert_user_error(capsys, argv, "toy/reverse-lstm", "other.yaml")


def train_on_files(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    toy_raw: dict[str, Any],
    data: dict[str, Any],
    *expected: str,
) -> None:
    valid = tmp_path / "valid.tsv"
    valid.write_text("1 2\t2 1\n3 4 5\t5 4 3\n", encoding="utf-8")
    toy_raw["data"] = {**toy_raw["data"], "corpus": None, "valid": str(valid), **data}
    config = write_config(tmp_path / "files.yaml", toy_raw)
    assert_user_error(capsys, ["train", str(config), "-o", str(tmp_path / "m")], *expected)


def test_ragged_tsv_train_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("1 2\t2 1\n3 4\t4 3\n5 6\t6 5\textra\n", encoding="utf-8")
    train_on_files(capsys, tmp_path, toy_raw, {"train": str(path)}, f"{path}:3", "tab-separated")


def test_mismatched_parallel_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    src, tgt = tmp_path / "train.src", tmp_path / "train.tgt"
    src.write_text("1 2\n3 4\n5 6\n", encoding="utf-8")
    tgt.write_text("2 1\n4 3\n", encoding="utf-8")
    data = {"train": {"src": str(src), "tgt": str(tgt)}}
    train_on_files(capsys, tmp_path, toy_raw, data, str(src), str(tgt), "3 lines", "2")


def test_empty_corpus_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(b"")
    train_on_files(capsys, tmp_path, toy_raw, {"train": str(path)}, str(path), "empty")


def test_binary_corpus_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(b"1 2\t2 1\n\x00\x01\x02\xff\xfe binary\tstuff\n")
    train_on_files(capsys, tmp_path, toy_raw, {"train": str(path)}, f"{path}:2", "binary")


def test_missing_corpus_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    path = tmp_path / "nope.tsv"
    train_on_files(capsys, tmp_path, toy_raw, {"train": str(path)}, str(path), "no such file")


def test_unknown_corpus_in_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_raw: dict[str, Any]
) -> None:
    toy_raw["data"]["corpus"] = "toy-nope"
    config = write_config(tmp_path / "toy.yaml", toy_raw)
    assert_user_error(
        capsys, ["train", str(config), "-o", str(tmp_path / "m")], "toy-nope", "toy-reverse"
    )


# --- the installed console script ------------------------------------------------------------


def console_script() -> Path:
    script = Path(sys.executable).parent / "seq2seq"
    assert script.is_file(), f"{script}: console script not installed"
    return script


def test_console_script_help() -> None:
    result = subprocess.run(
        [str(console_script()), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "usage: seq2seq" in result.stdout
    for verb in ("data", "train", "translate", "evaluate", "summary"):
        assert verb in result.stdout


def test_console_script_user_error_exit_code(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = subprocess.run(
        [str(console_script()), "translate", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
        input="1 2\n",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith(ERROR_PREFIX) for line in lines)
    assert str(missing) in result.stderr
    assert result.stdout == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize("command", ["translate", "evaluate"])
def test_device_cuda_without_a_gpu_is_a_user_error(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, command: str
) -> None:
    extra = ["--split", "test"] if command == "evaluate" else ["-i", str(tmp_path / "in.txt")]
    (tmp_path / "in.txt").write_text("1 2\n", encoding="utf-8")
    argv = [command, str(model_dir), *extra, "--device", "cuda"]
    assert_user_error(capsys, argv, "'cuda'", "no CUDA device", "auto or cpu")


def test_translate_int8_with_two_workers_matches_fp32_on_a_trained_model(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    """The trained toy model is confident, so int8 weights and parallel batches must not change
    a single output (the flags reach the search; order is kept)."""
    sources = SOURCES * 5
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(s + "\n" for s in sources)))
    argv = ["translate", str(model_dir), "--precision", "int8", "--workers", "2"]
    assert run_cli([*argv, "--batch-size", "3"]) == 0
    assert capsys.readouterr().out.splitlines() == expected_texts(model_dir, sources)
