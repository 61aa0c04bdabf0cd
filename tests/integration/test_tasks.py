"""Task-aware training and evaluation end to end: a QA model trained on a 3-field TSV and
scored with ``--metrics em,f1``, and a multilingual model with ``<2xx>`` tags scored per
language, both through ``seq2seq.cli.main``; ``data.languages`` bilingual baselines; and every
``evaluate`` error message.
"""

from __future__ import annotations

import io
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from seq2seq import Config, train
from seq2seq.cli import main
from seq2seq.config import save_config
from seq2seq.data.vocab import Vocab
from seq2seq.metrics import exact_match, token_f1

pytestmark = pytest.mark.integration

MakeConfig = Callable[..., Config]
WORDS = [f"w{i}" for i in range(8)]
STEPS = {"max_steps": 24, "valid_every": 12, "valid_max_sentences": 10}


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


def qa_rows(count: int, seed: int) -> list[tuple[str, str, str]]:
    """Cloze QA rows: the answer is the context word that follows the one in the question."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        context = rng.sample(WORDS, 5)
        at = rng.randrange(4)
        rows.append((f"after {context[at]} comes <blank>", " ".join(context), context[at + 1]))
    return rows


def multilingual_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """``<2de>`` asks for the words reversed, ``<2fr>`` for them upper-cased."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        words = rng.sample(WORDS, rng.randint(2, 4))
        if i % 2:
            rows.append((f"<2fr> {' '.join(words)}", " ".join(w.upper() for w in words)))
        else:
            rows.append((f"<2de> {' '.join(words)}", " ".join(reversed(words))))
    return rows


def write_tsv(path: Path, rows: list[tuple[str, ...]]) -> str:
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def user_data(directory: Path, make_rows: Callable[[int, int], list], **data: object) -> dict:
    sizes = {"train": 120, "valid": 12, "test": 12}
    files = {
        key: write_tsv(directory / f"{key}.tsv", make_rows(size, seed))
        for seed, (key, size) in enumerate(sizes.items())
    }
    return {"corpus": None, **files, **data}


@pytest.fixture(scope="module")
def qa_model(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("qa")
    config = toy_config(data=user_data(directory, qa_rows, task="qa"), train=STEPS)
    train(config, directory / "model")
    return directory / "model"


@pytest.fixture(scope="module")
def multi_model(toy_config: MakeConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("multi")
    train(toy_config(data=user_data(directory, multilingual_rows), train=STEPS), directory / "m")
    return directory / "m"


def printed_scores(out: str) -> dict[str, float]:
    """``{"EM": 12.5, ...}`` from lines such as ``EM = 12.50  (signature)``."""
    scores = {}
    for line in out.splitlines():
        match = re.match(r"(.+?) = (\d+\.\d\d)  \(.+\)$", line)
        assert match, line
        scores[match.group(1)] = float(match.group(2))
    return scores


# --- QA ---------------------------------------------------------------------------------------


def test_qa_split_is_scored_with_em_and_f1_by_default(
    qa_model: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hyp = tmp_path / "hyp.txt"
    assert run_cli(["evaluate", str(qa_model), "--split", "test", "--hyp-output", str(hyp)]) == 0
    out = capsys.readouterr().out
    scores = printed_scores(out)
    assert list(scores) == ["EM", "F1"]
    assert "SQuAD normalisation" in out
    hypotheses = hyp.read_text(encoding="utf-8").splitlines()
    answers = [row[2] for row in qa_rows(12, 2)]
    assert scores["EM"] == round(exact_match(hypotheses, answers)[0].score, 2)
    assert scores["F1"] == round(token_f1(hypotheses, answers)[0].score, 2)


def test_qa_files_joined_by_hand_score_like_the_split(
    qa_model: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A user typing "question <sep> context" gets what training saw from the 3-field TSV."""
    rows = qa_rows(12, 2)
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("".join(f"{q} <sep> {c}\n" for q, c, _ in rows), encoding="utf-8")
    ref.write_text("".join(f"{a}\n" for _, _, a in rows), encoding="utf-8")
    argv = ["evaluate", str(qa_model), "--metrics", "em,f1"]
    assert run_cli([*argv, "--src", str(src), "--ref", str(ref)]) == 0
    from_files = capsys.readouterr().out
    assert run_cli([*argv, "--split", "test"]) == 0
    assert capsys.readouterr().out == from_files


def test_qa_metrics_can_be_chosen(qa_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["evaluate", str(qa_model), "--split", "dev", "--metrics", "f1,bleu"]) == 0
    assert list(printed_scores(capsys.readouterr().out)) == ["F1", "BLEU"]


def test_translate_keeps_separator_and_blank_whole(
    qa_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    line = "after w1 comes <blank> <sep> w3 w1 w2 w0 w4\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(line))
    argv = ["translate", str(qa_model), "--output-format", "json", "--with-attention"]
    assert run_cli(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["source"] == line.strip()
    assert record["source_tokens"] == [*line.split(), "</s>"]
    vocab = Vocab.load(qa_model / "src.vocab")
    assert "<sep>" in vocab and "<blank>" in vocab


# --- multilingual -----------------------------------------------------------------------------


def test_multilingual_evaluation_adds_rows_per_language(
    multi_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["evaluate", str(multi_model), "--split", "test"]) == 0
    names = list(printed_scores(capsys.readouterr().out))
    assert names == ["BLEU", "chrF2", "BLEU [de]", "chrF2 [de]", "BLEU [fr]", "chrF2 [fr]"]


def test_bilingual_baseline_from_data_languages(
    toy_config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = user_data(tmp_path, multilingual_rows, languages=["de"])
    train(toy_config(data=data, train={**STEPS, "max_steps": 4}), tmp_path / "de")
    vocab = Vocab.load(tmp_path / "de" / "tgt.vocab")
    assert "w1" in vocab and "W1" not in vocab  # only the <2de> lines were read
    assert run_cli(["evaluate", str(tmp_path / "de"), "--split", "dev", "--metrics", "bleu"]) == 0
    assert list(printed_scores(capsys.readouterr().out)) == ["BLEU", "BLEU [de]"]


def test_unknown_language_stops_training_with_the_tags_found(
    toy_config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = user_data(tmp_path, multilingual_rows, languages=["de", "it"])
    config = tmp_path / "config.yaml"
    save_config(toy_config(data=data, train=STEPS), config)
    assert run_cli(["train", str(config), "-o", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"seq2seq: error: data.languages: no line of {tmp_path / 'train.tsv'} starts with "
        "<2it>; tags found there: <2de>, <2fr>"
    )


def test_ragged_qa_corpus_stops_training(
    toy_config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = user_data(tmp_path, qa_rows, task="qa")
    with open(data["train"], "a", encoding="utf-8") as train_file:
        train_file.write("question only\tanswer\n")
    config = tmp_path / "config.yaml"
    save_config(toy_config(data=data, train=STEPS), config)
    assert run_cli(["train", str(config), "-o", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"seq2seq: error: {data['train']}:121: expected 3 tab-separated fields "
        "(2 source fields, then target), found 2; every line must have as many fields as line 1"
    )


# --- evaluate errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--split", "dev", "--src", "x.txt"], "evaluate: give either --split or --src and --ref"),
        ([], "evaluate: give --src FILE and --ref FILE, or --split dev|test"),
        (["--src", "x.txt"], "evaluate: give --src FILE and --ref FILE, or --split dev|test"),
        (["--split", "dev", "--metrics", "rouge2"], "--metrics: unknown metric 'rouge2'"),
    ],
)
def test_evaluate_argument_errors(
    qa_model: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert run_cli(["evaluate", str(qa_model), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"seq2seq: error: {message}")
    assert "Traceback" not in err


def test_evaluate_split_that_the_config_does_not_have(
    qa_model: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    for path in qa_model.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    text = (copy / "config.yaml").read_text(encoding="utf-8")
    (copy / "config.yaml").write_text(re.sub(r"\n  test: .*", "\n  test: null", text), "utf-8")
    assert run_cli(["evaluate", str(copy), "--split", "test"]) == 2
    assert capsys.readouterr().err.strip() == (
        "seq2seq: error: data.test is not set: there is no test split to read"
    )
