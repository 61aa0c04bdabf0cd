"""Where seq2seq-kit keeps what it builds on a user's machine (prepared corpora, native code)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$SEQ2SEQ_CACHE``, else ``$XDG_CACHE_HOME/seq2seq-kit``, else ``~/.cache/seq2seq-kit``."""
    if env := os.environ.get("SEQ2SEQ_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seq2seq-kit"
