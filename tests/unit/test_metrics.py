"""Task metrics: SQuAD normalisation, EM/F1, ROUGE against rouge-score itself, per-language rows,
``--metrics`` parsing, and the lead-N summarization baseline."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

from seq2seq.errors import DataError, InputError
from seq2seq.evaluation import corpus_scores
from seq2seq.metrics import (
    METRICS,
    TASK_METRICS,
    answer_f1,
    exact_match,
    normalize_answer,
    parse_metrics,
    rouge,
    score_all,
    token_f1,
)

SUMMARY_PAIRS = [  # (hypothesis, reference)
    ("the cat sat", "the cat sat on the mat"),
    ("fast tool for running tests", "a tool that runs tests quickly"),
    ("command line editor", "Command-line text editor for Unix"),
    ("nothing in common", "entirely different words here"),
]


def by_name(scores: list) -> dict[str, float]:
    return {s.name: s.score for s in scores}


# --- SQuAD normalisation, exact match and F1 ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Cat", "cat"),
        ("  a  dog,  an apple! ", "dog apple"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
        ("port 22.", "port 22"),
        ("an", ""),
        ("Anna and the BAND", "anna and band"),
    ],
)
def test_normalize_answer(text: str, normalised: str) -> None:
    assert normalize_answer(text) == normalised


@pytest.mark.parametrize(
    ("prediction", "gold", "f1"),
    [
        ("the cat sat", "cat sat on mat", 2 * 1.0 * 0.5 / 1.5),  # P 2/2, R 2/4
        ("Port 22", "port 22.", 1.0),
        ("red blue", "blue green", 0.5),  # P 1/2, R 1/2
        ("apt", "dpkg", 0.0),
        ("the", "a", 1.0),  # both normalise to nothing
        ("the", "apt", 0.0),
        ("cat cat", "cat", 2 * 0.5 * 1.0 / 1.5),  # repeated tokens count once per match
    ],
)
def test_answer_f1_known_values(prediction: str, gold: str, f1: float) -> None:
    assert math.isclose(answer_f1(prediction, gold), f1)


def test_exact_match_and_f1_corpus_values() -> None:
    hyps = ["The port 22", "vim", "emacs editor", "apt"]
    refs = ["port 22.", "Vim", "emacs", "dpkg"]
    em = exact_match(hyps, refs)[0]
    f1 = token_f1(hyps, refs)[0]
    assert (em.name, em.score) == ("EM", 50.0)
    assert f1.name == "F1"
    assert math.isclose(f1.score, 100 * (1 + 1 + 2 / 3 + 0) / 4)
    for score in (em, f1):
        assert "SQuAD normalisation" in score.signature
        assert "mean of 4 pairs" in score.signature


# --- ROUGE ---------------------------------------------------------------------------------------


def test_rouge_is_rouge_scores_mean_f1_with_the_stemmer() -> None:
    hyps, refs = zip(*SUMMARY_PAIRS, strict=True)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    expected = {
        name: 100 * sum(scorer.score(r, h)[key].fmeasure for h, r in SUMMARY_PAIRS) / 4
        for name, key in (("ROUGE-1", "rouge1"), ("ROUGE-2", "rouge2"), ("ROUGE-L", "rougeL"))
    }
    scores = rouge(hyps, refs)
    assert by_name(scores) == pytest.approx(expected)
    assert "stemmer:porter" in scores[0].signature
    assert "rouge-score 0.1" in scores[0].signature


def test_rouge_hand_computed_pair() -> None:
    """hyp 'the cat sat' vs ref 'the cat sat on the mat': unigrams P 3/3 R 3/6, bigrams P 2/2
    R 2/5, longest common subsequence 3."""
    scores = by_name(rouge(["the cat sat"], ["the cat sat on the mat"]))
    assert scores["ROUGE-1"] == pytest.approx(100 * 2 * 1 * 0.5 / 1.5)
    assert scores["ROUGE-2"] == pytest.approx(100 * 2 * 1 * 0.4 / 1.4)
    assert scores["ROUGE-L"] == pytest.approx(100 * 2 * 1 * 0.5 / 1.5)


def test_rouge_stems_words() -> None:
    assert by_name(rouge(["runs tests"], ["running test"]))["ROUGE-1"] == pytest.approx(100.0)


# --- choosing metrics, per-language rows ------------------------------------------------------


def test_task_defaults() -> None:
    assert TASK_METRICS == {
        "translation": ("bleu", "chrf"),
        "summarization": ("rouge",),
        "qa": ("em", "f1"),
    }


def test_parse_metrics_keeps_order_and_case_insensitive_names() -> None:
    assert parse_metrics("em, F1") == ("em", "f1")
    assert parse_metrics(",".join(METRICS)) == METRICS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bleu,blue", "--metrics: unknown metric 'blue'; choose from bleu, chrf, rouge, em, f1"),
        (" , ", "--metrics ' , ': name at least one of bleu, chrf, rouge, em, f1"),
        ("em,em", "--metrics 'em,em': a metric is named twice"),
    ],
)
def test_parse_metrics_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_metrics(text)
    assert str(info.value) == message


def test_score_all_in_the_order_asked() -> None:
    names = [s.name for s in score_all(["a b"], ["a b"], ["f1", "rouge", "bleu", "em", "chrf"])]
    assert names == ["F1", "ROUGE-1", "ROUGE-2", "ROUGE-L", "BLEU", "EM", "chrF2"]


def test_tagged_sources_add_one_row_per_language_and_metric() -> None:
    sources = ["<2fr> open", "<2de> save", "<2fr> close", "<2de> quit", "untagged"]
    hyps = ["ouvrir", "sichern", "fermer la", "beenden", "x"]
    refs = ["ouvrir", "speichern", "fermer", "beenden", "y"]
    scores = by_name(score_all(hyps, refs, ["bleu", "em"], sources))
    assert list(scores) == ["BLEU", "EM", "BLEU [de]", "EM [de]", "BLEU [fr]", "EM [fr]"]
    assert scores["EM"] == pytest.approx(40.0)
    assert scores["EM [de]"] == pytest.approx(50.0)
    assert scores["EM [fr]"] == pytest.approx(50.0)
    de_bleu = BLEU().corpus_score(["sichern", "beenden"], [["speichern", "beenden"]]).score
    assert scores["BLEU [de]"] == pytest.approx(de_bleu)


def test_untagged_sources_give_no_language_rows() -> None:
    assert len(score_all(["a"], ["a"], ["em"], ["no tag"])) == 1


def test_corpus_scores_is_bleu_and_chrf() -> None:
    assert [s.name for s in corpus_scores(["a b c d"], ["a b c d"])] == ["BLEU", "chrF2"]


@pytest.mark.parametrize(
    ("hyps", "refs", "message"),
    [
        (["a"], ["a", "b"], "1 hypotheses but 2 references: they must align"),
        ([], [], "no hypotheses to score: give at least one source line"),
    ],
)
def test_score_all_errors(hyps: list[str], refs: list[str], message: str) -> None:
    with pytest.raises(DataError) as info:
        score_all(hyps, refs, ["bleu"])
    assert str(info.value) == message


# --- lead-N baseline ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lead_baseline() -> ModuleType:
    path = Path(__file__).parents[2] / "benchmarks" / "lead_baseline.py"
    spec = importlib.util.spec_from_file_location("lead_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lead_baseline"] = module
    spec.loader.exec_module(module)
    return module


def test_lead_takes_the_first_sentences(lead_baseline: ModuleType) -> None:
    text = "Fast tool.  Written in C!\nFree? Yes."
    assert lead_baseline.lead(text) == "Fast tool."
    assert lead_baseline.lead(text, 2) == "Fast tool. Written in C!"
    assert lead_baseline.lead("no end mark", 3) == "no end mark"
    with pytest.raises(ValueError, match="at least 1"):
        lead_baseline.lead(text, 0)


def test_lead_baseline_scores_with_the_same_rouge(
    lead_baseline: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        ("A fast editor. It has plugins.", "fast editor"),
        ("Network tool for tests. Written in Go.", "tool for network tests"),
    ]
    path = tmp_path / "test.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
    scores = lead_baseline.score_lead(path)
    expected = rouge(["A fast editor.", "Network tool for tests."], [t for _, t in rows])
    assert [s.score for s in scores] == [s.score for s in expected]
    assert [s.name for s in scores] == ["lead-1 ROUGE-1", "lead-1 ROUGE-2", "lead-1 ROUGE-L"]
    assert lead_baseline.main([str(path), "--sentences", "2"]) == 0
    assert "lead-2 ROUGE-L = " in capsys.readouterr().out
    assert lead_baseline.main([str(tmp_path / "missing.tsv")]) == 2
    assert "missing.tsv: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        lead_baseline.main([str(path), "--sentences", "0"])
    assert exit_.value.code == 2
    assert "--sentences must be at least 1" in capsys.readouterr().err
