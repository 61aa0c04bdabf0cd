"""The Debian archive as a data source: apt index files and package contents, fetched offline.

Where this sits in the data flow::

    apt-get update into a private lists folder  (or --from DIR: an existing lists folder)
      -> *_Packages, *_Translation-en, *_InRelease   -> debian_summaries / cloze
    apt-get download + dpkg-deb -x of a fixed package list
      (or --from DIR: .deb files or extracted trees) -> gettext_multi / faq

The machine's apt configuration may disable translated descriptions (``Acquire::Languages
"none"``), so the lists are fetched into a folder of our own with ``Acquire::Languages=en``; the
folder stays in the cache so every corpus built from it sees the same archive snapshot, and
``apt-get download`` uses it too. Compressed index files (``.lz4`` as apt keeps them) are read
with ``apt-helper cat-file``; plain files are read directly.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from seq2seq.errors import DataError

logger = logging.getLogger(__name__)

APT_HELPER = Path("/usr/lib/apt/apt-helper")
PACKAGES_GLOB = "*_main_binary-amd64_Packages*"
TRANSLATION_GLOB = "*_main_i18n_Translation-en*"
RELEASE_KEYS = ("Origin", "Suite", "Codename", "Version", "Date")
_PYTHON_READERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


@dataclass(frozen=True)
class PackageTree:
    """One Debian package's files on disk.

    Attributes:
        name: Binary package name, e.g. ``"coreutils"``.
        version: Package version from the ``.deb`` file name, or ``"unknown"`` for a tree.
        root: Directory holding the package's file system (``usr/share/...``).
    """

    name: str
    version: str
    root: Path


# ---------------------------------------------------------------------------------------------
# Index files


def parse_stanzas(text: str) -> Iterator[dict[str, str]]:
    """The stanzas of a deb822 file (``Packages``, ``Translation-en``) as dicts.

    A continuation line (starting with a space or tab) is appended to the previous field with
    its newline kept, so ``Description-en`` keeps its paragraph structure.
    """
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t":
            if key is not None:
                fields[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if fields:
        yield fields


def read_index(path: Path) -> str:
    """The text of an apt index file, plain or compressed (``.lz4`` through apt-helper).

    Raises:
        DataError: The file needs apt-helper and it is missing, or it cannot be decompressed.
    """
    path = Path(path)
    suffix = path.suffix
    if suffix in _PYTHON_READERS:
        with _PYTHON_READERS[suffix](path, "rt", encoding="utf-8") as f:
            return f.read()
    if suffix not in {".lz4", ".zst"}:
        return path.read_text(encoding="utf-8")
    if not APT_HELPER.is_file():
        raise DataError(
            f"{path}: reading {suffix} index files needs {APT_HELPER}; install apt, "
            "or decompress the file and pass the folder with --from DIR"
        )
    done = subprocess.run(
        [str(APT_HELPER), "cat-file", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise DataError(f"{path}: apt-helper cat-file failed: {_last_line(done.stderr)}")
    return done.stdout


def index_files(lists_dir: Path, pattern: str) -> list[Path]:
    """Index files of ``lists_dir`` matching ``pattern``, sorted; skips apt's partial files."""
    return sorted(p for p in Path(lists_dir).glob(pattern) if p.is_file())


def release_info(lists_dir: Path) -> list[dict[str, str]]:
    """Origin, suite, codename and date of each ``*InRelease``/``*_Release`` in ``lists_dir``.

    Recorded in ``info.json`` so a prepared corpus says which archive snapshot it comes from.
    """
    releases = []
    for path in sorted(Path(lists_dir).glob("*Release")):
        if not path.name.endswith(("_InRelease", "_Release")):
            continue
        found = {"file": path.name}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(": ")
            if sep and key in RELEASE_KEYS and key not in found:
                found[key] = value.strip()
            if line.startswith(("MD5Sum:", "SHA256:", "-----BEGIN PGP SIGNATURE")):
                break
        releases.append(found)
    return releases


# ---------------------------------------------------------------------------------------------
# Fetching with apt


def fetch_lists(lists_dir: Path) -> Path:
    """Runs ``apt-get update`` into ``lists_dir`` with English descriptions enabled.

    Returns:
        ``lists_dir``, holding ``*_Packages.lz4``, ``*_Translation-en.lz4`` and ``*_InRelease``.

    Raises:
        DataError: apt-get is missing, we are not root, or the update fails.
    """
    _require_apt("fetch the Debian package lists", "the apt lists folder")
    (Path(lists_dir) / "partial").mkdir(parents=True, exist_ok=True)
    _run_apt(["apt-get", "update", "-q", *_lists_options(lists_dir)], "apt-get update")
    if not index_files(lists_dir, TRANSLATION_GLOB):
        raise DataError(
            f"{lists_dir}: apt-get update fetched no {TRANSLATION_GLOB} file; "
            "check that /etc/apt/sources.list(.d) names a Debian 'main' component"
        )
    return Path(lists_dir)


def download_packages(packages: Sequence[str], dest: Path, lists_dir: Path) -> dict[str, Path]:
    """``apt-get download`` of ``packages`` into ``dest``; returns ``{package: .deb path}``.

    Uses the private lists folder (fetched if needed), so the result does not depend on whether
    the system's own lists were ever updated.

    Raises:
        DataError: apt-get is missing, we are not root, or a package cannot be downloaded.
    """
    _require_apt("download Debian packages", "the .deb files or extracted package trees")
    if not index_files(lists_dir, PACKAGES_GLOB):
        fetch_lists(lists_dir)
    dest.mkdir(parents=True, exist_ok=True)
    _run_apt(
        ["apt-get", "download", "-q", *_lists_options(lists_dir), *packages],
        "apt-get download",
        cwd=dest,
    )
    debs = find_debs(dest)
    missing = [name for name in packages if name not in debs]
    if missing:
        raise DataError(f"apt-get download left no .deb for: {', '.join(missing)}")
    return {name: debs[name] for name in packages}


def extract_deb(deb: Path, dest: Path) -> Path:
    """``dpkg-deb -x deb dest`` (no installation); returns ``dest``.

    Raises:
        DataError: dpkg-deb is missing or the archive is broken.
    """
    if shutil.which("dpkg-deb") is None:
        raise DataError(f"{deb}: extracting .deb files needs dpkg-deb; install dpkg")
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise DataError(f"{deb}: dpkg-deb -x failed: {_last_line(done.stderr)}")
    return dest


def find_debs(folder: Path) -> dict[str, Path]:
    """``{package: path}`` of the ``NAME_VERSION_ARCH.deb`` files in ``folder``."""
    debs = {}
    for path in sorted(Path(folder).glob("*.deb")):
        debs.setdefault(path.name.split("_", 1)[0], path)
    return debs


def deb_version(deb: Path) -> str:
    """The version in a ``NAME_VERSION_ARCH.deb`` file name (``1%3a4.13`` -> ``1:4.13``)."""
    parts = Path(deb).name.split("_")
    return unquote(parts[1]) if len(parts) == 3 else "unknown"


def package_trees(
    packages: Sequence[str], work_dir: Path, lists_dir: Path, from_dir: Path | None = None
) -> dict[str, PackageTree]:
    """The file trees of ``packages``, downloaded and extracted, or found in ``from_dir``.

    Args:
        packages: Binary package names (the corpus's fixed list).
        work_dir: Scratch directory for downloads and extraction.
        lists_dir: The private apt lists folder used by ``apt-get download``.
        from_dir: A folder holding ``NAME_*.deb`` files or extracted trees ``NAME/usr/...``
            for every package; None downloads them.

    Raises:
        DataError: A package is missing from ``from_dir`` or cannot be downloaded.
    """
    if from_dir is None:
        debs = download_packages(packages, work_dir / "debs", lists_dir)
    else:
        debs = _debs_or_trees(packages, Path(from_dir))
    trees = {}
    for name in packages:
        source = debs[name]
        if source.is_dir():
            trees[name] = PackageTree(name, "unknown", source)
        else:
            root = extract_deb(source, work_dir / "trees" / name)
            trees[name] = PackageTree(name, deb_version(source), root)
    return trees


def _debs_or_trees(packages: Sequence[str], from_dir: Path) -> dict[str, Path]:
    if not from_dir.is_dir():
        raise DataError(f"--from {from_dir}: not a directory")
    debs = find_debs(from_dir)
    found = {}
    for name in packages:
        if name in debs:
            found[name] = debs[name]
        elif (from_dir / name / "usr").is_dir():
            found[name] = from_dir / name
    missing = [name for name in packages if name not in found]
    if missing:
        raise DataError(
            f"--from {from_dir}: no {missing[0]}_*.deb or {missing[0]}/usr/ for "
            f"{len(missing)} package(s): {', '.join(missing)}"
        )
    return found


def _lists_options(lists_dir: Path) -> list[str]:
    return ["-o", "Acquire::Languages=en", "-o", f"Dir::State::Lists={Path(lists_dir).resolve()}"]


def _require_apt(action: str, inputs: str) -> None:
    if shutil.which("apt-get") is None:
        raise DataError(
            f"apt-get not found: to {action} run on Debian/Ubuntu with apt, "
            f"or pass --from DIR with {inputs}"
        )
    if os.geteuid() != 0:
        raise DataError(
            f"apt-get must run as root to {action}; run as root (sudo), "
            f"or pass --from DIR with {inputs}"
        )


def _run_apt(command: list[str], what: str, cwd: Path | None = None) -> None:
    logger.info("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    errors = [line for line in done.stderr.splitlines() if line.startswith("E:")]
    if done.returncode != 0 or errors:
        message = _last_line("\n".join(errors) or done.stderr)
        raise DataError(f"{what} failed: {message}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"
