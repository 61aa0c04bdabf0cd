"""``gettext-multi``: English UI messages -> German, French and Spanish, from Debian catalogues.

Where this sits in the data flow::

    PACKAGES (a fixed list)  -> debian_archive.package_trees: apt-get download + dpkg-deb -x
                                (or --from DIR: .deb files or extracted trees)
      -> read_catalogues: usr/share/locale/{de,fr,es}/LC_MESSAGES/*.mo through polib
      -> message_pair: drop fuzzy/obsolete/empty/format-only/multi-line entries, keep the
         first plural form once, remove the GTK mnemonic underscore
      -> tag the source with the target language: "<2de> Open file<TAB>Datei öffnen"
      -> split by package (DEV_PACKAGES, TEST_PACKAGES, the rest train)
      -> deduplicate: a pair once per split; a dev/test source seen in train (or a test
         source seen in dev) is dropped, so evaluation is on unseen messages
      -> write_splits: train/dev/test.tsv + info.json (package versions)

One model learns all three directions; the ``<2xx>`` tag in the source tells it which
language to produce (Johnson et al., 2017, "Google's Multilingual Neural Machine
Translation System"). Messages that span lines or hold tabs (``--help`` screens, tables) are
dropped rather than flattened, because their layout is part of their meaning.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from seq2seq.data.builtin import debian_archive
from seq2seq.data.builtin.debian_archive import PackageTree
from seq2seq.data.builtin.prepared import (
    SPLITS,
    Prepared,
    Row,
    finish_info,
    split_of_package,
    write_splits,
)
from seq2seq.errors import DataError

NAME = "gettext-multi"
LANGUAGES = ("de", "fr", "es")

# fmt: off
PACKAGES: tuple[str, ...] = (
    "apt", "aptitude-common", "bash", "binutils-common", "coreutils", "cpio", "cryptsetup-bin",
    "diffutils", "dpkg", "e2fsprogs-l10n", "eog", "evince-common", "file-roller", "findutils",
    "gawk", "gedit-common", "gettext", "gimp-data", "gnome-calculator",
    "gnome-control-center-data", "gnome-terminal-data", "gnucash-common", "gnupg-l10n", "grep",
    "grub-common", "libc-l10n", "libglib2.0-data", "libgtk-3-common", "make", "mc-data", "meld",
    "mousepad", "nano", "nautilus-data", "network-manager", "psmisc", "pulseaudio", "ristretto",
    "sed", "shared-mime-info", "synaptic", "tar", "texinfo", "thunar-data",
    "util-linux-locales", "wdiff", "wget", "xfce4-panel", "xfce4-terminal", "zenity-common",
)
"""Debian binary packages whose catalogues are read; each ships de, fr and es ``.mo`` files."""
DEV_PACKAGES: tuple[str, ...] = (
    "file-roller", "gnome-calculator", "meld", "nano", "psmisc", "sed", "tar", "wdiff",
    "xfce4-terminal",
)
TEST_PACKAGES: tuple[str, ...] = (
    "cpio", "eog", "findutils", "gedit-common", "grep", "mousepad", "ristretto", "wget",
    "zenity-common",
)
# fmt: on
"""Whole packages held out for validation and test; every other package of PACKAGES is train."""

NOT_MESSAGES = frozenset({"translator-credits", "translator_credits", "default:LTR", "default:RTL"})
"""Catalogue keys that are not English text (GNOME credits, GTK text direction)."""

_PRINTF = re.compile(
    r"%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?[a-zA-Z%]"
    r"|%\(\w+\)[a-zA-Z]|\{[^{}\s]*\}|\$\{?\w+\}?|<[^<>]+>"
)
"""printf / Python / brace / shell placeholders and markup tags: not words to translate."""


class Message(NamedTuple):
    """One translated UI message."""

    package: str
    language: str
    source: str
    target: str


def package_split(package: str) -> str:
    """The split a package's messages belong to (a fixed assignment, documented above)."""
    return split_of_package(package, DEV_PACKAGES, TEST_PACKAGES)


def is_format_only(text: str) -> bool:
    """True when ``text`` holds no letter once placeholders and markup are removed
    (``"%s: %s"``, ``"(%d)"``, ``"<b>%s</b>"``): nothing there for a model to translate."""
    return not any(char.isalpha() for char in _PRINTF.sub("", text))


def strip_mnemonic(source: str, target: str) -> tuple[str, str]:
    """Removes the GTK keyboard-accelerator underscore (``"_Open"`` / ``"Ö_ffnen"``).

    Only a lone underscore before a letter counts, and only when the source word holding it
    is not copied verbatim into the target (``file_name`` in both is an identifier).
    """
    if source.count("_") != 1 or not re.search(r"_\w", source):
        return source, target
    word = next(token for token in source.split() if "_" in token)
    if word in target.split():
        return source, target
    new_target = target.replace("_", "", 1) if target.count("_") == 1 else target
    return source.replace("_", "", 1), new_target


def message_pair(msgid: str, msgstr: str) -> tuple[str, str] | None:
    """The cleaned (English, translation) of one catalogue entry, or None to drop it.

    Drops empty sides, keys that are not English text (:data:`NOT_MESSAGES`), texts with an
    inner newline or a tab (layout matters there), and format-only strings; strips the outer
    whitespace (trailing ``\\n`` of error messages) and the GTK mnemonic underscore.
    """
    source, target = msgid.strip(), msgstr.strip()
    if not source or not target or source in NOT_MESSAGES:
        return None
    if any(char in text for text in (source, target) for char in "\n\t\r"):
        return None
    if is_format_only(source) or is_format_only(target):
        return None
    source, target = strip_mnemonic(" ".join(source.split()), " ".join(target.split()))
    return source, target


def read_catalogue(path: Path) -> Iterator[tuple[str, str]]:
    """The kept (English, translation) pairs of one ``.mo`` file, in catalogue order.

    Plural entries give their first form once (``msgid`` -> ``msgstr[0]``, the singular in
    de/fr/es); the other forms would repeat the message.

    Raises:
        DataError: The file is not a readable ``.mo`` catalogue.
    """
    import polib  # a declared dependency, imported here so `data list` does not need it

    try:
        catalogue = polib.mofile(str(path))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable .mo catalogue ({err})") from err
    for entry in catalogue:
        if entry.obsolete or "fuzzy" in entry.flags:
            continue
        msgstr = entry.msgstr_plural.get(0, "") if entry.msgid_plural else entry.msgstr
        pair = message_pair(entry.msgid, msgstr)
        if pair is not None:
            yield pair


def read_package(tree: PackageTree) -> Iterator[Message]:
    """Every kept message of one package: languages in :data:`LANGUAGES` order, then ``.mo``
    files by name."""
    for language in LANGUAGES:
        folder = tree.root / "usr" / "share" / "locale" / language / "LC_MESSAGES"
        for path in sorted(folder.glob("*.mo")):
            for source, target in read_catalogue(path):
                yield Message(tree.name, language, source, target)


def split_messages(messages: Iterable[Message]) -> dict[str, list[Row]]:
    """Tagged ``(source, target)`` rows per split, deduplicated.

    A pair appears once per split. Dev and test keep only sources never seen in train, and
    test only sources never seen in dev, so scores measure translating unseen messages.
    """
    rows: dict[str, list[Row]] = {split: [] for split in SPLITS}
    for message in messages:
        source = f"<2{message.language}> {message.source}"
        rows[package_split(message.package)].append((source, message.target))
    seen_sources: set[str] = set()
    for split in SPLITS:
        unique = list(dict.fromkeys(rows[split]))
        rows[split] = [row for row in unique if row[0] not in seen_sources]
        seen_sources.update(row[0] for row in rows[split])
    return rows


def check_package_lists() -> None:
    """Raises ValueError when DEV/TEST name a package outside PACKAGES or overlap (a bug)."""
    held_out = set(DEV_PACKAGES) | set(TEST_PACKAGES)
    if not held_out <= set(PACKAGES) or set(DEV_PACKAGES) & set(TEST_PACKAGES):
        raise ValueError("gettext-multi: DEV_PACKAGES/TEST_PACKAGES must be disjoint parts")


def build_rows(
    trees: dict[str, PackageTree], packages: Sequence[str] = PACKAGES
) -> tuple[dict[str, list[Row]], dict[str, Any]]:
    """Rows per split from extracted packages, and per-package provenance for ``info.json``.

    Raises:
        DataError: A package ships no catalogue for one of the languages (the list is fixed,
            so this means the archive changed and the list needs a look).
    """
    messages: list[Message] = []
    per_package: dict[str, Any] = {}
    for name in packages:
        found = list(read_package(trees[name]))
        counts = {lang: sum(m.language == lang for m in found) for lang in LANGUAGES}
        missing = [lang for lang, count in counts.items() if count == 0]
        if missing:
            raise DataError(
                f"{trees[name].root}: package {name} has no usable {'/'.join(missing)} "
                "messages in usr/share/locale/LANG/LC_MESSAGES/*.mo"
            )
        per_package[name] = {
            "version": trees[name].version,
            "split": package_split(name),
            "messages": counts,
        }
        messages.extend(found)
    return split_messages(messages), {"packages": per_package}


def prepare(out_dir: Path, *, lists_dir: Path, from_dir: Path | None = None) -> Prepared:
    """Builds ``<2xx> english<TAB>translation`` TSVs and ``info.json`` in ``out_dir``.

    Args:
        out_dir: Destination (the cache's ``gettext-multi`` folder by default).
        lists_dir: Private apt lists folder that ``apt-get download`` uses.
        from_dir: A folder with ``NAME_*.deb`` or extracted ``NAME/usr/...`` for every
            package of :data:`PACKAGES`; None downloads them with apt.

    Raises:
        DataError: apt is unusable and no ``from_dir`` was given, a package is missing or
            cannot be downloaded, or a catalogue is unreadable.
    """
    start = time.perf_counter()
    check_package_lists()
    with tempfile.TemporaryDirectory(prefix="seq2seq-gettext-") as work:
        trees = debian_archive.package_trees(PACKAGES, Path(work), lists_dir, from_dir)
        rows, provenance = build_rows(trees, PACKAGES)
    provenance["languages"] = list(LANGUAGES)
    provenance["dev_packages"] = list(DEV_PACKAGES)
    provenance["test_packages"] = list(TEST_PACKAGES)
    return write_splits(NAME, out_dir, rows, finish_info(provenance, start))
