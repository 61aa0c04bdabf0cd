"""The debian-faq-qa corpus: FAQ layouts -> question/answer pairs, dedupe, split by package.

FAQ texts are written by the test into fake extracted package trees, so nothing here needs apt
or the network.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from seq2seq.data.builtin import faq, faq_parse, prepare_corpus
from seq2seq.data.builtin.debian_archive import PackageTree
from seq2seq.data.builtin.faq import Source
from seq2seq.errors import DataError

NUMBERED = """\
SECTION 1 - GENERAL
    1.1. What is Frob?
    1.2. How do I install Frob on a
         very old system?

SECTION 1 - GENERAL

1.1. What is Frob?

Frob is a tool that frobs files.
It is fast.

1.2. How do I install Frob on a
     very old system?

Use the static build:

    make static

2.0 Troubleshooting

2.1) Why does Frob crash?

It does not.
"""

UNDERLINED = """\
General
=======

What is Frob?
-------------

Frob is a *tool* that frobs files. See the `manual <https://x>`_.

.. _manual: https://example.org

Is there a GUI?
---------------

No, there is no GUI.
"""

MARKDOWN = """\
# Frob FAQ

## What is Frob?

Frob is a [tool](https://example.org) that **frobs** files.

```
frob --all
```

It has no `config` file.

## Installing

Read the README.

**Can Frob run on Windows?**

Yes, under <a name="q3"></a>WSL it runs fine.
"""

QA = """\
Frob FAQ, maintained by someone.

Q: What is Frob?
A: Frob is a tool that frobs files.
   It is fast.

-----
Q: Why is Frob so
   slow on NFS?
A: Because NFS locks are slow.
> quoted mail that is not an answer

Q: Where is the answer?
"""


@pytest.mark.parametrize(
    ("text", "layout", "expected"),
    [
        (
            NUMBERED,
            "numbered",
            [
                ("What is Frob?", "Frob is a tool that frobs files. It is fast."),
                (
                    "How do I install Frob on a very old system?",
                    "Use the static build: make static",
                ),
                ("Why does Frob crash?", "It does not."),
            ],
        ),
        (
            UNDERLINED,
            "underlined",
            [
                ("What is Frob?", "Frob is a tool that frobs files. See the manual."),
                ("Is there a GUI?", "No, there is no GUI."),
            ],
        ),
        (
            MARKDOWN,
            "markdown",
            [
                ("What is Frob?", "Frob is a tool that frobs files. It has no config file."),
                ("Can Frob run on Windows?", "Yes, under WSL it runs fine."),
            ],
        ),
        (
            QA,
            "qa",
            [
                ("What is Frob?", "Frob is a tool that frobs files. It is fast."),
                ("Why is Frob so slow on NFS?", "Because NFS locks are slow."),
            ],
        ),
    ],
)
def test_each_layout_yields_its_pairs(
    text: str, layout: str, expected: list[tuple[str, str]]
) -> None:
    """Tables of contents, section headings, code fences, markup, quotes and unanswered
    questions do not leak into the pairs; wrapped questions are joined."""
    assert faq_parse.parse_faq(text, layout) == expected


def test_a_question_asked_twice_keeps_its_last_answer() -> None:
    """A table of contents entry followed by junk must not beat the real answer."""
    text = "1.1 What is it?\nAcknowledgments Copyright\n\n1.1 What is it?\n\nA frob tool.\n"
    assert faq_parse.parse_faq(text, "numbered") == [("What is it?", "A frob tool.")]


def test_fields_never_hold_tabs_or_newlines() -> None:
    text = "Q: Why\ttabs?\nA: Because\tof\n   layout.\n"
    assert faq_parse.parse_faq(text, "qa") == [("Why tabs?", "Because of layout.")]


def test_answer_cap_keeps_whole_paragraphs_then_whole_sentences() -> None:
    paragraphs = ["one two three.", "four five six.", "seven eight nine."]
    assert faq_parse.cap_words(paragraphs, limit=6) == "one two three. four five six."
    long_paragraph = "First sentence here. Second sentence here. Third sentence here."
    assert faq_parse.cap_words([long_paragraph], limit=7) == (
        "First sentence here. Second sentence here."
    )
    assert faq_parse.cap_words(["a b c d e f g h"], limit=5) == ""


def test_capped_answers_respect_the_limit() -> None:
    body = " ".join(f"Sentence number {i} is here." for i in range(100))
    pairs = faq_parse.parse_faq(f"1.1 Is it long?\n\n{body}\n", "numbered", limit=50)
    assert len(pairs) == 1
    assert 45 <= len(pairs[0][1].split()) <= 50
    assert pairs[0][1].endswith(".")


def test_short_answers_and_non_questions_are_dropped() -> None:
    text = (
        "1.1 What?\n\nNo.\n\n1.2 Is this a question?\n\nYes it is.\n\n"
        "1.3 Statement\n\nText here ok.\n"
    )
    assert faq_parse.parse_faq(text, "numbered") == [("Is this a question?", "Yes it is.")]


# ---------------------------------------------------------------------------------------------
# Corpus assembly


def write_doc(root: Path, package: str, path: str, text: str) -> None:
    file = root / package / "usr/share/doc" / path
    file.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    file.write_bytes(gzip.compress(data, mtime=0) if path.endswith(".gz") else data)


SOURCES = (
    Source("pkg-train", "pkg-train/FAQ.gz", "qa", "MIT"),
    Source("pkg-train", "pkg-train/faq.md", "markdown", "MIT"),
    Source("pkg-dev", "pkg-dev/FAQ", "numbered", "BSD-3-clause"),
    Source("pkg-test", "pkg-test/FAQ.txt", "underlined", "public-domain"),
)


@pytest.fixture
def trees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Extracted trees of three packages: one per split; "What is Frob?" in every one."""
    monkeypatch.setattr(faq, "SOURCES", SOURCES)
    monkeypatch.setattr(faq, "DEV_PACKAGES", ("pkg-dev",))
    monkeypatch.setattr(faq, "TEST_PACKAGES", ("pkg-test",))
    root = tmp_path / "trees"
    write_doc(root, "pkg-train", "pkg-train/FAQ.gz", QA)
    write_doc(root, "pkg-train", "pkg-train/faq.md", MARKDOWN)
    write_doc(root, "pkg-dev", "pkg-dev/FAQ", NUMBERED)
    write_doc(root, "pkg-test", "pkg-test/FAQ.txt", UNDERLINED)
    return root


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def test_prepare_from_trees_splits_by_package_and_dedupes(trees: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = faq.prepare(out, lists_dir=tmp_path / "lists", from_dir=trees)
    train, dev, test = (read_tsv(out / f"{split}.tsv") for split in ("train", "dev", "test"))
    # "What is Frob?" is in train twice (qa and markdown): kept once, with the first answer.
    assert [q for q, _ in train].count("What is Frob?") == 1
    assert ["What is Frob?", "Frob is a tool that frobs files. It is fast."] in train
    # dev and test hold only questions never asked before.
    assert [q for q, _ in dev] == [
        "How do I install Frob on a very old system?",
        "Why does Frob crash?",
    ]
    assert [q for q, _ in test] == ["Is there a GUI?"]
    assert all(len(row) == 2 for row in train + dev + test)
    info = json.loads((out / "info.json").read_text())
    assert info["counts"] == result.counts == {"train": 3, "dev": 2, "test": 1}
    assert info["packages"]["pkg-dev"]["licence"] == "BSD-3-clause"
    assert info["packages"]["pkg-train"]["pairs_parsed"] == 4
    assert info["answer_words_max"] == faq_parse.ANSWER_WORDS


def test_prepare_is_deterministic(trees: Path, tmp_path: Path) -> None:
    first = faq.prepare(tmp_path / "a", lists_dir=tmp_path / "lists", from_dir=trees)
    second = faq.prepare(tmp_path / "b", lists_dir=tmp_path / "lists", from_dir=trees)
    for split in ("train", "dev", "test"):
        assert first.paths[split].read_bytes() == second.paths[split].read_bytes()


def test_prepare_twice_reuses_the_cache(trees: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert not prepare_corpus("debian-faq-qa", out, trees).reused
    again = prepare_corpus("debian-faq-qa", out, trees)
    assert again.reused
    assert again.counts == {"train": 3, "dev": 2, "test": 1}


def test_split_is_fixed_by_package() -> None:
    assert faq.package_split("zsh-common") == "test"
    assert faq.package_split("zlib1g-dev") == "dev"
    assert faq.package_split("vim-doc") == "train"
    faq.check_sources()  # the shipped lists are consistent


def test_missing_package_in_from_dir_is_a_data_error(trees: Path, tmp_path: Path) -> None:
    (trees / "pkg-test" / "usr").rename(trees / "pkg-test" / "gone")
    with pytest.raises(DataError, match=r"--from .*no pkg-test_\*\.deb or pkg-test/usr/"):
        faq.prepare(tmp_path / "out", lists_dir=tmp_path / "lists", from_dir=trees)
    assert not (tmp_path / "out").exists()


def test_missing_document_names_the_file(trees: Path) -> None:
    tree = PackageTree("pkg-dev", "1.0-1", trees / "pkg-dev")
    with pytest.raises(DataError, match=r"pkg-dev/FAQ.md: package pkg-dev \(1.0-1\) ships no"):
        faq.read_document(tree, "pkg-dev/FAQ.md")


def test_broken_gzip_is_a_data_error(trees: Path) -> None:
    (trees / "pkg-train/usr/share/doc/pkg-train/FAQ.gz").write_bytes(b"\x1f\x8b broken")
    tree = PackageTree("pkg-train", "unknown", trees / "pkg-train")
    with pytest.raises(DataError, match=r"FAQ.gz: not a readable gzip file"):
        faq.read_document(tree, "pkg-train/FAQ.gz")


def test_document_without_pairs_says_its_layout_changed(trees: Path) -> None:
    write_doc(trees, "pkg-dev", "pkg-dev/FAQ", "Nothing but prose here.\n")
    tree = {"pkg-dev": PackageTree("pkg-dev", "unknown", trees / "pkg-dev")}
    with pytest.raises(DataError, match=r"pkg-dev/FAQ: no 'numbered' question -> answer pair"):
        faq.read_pairs(tree, [SOURCES[2]])


def test_not_prepared_tells_how_to_prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seq2seq.data.builtin import corpus_files

    monkeypatch.setenv("SEQ2SEQ_CACHE", str(tmp_path))
    with pytest.raises(DataError, match=r"run `seq2seq data prepare debian-faq-qa` first"):
        corpus_files("debian-faq-qa")
