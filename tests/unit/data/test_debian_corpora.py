"""The Debian corpora debian-summaries and debian-cloze-qa, and prepared-corpus plumbing.

Every input is a tiny fixture written by the test (plain-text apt lists), so nothing here needs
apt, root or the network. The integration test at the end prepares the real corpora and only
runs when ``SEQ2SEQ_DEBIAN_CORPORA=1`` is set (it downloads from the Debian mirror).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from seq2seq import cli
from seq2seq.data import builtin
from seq2seq.data.builtin import cloze, debian_archive, debian_summaries, prepared
from seq2seq.errors import DataError

FILLER = "word " * 18  # long descriptions need at least 20 words


def package_in_bucket(bucket: int, prefix: str = "pkg") -> str:
    """The first name ``{prefix}{i}`` whose sha1 bucket (mod 64) is ``bucket``."""
    i = 0
    while int(hashlib.sha1(f"{prefix}{i}".encode()).hexdigest(), 16) % 64 != bucket:
        i += 1
    return f"{prefix}{i}"


RESERVED = package_in_bucket(7)
DEV = package_in_bucket(0)
TEST = package_in_bucket(3)
TRAIN = package_in_bucket(10)
TRAIN_TWIN = package_in_bucket(10, prefix="twin")  # same description as TRAIN, other case


def description(synopsis: str, *paragraphs: str) -> str:
    """A ``Description-en`` field as apt writes it (continuation lines, `` .`` separators)."""
    body = "\n .\n".join("\n".join(f" {line}" for line in p.split("\n")) for p in paragraphs)
    return f"{synopsis}\n{body}"


TRAIN_PARAGRAPHS = (
    f"Debian archives hold packages.\nThis tool reads them {FILLER}",
    "It also\twrites them.",
)
DESCRIPTIONS = {
    TRAIN: description("Tools for reading Debian archives", *TRAIN_PARAGRAPHS),
    TRAIN_TWIN: description("Twin of the tools", *(p.upper() for p in TRAIN_PARAGRAPHS)),
    DEV: description("Library for parsing config files", f"Parses config files quickly {FILLER}"),
    TEST: description("Viewer for image galleries", f"Shows image galleries in a window {FILLER}"),
    RESERVED: description("Secret reserved package text", f"Reserved package manuals {FILLER}"),
    "short-long": description("Has a short description", "Only five words here."),
    "short-syn": description("Two words", f"The synopsis is too short {FILLER}"),
}


def write_lists(folder: Path, descriptions: dict[str, str] = DESCRIPTIONS) -> Path:
    """A plain-text apt lists folder: Packages, Translation-en and InRelease."""
    folder.mkdir(parents=True, exist_ok=True)
    packages, translations = [], []
    for name, text in descriptions.items():
        md5 = hashlib.md5(text.encode()).hexdigest()
        first = text.split("\n", 1)[0]
        packages.append(
            f"Package: {name}\nVersion: 1.0\nDescription: {first}\nDescription-md5: {md5}\n"
        )
        translations.append(f"Package: {name}\nDescription-md5: {md5}\nDescription-en: {text}\n")
    # A package listed in Packages whose description md5 has no translation is skipped.
    packages.append("Package: orphan\nDescription-md5: 0123\n")
    prefix = "deb.example.org_debian_dists_testing"
    (folder / f"{prefix}_main_binary-amd64_Packages").write_text("\n".join(packages))
    (folder / f"{prefix}_main_i18n_Translation-en").write_text("\n".join(translations))
    (folder / f"{prefix}_InRelease").write_text(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nSuite: testing\n"
        "Codename: trixie\nDate: Sat, 01 Jun 2024 10:00:00 UTC\nMD5Sum:\n abc 1 main/x\n"
    )
    return folder


def read_rows(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines.pop() == ""
    return [line.split("\t") for line in lines]


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    return write_lists(tmp_path / "lists")


# --- index files ----------------------------------------------------------------------------


def test_parse_stanzas_keeps_continuation_lines_and_separates_stanzas() -> None:
    text = "Package: a\nDescription-en: one\n two\n .\n three\n\n\nPackage: b\nX: y\n"
    stanzas = list(debian_archive.parse_stanzas(text))
    assert stanzas == [
        {"Package": "a", "Description-en": "one\n two\n .\n three"},
        {"Package": "b", "X": "y"},
    ]


def test_read_index_reads_gzip_and_plain(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "a_Packages").write_text("Package: a\n")
    with gzip.open(tmp_path / "b_Packages.gz", "wt") as f:
        f.write("Package: b\n")
    assert debian_archive.read_index(tmp_path / "a_Packages") == "Package: a\n"
    assert debian_archive.read_index(tmp_path / "b_Packages.gz") == "Package: b\n"


def test_lz4_index_without_apt_helper_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(debian_archive, "APT_HELPER", tmp_path / "no-apt-helper")
    path = tmp_path / "x_Translation-en.lz4"
    path.write_bytes(b"\x04\x22\x4d\x18")
    with pytest.raises(DataError, match=r"x_Translation-en.lz4: .*needs .*install apt"):
        debian_archive.read_index(path)


@pytest.mark.skipif(not debian_archive.APT_HELPER.is_file(), reason="needs apt-helper")
def test_corrupt_lz4_index_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x_Translation-en.lz4"
    path.write_bytes(b"not lz4 at all")
    with pytest.raises(DataError, match=r"x_Translation-en.lz4: apt-helper cat-file failed"):
        debian_archive.read_index(path)


def test_release_info_reads_the_signed_header(lists: Path) -> None:
    (release,) = debian_archive.release_info(lists)
    assert release["Codename"] == "trixie"
    assert release["Date"] == "Sat, 01 Jun 2024 10:00:00 UTC"


# --- descriptions -> pairs -------------------------------------------------------------------


def test_split_description_joins_paragraphs_and_never_keeps_tabs_or_newlines() -> None:
    synopsis, long = debian_summaries.split_description(DESCRIPTIONS[TRAIN])
    assert synopsis == "Tools for reading Debian archives"
    assert long.startswith("Debian archives hold packages. This tool reads them word")
    assert long.endswith("word It also writes them.")
    assert "\t" not in long and "\n" not in long and " . " not in long


def test_read_descriptions_joins_packages_and_translations_on_md5(lists: Path) -> None:
    descriptions = debian_summaries.read_descriptions(lists)
    assert set(descriptions) == set(DESCRIPTIONS)  # "orphan" has no translation
    assert descriptions[DEV] == DESCRIPTIONS[DEV]


def test_keep_pairs_filters_lengths_and_keeps_an_identical_description_once(
    lists: Path,
) -> None:
    pairs, counts = debian_summaries.keep_pairs(debian_summaries.read_descriptions(lists))
    names = [pair.package for pair in pairs]
    assert "short-long" not in names and "short-syn" not in names
    # TRAIN_TWIN's description equals TRAIN's ignoring case: only the first name sorted stays.
    first, second = sorted([TRAIN, TRAIN_TWIN])
    assert first in names and second not in names
    assert names == sorted(names)
    assert counts == {"packages": 7, "kept": 5, "deduplicated": 4}


def test_split_of_follows_the_hash_buckets_and_reserves_bucket_seven() -> None:
    assert debian_summaries.split_of(RESERVED) is None
    assert debian_summaries.split_of(DEV) == "dev"
    assert debian_summaries.split_of(package_in_bucket(1)) == "dev"
    assert debian_summaries.split_of(TEST) == "test"
    assert debian_summaries.split_of(package_in_bucket(2)) == "test"
    assert debian_summaries.split_of(TRAIN) == "train"


# --- prepare -----------------------------------------------------------------------------------


def all_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.tsv")))


def test_prepare_summaries_writes_long_to_synopsis_splits_without_reserved(
    lists: Path, tmp_path: Path
) -> None:
    result = debian_summaries.prepare(
        tmp_path / "out", lists_dir=tmp_path / "unused", from_dir=lists
    )
    assert not result.reused
    rows = {split: read_rows(path) for split, path in result.paths.items()}
    assert [row[1] for row in rows["dev"]] == ["Library for parsing config files"]
    assert [row[1] for row in rows["test"]] == ["Viewer for image galleries"]
    assert len(rows["train"]) == 1 and rows["train"][0][0].startswith("Debian archives hold")
    assert all(len(row) == 2 for split_rows in rows.values() for row in split_rows)
    assert "reserved" not in all_text(tmp_path / "out").lower()
    assert result.counts == {"train": 1, "dev": 1, "test": 1}
    assert result.info["pipeline"]["reserved"] == 1
    assert result.info["source"]["releases"][0]["Codename"] == "trixie"


def test_prepare_is_deterministic(lists: Path, tmp_path: Path) -> None:
    for out in ("a", "b"):
        debian_summaries.prepare(tmp_path / out, lists_dir=tmp_path / "x", from_dir=lists)
        cloze.prepare(tmp_path / f"cloze-{out}", lists_dir=tmp_path / "x", from_dir=lists)
    for split in prepared.SPLITS:
        for name in ("", "cloze-"):
            first = (tmp_path / f"{name}a" / f"{split}.tsv").read_bytes()
            assert first == (tmp_path / f"{name}b" / f"{split}.tsv").read_bytes()


def test_prepare_corpus_reuses_a_complete_result(
    lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQ2SEQ_CACHE", str(tmp_path / "cache"))
    first = builtin.prepare_corpus("debian-summaries", from_dir=lists)
    assert (
        not first.reused and first.paths["train"].parent == tmp_path / "cache" / "debian-summaries"
    )

    def must_not_run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a prepared corpus was rebuilt")

    monkeypatch.setitem(builtin.PREPARERS, "debian-summaries", must_not_run)
    again = builtin.prepare_corpus("debian-summaries", from_dir=lists)
    assert again.reused and again.counts == first.counts
    assert builtin.corpus_files("debian-summaries") == first.paths


def test_interrupted_prepare_leaves_no_split_behind(
    lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = prepared._write_tsv

    def write_then_fail(path: Path, rows: object) -> None:
        if path.name == "dev.tsv":
            raise KeyboardInterrupt
        real_write(path, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(prepared, "_write_tsv", write_then_fail)
    out = tmp_path / "cache" / "debian-summaries"
    with pytest.raises(KeyboardInterrupt):
        debian_summaries.prepare(out, lists_dir=tmp_path / "x", from_dir=lists)
    assert list((tmp_path / "cache").iterdir()) == []  # neither the folder nor a temp folder
    assert prepared.find_prepared("debian-summaries", out) is None


def test_an_incomplete_folder_is_rebuilt_not_reused(lists: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.tsv").write_text("half a line")  # no info.json: an old interrupted copy
    assert prepared.find_prepared("debian-summaries", out) is None
    debian_summaries.prepare(out, lists_dir=tmp_path / "x", from_dir=lists)
    assert prepared.find_prepared("debian-summaries", out) is not None
    assert "half a line" not in all_text(out)


def test_write_splits_refuses_a_field_with_a_tab(tmp_path: Path) -> None:
    rows = {"train": [("a\tb", "c")], "dev": [], "test": []}
    with pytest.raises(ValueError, match="malformed row"):
        prepared.write_splits("x", tmp_path / "out", rows, {})
    assert not (tmp_path / "out").exists()


def test_corpus_files_of_an_unprepared_corpus_says_how_to_prepare_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQ2SEQ_CACHE", str(tmp_path))
    with pytest.raises(DataError, match=r"run `seq2seq data prepare debian-cloze-qa` first"):
        builtin.corpus_files("debian-cloze-qa")


def test_prepare_corpus_of_a_shipped_corpus_is_refused() -> None:
    with pytest.raises(DataError, match="'bible-en-es' is not built by `data prepare`"):
        builtin.prepare_corpus("bible-en-es")


# --- errors when apt is not usable -----------------------------------------------------------


def test_from_dir_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"--from .*nowhere: not a directory"):
        debian_summaries.prepare(tmp_path / "o", lists_dir=tmp_path, from_dir=tmp_path / "nowhere")


def test_lists_folder_without_translations_names_the_missing_file(tmp_path: Path) -> None:
    lists = write_lists(tmp_path / "lists")
    for path in lists.glob("*Translation-en"):
        path.unlink()
    with pytest.raises(DataError, match=r"no \*_main_i18n_Translation-en\* file"):
        debian_summaries.prepare(tmp_path / "o", lists_dir=tmp_path, from_dir=lists)


def test_missing_apt_get_suggests_from_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(DataError, match=r"apt-get not found: .*or pass --from DIR"):
        debian_summaries.prepare(tmp_path / "o", lists_dir=tmp_path / "lists")


def test_not_root_suggests_sudo_or_from_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(
        DataError, match=r"apt-get must run as root .*run as root \(sudo\), or pass --from DIR"
    ):
        debian_summaries.prepare(tmp_path / "o", lists_dir=tmp_path / "lists")


def test_failed_apt_update_reports_apts_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    failed = subprocess.CompletedProcess(
        [], 100, "", "W: x\nE: Some index files failed to download\n"
    )
    monkeypatch.setattr(subprocess, "run", lambda *_a, **_k: failed)
    with pytest.raises(
        DataError, match="apt-get update failed: E: Some index files failed to download"
    ):
        debian_summaries.prepare(tmp_path / "o", lists_dir=tmp_path / "lists")


# --- cloze -------------------------------------------------------------------------------------


def test_candidates_are_content_words_that_the_context_uses() -> None:
    synopsis = "Tools for the GNOME desktop, v2 and X11"
    context = "The gnome desktop ships tools and x11 bits for v2."
    # "for"/"the"/"and" are stopwords, "v2"/"X11" are not alphabetic.
    assert [synopsis.split()[i] for i in cloze.candidates(synopsis, context)] == [
        "Tools",
        "GNOME",
        "desktop,",
    ]
    assert cloze.candidates("Tools for GNOME", "nothing shared here") == []


def test_make_cloze_blanks_one_word_and_keeps_its_punctuation() -> None:
    pair = debian_summaries.DescriptionPair("pkg", "Viewer for galleries.", "Galleries in a viewer")
    made = cloze.make_cloze(pair)
    assert made is not None and made.answer in {"Viewer", "galleries"}
    assert made.question.count(cloze.BLANK) == 1
    assert made.question.replace(cloze.BLANK, made.answer) == pair.synopsis
    assert made.question in {"<blank> for galleries.", "Viewer for <blank>."}
    assert cloze.make_cloze(pair) == made  # seeded by the package name


def test_make_cloze_choice_depends_on_the_package_name() -> None:
    synopsis = "alpha bravo charlie delta echo foxtrot golf hotel"
    answers = {
        cloze.make_cloze(debian_summaries.DescriptionPair(f"p{i}", synopsis, synopsis)).answer  # type: ignore[union-attr]
        for i in range(20)
    }
    assert len(answers) > 1


def test_prepare_cloze_writes_three_fields_with_the_summaries_splits(
    lists: Path, tmp_path: Path
) -> None:
    result = cloze.prepare(tmp_path / "cloze", lists_dir=tmp_path / "x", from_dir=lists)
    summaries = debian_summaries.prepare(tmp_path / "sum", lists_dir=tmp_path / "x", from_dir=lists)
    for split in prepared.SPLITS:
        rows = read_rows(result.paths[split])
        contexts = [row[0] for row in read_rows(summaries.paths[split])]
        assert [row[1] for row in rows] == contexts  # context = long description, same split
        for question, context, answer in rows:
            assert question.count("<blank>") == 1
            assert answer.lower() in context.lower()
    assert "reserved" not in all_text(tmp_path / "cloze").lower()


# --- command line ------------------------------------------------------------------------------


def test_cli_prepare_prints_counts_then_reuses(
    lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEQ2SEQ_CACHE", str(tmp_path / "cache"))
    assert cli.main(["data", "prepare", "debian-summaries", "--from", str(lists)]) == 0
    out = capsys.readouterr().out
    assert "debian-summaries: prepared in" in out and "dev: " in out and "(1 lines)" in out
    assert cli.main(["data", "prepare", "debian-summaries", "--from", str(lists)]) == 0
    assert "reusing the prepared corpus" in capsys.readouterr().out
    assert cli.main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "train 1 / dev 1 / test 1 (prepared)" in listing
    assert "debian-cloze-qa" in listing and "(reference; not prepared)" in listing


def test_cli_from_on_a_corpus_that_is_not_prepared_from_debian(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["data", "prepare", "toy-copy", "--from", str(tmp_path)]) == 2
    assert "--from applies only to debian-summaries" in capsys.readouterr().err


# --- the real archive (slow, needs apt as root and the network) -------------------------------


@pytest.mark.integration
def test_real_debian_corpora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.environ.get("SEQ2SEQ_DEBIAN_CORPORA") != "1":
        pytest.skip("set SEQ2SEQ_DEBIAN_CORPORA=1 to download and prepare the Debian corpora")
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("needs apt-get as root")
    monkeypatch.setenv("SEQ2SEQ_CACHE", str(tmp_path))
    summaries = builtin.prepare_corpus("debian-summaries")
    assert summaries.info["pipeline"]["deduplicated"] > 40_000
    assert summaries.counts["dev"] > 1_000 and summaries.counts["test"] > 1_000
    qa = builtin.prepare_corpus("debian-cloze-qa")
    assert qa.counts["train"] > 0.9 * summaries.counts["train"]
    gettext = builtin.prepare_corpus("gettext-multi")
    assert min(gettext.counts.values()) > 3_000
