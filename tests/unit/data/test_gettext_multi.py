"""The gettext-multi corpus: .mo catalogues -> tagged multilingual pairs, split by package.

Catalogues are written by the test with polib into fake extracted package trees (and, where
dpkg-deb exists, into a real .deb), so nothing here needs apt or the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import polib
import pytest

from seq2seq.data.builtin import debian_archive, gettext_multi, prepared
from seq2seq.data.builtin.debian_archive import PackageTree
from seq2seq.errors import DataError

GERMAN = {
    "Open file": "Datei öffnen",
    "_Save": "_Speichern",
    "Cancel": "Abbrechen",
    "%s: %s": "%s: %s",  # format only
    "Usage: tar [OPTION]...\n  -c  create": "Aufruf: tar [OPTION]...\n  -c  erstellen",
    "translator-credits": "Max Mustermann",
    "Not translated yet": "",
    "cannot stat %s\n": "%s kann nicht gelesen werden\n",
}


def write_mo(
    path: Path, messages: dict[str, str], plural: tuple[str, str, str] | None = None
) -> None:
    """A .mo catalogue with ``messages`` and optionally one plural entry (msgid, plural, form 0)."""
    po = polib.POFile()
    po.metadata = {
        "Content-Type": "text/plain; charset=UTF-8",
        "Plural-Forms": "nplurals=2; plural=(n != 1);",
    }
    for msgid, msgstr in messages.items():
        po.append(polib.POEntry(msgid=msgid, msgstr=msgstr))
    if plural is not None:
        msgid, msgid_plural, form0 = plural
        po.append(
            polib.POEntry(
                msgid=msgid, msgid_plural=msgid_plural, msgstr_plural={0: form0, 1: form0 + "n"}
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save_as_mofile(str(path))


def write_package(root: Path, name: str, messages: dict[str, dict[str, str]]) -> PackageTree:
    """An extracted package tree ``root/name/usr/share/locale/LANG/LC_MESSAGES/name.mo``."""
    for language, catalogue in messages.items():
        write_mo(
            root / name / "usr/share/locale" / language / "LC_MESSAGES" / f"{name}.mo", catalogue
        )
    return PackageTree(name, "unknown", root / name)


def same_in_all(messages: dict[str, str]) -> dict[str, dict[str, str]]:
    """One catalogue per language, the translation suffixed by the language code."""
    return {lang: {k: f"{v} ({lang})" for k, v in messages.items()} for lang in ("de", "fr", "es")}


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three packages: pkg-train, pkg-dev (held out for dev) and pkg-test (for test)."""
    monkeypatch.setattr(gettext_multi, "PACKAGES", ("pkg-train", "pkg-dev", "pkg-test"))
    monkeypatch.setattr(gettext_multi, "DEV_PACKAGES", ("pkg-dev",))
    monkeypatch.setattr(gettext_multi, "TEST_PACKAGES", ("pkg-test",))
    root = tmp_path / "trees"
    write_package(root, "pkg-train", same_in_all({"Open file": "Datei", "Cancel": "Abbrechen"}))
    write_package(root, "pkg-dev", same_in_all({"Quit": "Beenden", "Cancel": "Abbrechen"}))
    write_package(root, "pkg-test", same_in_all({"Print": "Drucken", "Quit": "Beenden"}))
    return root


def read_rows(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split("\t")) for line in path.read_text(encoding="utf-8").splitlines()]  # type: ignore[misc]


# --- entry rules -------------------------------------------------------------------------------


def test_read_catalogue_keeps_real_messages_only(tmp_path: Path) -> None:
    path = tmp_path / "de.mo"
    write_mo(path, GERMAN, plural=("%d file", "%d files", "%d Datei"))
    pairs = list(gettext_multi.read_catalogue(path))
    assert sorted(pairs) == [
        ("%d file", "%d Datei"),  # plural: the first form once
        ("Cancel", "Abbrechen"),
        ("Open file", "Datei öffnen"),
        ("Save", "Speichern"),  # the GTK mnemonic is gone on both sides
        ("cannot stat %s", "%s kann nicht gelesen werden"),  # trailing newline stripped
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%s: %s", True),
        ("%1$s (%2$d)", True),
        ("<b>%s</b>", True),
        ("{name} - %(count)d", True),
        ("...", True),
        ("%s files", False),
        ("OK", False),
    ],
)
def test_is_format_only(text: str, expected: bool) -> None:
    assert gettext_multi.is_format_only(text) is expected


def test_strip_mnemonic_leaves_identifiers_alone() -> None:
    assert gettext_multi.strip_mnemonic("_Open", "Ö_ffnen") == ("Open", "Öffnen")
    assert gettext_multi.strip_mnemonic("set file_name", "file_name setzen") == (
        "set file_name",
        "file_name setzen",
    )
    assert gettext_multi.strip_mnemonic("a_b_c", "x") == ("a_b_c", "x")


def test_message_pair_collapses_inner_spaces_and_drops_tabs() -> None:
    assert gettext_multi.message_pair("  Open   file ", "Datei  öffnen") == (
        "Open file",
        "Datei öffnen",
    )
    assert gettext_multi.message_pair("Name\tSize", "Name\tGröße") is None


# --- splits ------------------------------------------------------------------------------------


def test_build_rows_tags_sources_and_splits_by_package(packages: Path) -> None:
    trees = {name: PackageTree(name, "unknown", packages / name) for name in gettext_multi.PACKAGES}
    rows, provenance = gettext_multi.build_rows(trees, gettext_multi.PACKAGES)
    assert ("<2de> Open file", "Datei (de)") in rows["train"]
    assert ("<2es> Cancel", "Abbrechen (es)") in rows["train"]
    assert {source.split(" ", 1)[1] for source, _ in rows["dev"]} == {"Quit"}  # Cancel is in train
    assert {source.split(" ", 1)[1] for source, _ in rows["test"]} == {"Print"}  # Quit is in dev
    assert len(rows["train"]) == 6 and len(rows["dev"]) == 3 and len(rows["test"]) == 3
    assert provenance["packages"]["pkg-dev"]["split"] == "dev"
    assert provenance["packages"]["pkg-test"]["messages"] == {"de": 2, "fr": 2, "es": 2}


def test_identical_pairs_appear_once_per_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gettext_multi, "DEV_PACKAGES", ())
    monkeypatch.setattr(gettext_multi, "TEST_PACKAGES", ())
    trees = {
        name: write_package(tmp_path, name, same_in_all({"Open": "Öffnen"})) for name in ("a", "b")
    }
    rows, _ = gettext_multi.build_rows(trees, ("a", "b"))
    assert rows["train"] == [
        ("<2de> Open", "Öffnen (de)"),
        ("<2fr> Open", "Öffnen (fr)"),
        ("<2es> Open", "Öffnen (es)"),
    ]


def test_prepare_from_trees_is_deterministic(packages: Path, tmp_path: Path) -> None:
    first = gettext_multi.prepare(tmp_path / "a", lists_dir=tmp_path / "x", from_dir=packages)
    second = gettext_multi.prepare(tmp_path / "b", lists_dir=tmp_path / "x", from_dir=packages)
    assert first.counts == {"train": 6, "dev": 3, "test": 3}
    for split in prepared.SPLITS:
        assert first.paths[split].read_bytes() == second.paths[split].read_bytes()
    assert read_rows(first.paths["test"])[0] == ("<2de> Print", "Drucken (de)")
    assert first.info["test_packages"] == ["pkg-test"]


def test_the_fixed_package_lists_are_consistent() -> None:
    gettext_multi.check_package_lists()
    assert len(set(gettext_multi.PACKAGES)) == len(gettext_multi.PACKAGES)
    assert set(gettext_multi.DEV_PACKAGES) < set(gettext_multi.PACKAGES)
    assert set(gettext_multi.TEST_PACKAGES) < set(gettext_multi.PACKAGES)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_prepare_from_deb_files_records_versions(
    packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debs = tmp_path / "debs"
    debs.mkdir()
    for name in gettext_multi.PACKAGES:
        control = packages / name / "DEBIAN"
        control.mkdir()
        (control / "control").write_text(
            f"Package: {name}\nVersion: 1:2.0-1\nArchitecture: all\n"
            "Maintainer: Test <t@example.org>\nDescription: test package\n"
        )
        deb = debs / f"{name}_1%3a2.0-1_all.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-b", str(packages / name), str(deb)],
            check=True,
            capture_output=True,
        )
    result = gettext_multi.prepare(tmp_path / "out", lists_dir=tmp_path / "x", from_dir=debs)
    assert result.counts == {"train": 6, "dev": 3, "test": 3}
    assert result.info["packages"]["pkg-dev"]["version"] == "1:2.0-1"


# --- errors ------------------------------------------------------------------------------------


def test_from_dir_missing_a_package_names_it(packages: Path, tmp_path: Path) -> None:
    shutil.rmtree(packages / "pkg-dev")
    with pytest.raises(
        DataError, match=r"no pkg-dev_\*\.deb or pkg-dev/usr/ for 1 package\(s\): pkg-dev"
    ):
        gettext_multi.prepare(tmp_path / "out", lists_dir=tmp_path / "x", from_dir=packages)
    assert not (tmp_path / "out").exists()


def test_package_without_a_language_is_an_error(packages: Path, tmp_path: Path) -> None:
    shutil.rmtree(packages / "pkg-test/usr/share/locale/es")
    with pytest.raises(DataError, match="package pkg-test has no usable es messages"):
        gettext_multi.prepare(tmp_path / "out", lists_dir=tmp_path / "x", from_dir=packages)


def test_unreadable_catalogue_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.mo"
    path.write_bytes(b"\x00" * 40)
    with pytest.raises(DataError, match=r"broken.mo: not a readable .mo catalogue"):
        list(gettext_multi.read_catalogue(path))


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_broken_deb_names_the_file(packages: Path, tmp_path: Path) -> None:
    (packages / "pkg-dev_1.0_all.deb").write_bytes(b"not an ar archive")
    with pytest.raises(DataError, match=r"pkg-dev_1.0_all.deb: dpkg-deb -x failed"):
        gettext_multi.prepare(tmp_path / "out", lists_dir=tmp_path / "x", from_dir=packages)


def test_missing_dpkg_deb_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(DataError, match="needs dpkg-deb; install dpkg"):
        debian_archive.extract_deb(tmp_path / "a_1_all.deb", tmp_path / "out")


def test_download_failure_reports_apts_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "x_main_binary-amd64_Packages").write_text("Package: a\n")
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    failed = subprocess.CompletedProcess([], 100, "", "E: Unable to locate package no-such-pkg\n")
    monkeypatch.setattr(subprocess, "run", lambda *_a, **_k: failed)
    with pytest.raises(
        DataError, match="apt-get download failed: E: Unable to locate package no-such-pkg"
    ):
        debian_archive.download_packages(["no-such-pkg"], tmp_path / "debs", lists)


def test_download_without_root_suggests_from_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(
        DataError,
        match=r"must run as root to download Debian packages.*--from DIR with the \.deb files",
    ):
        debian_archive.download_packages(["a"], tmp_path / "debs", tmp_path / "lists")


def test_deb_version_decodes_the_epoch() -> None:
    assert debian_archive.deb_version(Path("coreutils_9.1-1_amd64.deb")) == "9.1-1"
    assert debian_archive.deb_version(Path("bash_1%3a5.2-2_amd64.deb")) == "1:5.2-2"
