"""The catalogue of built-in corpora: what ``seq2seq data list`` shows.

A built-in corpus resolves to ``{"train": path, "dev": path, "test": path}`` of TSV files
(``source<TAB>target``, optionally gzip-compressed). The Bible corpus ships inside the package;
toy tasks are generated into the cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from seq2seq.config import ToyConfig
from seq2seq.data.builtin import toy
from seq2seq.errors import DataError


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    task: str
    description: str
    licence: str
    pairs: str  # sizes per split, for `data list`


TOY_DESCRIPTIONS = {"reverse": "reversed", "copy": "copied", "sort": "sorted"}

BIBLE_DIR = Path(__file__).parent / "bible_en_es"

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
}


def cache_dir() -> Path:
    """``$SEQ2SEQ_CACHE``, else ``$XDG_CACHE_HOME/seq2seq-kit``, else ``~/.cache/seq2seq-kit``."""
    if env := os.environ.get("SEQ2SEQ_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seq2seq-kit"


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
    cfg = toy_cfg or ToyConfig()
    digest = hashlib.sha1(json.dumps(cfg.model_dump(), sort_keys=True).encode()).hexdigest()[:12]
    task = name.removeprefix("toy-")
    return toy.write_toy_splits(task, cfg, cache_dir() / "toy" / f"{task}-{digest}")
