"""The catalogue of built-in corpora: what ``seq2seq data list`` shows.

A built-in corpus resolves to ``{"train": path, "dev": path, "test": path}`` of TSV files
(``source<TAB>target``, optionally gzip-compressed). The Bible corpus ships inside the package;
toy tasks are generated into the cache directory. The Debian corpora (``debian-summaries``,
``debian-cloze-qa``, ``gettext-multi``, ``debian-faq-qa``) are built by
``seq2seq data prepare NAME`` into the cache directory (:func:`prepare_corpus`), never
shipped: their texts stay under each package's licence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seq2seq.cache import cache_dir
from seq2seq.config import ToyConfig
from seq2seq.data.builtin import cloze, debian_summaries, faq, gettext_multi, toy
from seq2seq.data.builtin.prepared import Prepared, find_prepared, require_prepared
from seq2seq.errors import DataError


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    task: str
    description: str
    licence: str
    pairs: str  # sizes per split, for `data list`


TOY_DESCRIPTIONS = {
    "reverse": "reversed",
    "copy": "copied",
    "sort": "sorted",
    "copy-unseen": "copied; dev/test also hold symbols never seen in training (pointer-generator)",
}

BIBLE_DIR = Path(__file__).parent / "bible_en_es"

DEBIAN_LICENCE = (
    "package maintainers' texts under each package's licence; prepared locally, never shipped"
)
DEBIAN_CORPORA: dict[str, CorpusInfo] = {
    "debian-summaries": CorpusInfo(
        "debian-summaries",
        "summarization",
        "Debian long package description -> one-line synopsis (main, amd64); split by "
        "package-name hash; built by `seq2seq data prepare debian-summaries`",
        DEBIAN_LICENCE,
        "train ~49.5k / dev ~1.7k / test ~1.7k (reference; not prepared)",
    ),
    "debian-cloze-qa": CorpusInfo(
        "debian-cloze-qa",
        "qa",
        "cloze: synopsis with one content word blanked <TAB> long description <TAB> the word; "
        "same packages and splits as debian-summaries",
        DEBIAN_LICENCE,
        "train ~48.3k / dev ~1.7k / test ~1.6k (reference; not prepared)",
    ),
    "gettext-multi": CorpusInfo(
        "gettext-multi",
        "translation",
        "English UI messages -> German/French/Spanish (`<2de> source`) from the .mo catalogues "
        "of 50 Debian packages; split by package",
        DEBIAN_LICENCE,
        "train ~155k / dev ~8.1k / test ~6.3k (reference; not prepared)",
    ),
    "debian-faq-qa": CorpusInfo(
        "debian-faq-qa",
        "qa",
        "closed-book FAQ question -> answer (answers capped at 200 words) from the FAQ "
        "documents of 46 Debian packages under permissive licences; split by package",
        DEBIAN_LICENCE,
        "train ~1.2k / dev ~150 / test ~140 (reference; not prepared)",
    ),
}
PREPARERS: dict[str, Callable[..., Prepared]] = {
    "debian-summaries": debian_summaries.prepare,
    "debian-cloze-qa": cloze.prepare,
    "gettext-multi": gettext_multi.prepare,
    "debian-faq-qa": faq.prepare,
}
"""How each Debian corpus is built: ``prepare(out_dir, *, lists_dir, from_dir) -> Prepared``."""

CORPORA: dict[str, CorpusInfo] = {
    "bible-en-es": CorpusInfo(
        "bible-en-es",
        "translation",
        "English -> Spanish Bible verses: a public-domain English Bible (derived from the World "
        "English Bible) and Reina-Valera 1909; split by book; shipped with the package",
        "public domain",
        "train 27,742 / dev 978 / test 930",
    ),
    **{
        f"toy-{task}": CorpusInfo(
            f"toy-{task}",
            "toy",
            f"generated: the target is the source sequence {TOY_DESCRIPTIONS[task]}"
            " (sizes in data.toy)",
            "generated",
            "data.toy.num_train / num_valid / num_test",
        )
        for task in toy.TOY_TASKS
    },
    **DEBIAN_CORPORA,
}


def corpus_files(name: str, toy_cfg: ToyConfig | None = None) -> dict[str, Path]:
    """Paths of the train/dev/test splits of built-in corpus ``name``."""
    if name not in CORPORA:
        raise DataError(f"data.corpus: unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    if name == "bible-en-es":
        paths = {split: BIBLE_DIR / f"{split}.tsv.gz" for split in ("train", "dev", "test")}
        if not all(p.is_file() for p in paths.values()):
            raise DataError(
                f"{BIBLE_DIR}: the shipped Bible corpus is missing; reinstall seq2seq-kit"
            )
        return paths
    if name in PREPARERS:
        return require_prepared(name, cache_dir() / name)
    cfg = toy_cfg or ToyConfig()
    digest = hashlib.sha1(json.dumps(cfg.model_dump(), sort_keys=True).encode()).hexdigest()[:12]
    task = name.removeprefix("toy-")
    return toy.write_toy_splits(task, cfg, cache_dir() / "toy" / f"{task}-{digest}")


def apt_lists_dir() -> Path:
    """The private apt lists folder shared by the Debian corpora (one archive snapshot)."""
    return cache_dir() / "debian-apt-lists"


def prepare_corpus(
    name: str, out_dir: Path | None = None, from_dir: Path | None = None
) -> Prepared:
    """Builds Debian corpus ``name`` into ``out_dir`` (default ``cache_dir()/name``), or
    returns the complete earlier result found there (``reused=True``).

    Args:
        name: A key of :data:`PREPARERS`.
        out_dir: Destination of ``train/dev/test.tsv`` and ``info.json``.
        from_dir: Already-downloaded inputs instead of apt: the apt lists folder for
            debian-summaries / debian-cloze-qa, ``.deb`` files or extracted trees for
            gettext-multi.

    Raises:
        DataError: ``name`` is not a prepared corpus, or its inputs cannot be obtained.
    """
    if name not in PREPARERS:
        raise DataError(
            f"{name!r} is not built by `data prepare`; choose one of {', '.join(PREPARERS)}"
        )
    out_dir = Path(out_dir) if out_dir is not None else cache_dir() / name
    found = find_prepared(name, out_dir)
    if found is not None:
        return found
    return PREPARERS[name](out_dir, lists_dir=apt_lists_dir(), from_dir=from_dir)


def listed_sizes(info: CorpusInfo) -> str:
    """Split sizes for ``data list``: the real counts of a prepared corpus, else the reference."""
    found = find_prepared(info.name, cache_dir() / info.name) if info.name in PREPARERS else None
    if found is None:
        return info.pairs
    counts = found.counts
    sizes = " / ".join(f"{split} {counts.get(split, 0):,}" for split in ("train", "dev", "test"))
    return f"{sizes} (prepared)"
