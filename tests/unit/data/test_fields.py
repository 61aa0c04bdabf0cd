"""Task-aware data: multi-field TSV sources, special tokens kept whole, language tags.

Covers ``seq2seq.data.fields``, ``seq2seq.data.languages``, the N-field TSV reading in
``corpus``, ``data.task`` / ``data.languages`` in the config and every message they raise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seq2seq.config import TokenizerConfig, load_config
from seq2seq.data.corpus import Pair, read_pairs
from seq2seq.data.fields import (
    BLANK,
    SEP,
    is_special,
    join_fields,
    sentencepiece_symbols,
    split_special,
)
from seq2seq.data.languages import group_by_language, keep_languages, source_language
from seq2seq.data.pipeline import TextCodec, read_data_split
from seq2seq.data.tokenizers import (
    TOKENIZER_KINDS,
    CharTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    load_tokenizer,
    train_tokenizer,
)
from seq2seq.errors import ConfigError, DataError

QA_TEXTS = [
    "which port does ssh use <sep> ssh listens on port 22 by default",
    "the <blank> editor is modal <sep> vim is a modal text editor",
    "<2de> Open file",
    "<2fr> Save the document as",
    "<2es> Close the window now",
    "<2pt_BR> Quit without saving",
] * 4
SPECIALS_INPUT = "<2fr> Open <blank>. then <sep> read<sep>again <2pt_BR>"
EXPECTED_SPECIALS = ["<2fr>", "<blank>", "<sep>", "<sep>", "<2pt_BR>"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- special tokens ----------------------------------------------------------------------------


def test_join_fields_uses_the_separator_token() -> None:
    assert join_fields(["q?", "some context"]) == f"q? {SEP} some context"
    assert join_fields(["only"]) == "only"


@pytest.mark.parametrize(
    ("token", "special"),
    [
        ("<sep>", True),
        ("<blank>", True),
        ("<2de>", True),
        ("<2pt_BR>", True),
        ("<2sr-Latn>", True),
        ("<2d>", False),
        ("<2deutsch>", False),
        ("<sep", False),
        ("<unk>", False),
        ("sep", False),
    ],
)
def test_is_special(token: str, special: bool) -> None:
    assert is_special(token) is special


def test_split_special_cuts_around_specials_and_loses_nothing() -> None:
    pieces = split_special(SPECIALS_INPUT)
    assert "".join(pieces) == SPECIALS_INPUT
    assert [p for p in pieces if is_special(p)] == EXPECTED_SPECIALS
    assert split_special("<2fr> Open <blank>.") == ["<2fr>", " Open ", "<blank>", "."]
    assert split_special("no specials") == ["no specials"]


def test_sentencepiece_symbols_are_sorted_and_always_hold_sep_and_blank() -> None:
    assert sentencepiece_symbols(["<2fr> a", "<2de> b <sep>", "<2fr> c"]) == [
        SEP,
        BLANK,
        "<2de>",
        "<2fr>",
    ]
    assert sentencepiece_symbols(["plain"]) == [SEP, BLANK]


def specials_of(tokenizer: Tokenizer, text: str) -> list[str]:
    """The special tokens among ``tokenizer.encode(text)``; also checks none was split."""
    tokens = tokenizer.encode(text)
    assert not any(("<sep" in t or "<2" in t or "<bla" in t) and not is_special(t) for t in tokens)
    return [t for t in tokens if is_special(t)]


@pytest.fixture(scope="module", params=TOKENIZER_KINDS)
def trained(request: pytest.FixtureRequest) -> Tokenizer:
    return train_tokenizer(request.param, QA_TEXTS, vocab_size=60, model_type="bpe")


def test_every_tokenizer_keeps_special_tokens_whole(trained: Tokenizer) -> None:
    assert specials_of(trained, SPECIALS_INPUT) == EXPECTED_SPECIALS
    assert trained.decode(trained.encode("<2de> Open file")) == "<2de> Open file"


def test_special_tokens_survive_save_and_load(trained: Tokenizer, tmp_path: Path) -> None:
    trained.save(tmp_path, "src")
    reloaded = load_tokenizer(trained.kind, tmp_path, "src")
    assert reloaded.encode(SPECIALS_INPUT) == trained.encode(SPECIALS_INPUT)
    assert specials_of(reloaded, SPECIALS_INPUT) == EXPECTED_SPECIALS


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_keeps_tags_it_never_saw_as_pieces_of_its_own(model_type: str) -> None:
    """Tags of the training text are symbols; <sep> and <blank> are even if never seen."""
    tokenizer = SentencePieceTokenizer.train(
        ["<2de> hallo welt", "<2fr> bonjour monde"] * 10, vocab_size=40, model_type=model_type
    )
    assert specials_of(tokenizer, "<2fr> q <sep> c <blank>") == ["<2fr>", "<sep>", "<blank>"]


def test_word_tokenizer_cuts_specials_from_the_words_they_touch() -> None:
    assert train_tokenizer("word", []).encode("<2fr>Open <blank>'s x<sep>y") == [
        "<2fr>",
        "Open",
        "<blank>",
        "'s",
        "x",
        "<sep>",
        "y",
    ]


def test_char_tokenizer_round_trips_text_with_specials() -> None:
    tokenizer = CharTokenizer()
    assert tokenizer.encode("a <sep>") == ["a", "▁", "<sep>"]
    assert tokenizer.decode(tokenizer.encode(SPECIALS_INPUT)) == SPECIALS_INPUT


@pytest.mark.parametrize("kind", ["char", "word", "sentencepiece"])
def test_codec_saved_in_a_model_dir_encodes_separators_as_one_id(kind: str, tmp_path: Path) -> None:
    pairs = [Pair(text, "answer", f"x:{i}") for i, text in enumerate(QA_TEXTS)]
    codec = TextCodec.build(pairs, TokenizerConfig(kind=kind, vocab_size=60, model_type="bpe"))
    codec.save(tmp_path)
    reloaded = TextCodec.load(tmp_path, TokenizerConfig(kind=kind))
    source = "which port <sep> ssh listens"
    ids = reloaded.encode_src(source)
    assert ids == codec.encode_src(source)
    assert ids.count(reloaded.src_vocab.token_to_id(SEP)) == 1
    assert reloaded.src_vocab.token_to_id(SEP) != reloaded.src_vocab.unk_id


# --- multi-field TSV ---------------------------------------------------------------------------


def test_three_field_lines_join_the_sources_with_sep(tmp_path: Path) -> None:
    path = write(tmp_path / "qa.tsv", "Who <blank>?\t Alice met Bob \tBob\nWhere?\tat home\thome\n")
    pairs = read_pairs(path)
    assert [(p.src, p.tgt) for p in pairs] == [
        ("Who <blank>? <sep> Alice met Bob", "Bob"),
        ("Where? <sep> at home", "home"),
    ]
    assert pairs[1].origin == f"{path}:2"


def test_two_field_faq_lines_are_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.tsv", "How do I upgrade?\tRun apt upgrade.\n")
    assert read_pairs(path)[0] == Pair("How do I upgrade?", "Run apt upgrade.", f"{path}:1")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "q\tc\ta\nq\ta\n",
            r"qa\.tsv:2: expected 3 tab-separated fields \(2 source fields, then target\), "
            r"found 2; every line must have as many fields as line 1$",
        ),
        (
            "q\ta\nq\tc\ta\n",
            r"qa\.tsv:2: expected 2 tab-separated fields \(source<TAB>target\), found 3; "
            "every line must have as many fields as line 1$",
        ),
        (
            "one field only\n",
            r"qa\.tsv:1: expected 2 or more tab-separated fields \(source<TAB>target, or "
            r"source 1<TAB>\.\.\.<TAB>source N<TAB>target\), found 1$",
        ),
        ("q\tc\ta\n\n", r"qa\.tsv:2: empty line, expected 3 tab-separated fields"),
        ("q\t \ta\n", r"qa\.tsv:1: empty source field 2 of 2: every pair needs text"),
        ("q\tc\t\n", r"qa\.tsv:1: empty target: every pair needs text"),
    ],
)
def test_field_count_errors(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path / "qa.tsv", content)
    with pytest.raises(DataError, match=message):
        read_pairs(path)


def test_skipping_bad_lines_keeps_the_first_good_lines_width(tmp_path: Path) -> None:
    path = write(tmp_path / "qa.tsv", "bad\nq\tc\ta\nq\ta\nq2\tc2\ta2\n")
    pairs = read_pairs(path, skip_bad_lines=True)
    assert [p.tgt for p in pairs] == ["a", "a2"]


# --- language tags -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "language"),
    [
        ("<2de> Open file", "de"),
        ("  <2pt_BR>Open", "pt_BR"),
        ("Open <2de> file", None),
        ("Open file", None),
        ("<2> Open", None),
    ],
)
def test_source_language(source: str, language: str | None) -> None:
    assert source_language(source) == language


def test_group_by_language_sorts_languages_and_leaves_untagged_lines_out() -> None:
    sources = ["<2fr> a", "<2de> b", "untagged", "<2fr> c"]
    assert group_by_language(sources) == {"de": [1], "fr": [0, 3]}
    assert list(group_by_language(sources)) == ["de", "fr"]
    assert group_by_language(["no", "tags"]) == {}


def test_keep_languages_filters_and_names_missing_tags() -> None:
    pairs = [Pair(s, "t", f"f:{i}") for i, s in enumerate(["<2fr> a", "<2de> b", "c", "<2es> d"])]
    assert [p.src for p in keep_languages(pairs, ["de", "es"], "f")] == ["<2de> b", "<2es> d"]
    with pytest.raises(DataError) as info:
        keep_languages(pairs, ["de", "it"], "dev.tsv")
    assert str(info.value) == (
        "data.languages: no line of dev.tsv starts with <2it>; tags found there: "
        "<2de>, <2es>, <2fr>"
    )
    with pytest.raises(DataError, match=r"tags found there: none$"):
        keep_languages(pairs[2:3], ["de"], "dev.tsv")


# --- config: data.task and data.languages ------------------------------------------------------


def data_config(tmp_path: Path, **data: Any) -> dict[str, Any]:
    lines = "<2de> open\tDE\n<2fr> open\tFR\n<2de> save\tDE2\n"
    files = {name: str(write(tmp_path / f"{name}.tsv", lines)) for name in ("train", "valid")}
    return {"data": {**files, **data}, "train": {"max_steps": 1}}


def test_task_and_languages_parse(tmp_path: Path) -> None:
    config = load_config(data_config(tmp_path, task="qa", languages=["de", "pt_BR"]))
    assert config.data.task == "qa"
    assert config.data.languages == ("de", "pt_BR")
    assert load_config(data_config(tmp_path)).data.task == "translation"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"task": "chat"},
            "data.task: 'chat': Input should be 'translation', 'summarization' or 'qa'",
        ),
        (
            {"languages": ["<2de>"]},
            "data.languages: ['<2de>']: '<2de>' is not a language code; use 2-3 letters with "
            "an optional region (de, pt_BR): de keeps the lines tagged <2de>",
        ),
        ({"languages": ["de", "de"]}, "data.languages: ['de', 'de']: a language is listed twice"),
        ({"languages": []}, "data.languages: []: Tuple should have at least 1 item"),
    ],
)
def test_task_and_languages_errors(tmp_path: Path, data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(data_config(tmp_path, **data))
    assert message in str(info.value)


def test_read_data_split_applies_data_languages(tmp_path: Path) -> None:
    config = load_config(data_config(tmp_path, languages=["de"]))
    assert [p.tgt for p in read_data_split(config.data, "dev")] == ["DE", "DE2"]
    everything = load_config(data_config(tmp_path))
    assert [p.tgt for p in read_data_split(everything.data, "train")] == ["DE", "FR", "DE2"]


def test_read_data_split_without_a_test_file(tmp_path: Path) -> None:
    config = load_config(data_config(tmp_path))
    with pytest.raises(DataError, match=r"^data\.test is not set: there is no test split to read$"):
        read_data_split(config.data, "test")
