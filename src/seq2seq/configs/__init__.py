"""Ready-made configs shipped with the package (also visible as ``configs/`` in the repo).

``seq2seq train toy/reverse-lstm`` and ``seq2seq train configs/toy/reverse-lstm.yaml`` name the
same file; a path that exists always wins over a shipped name.
"""

from __future__ import annotations

from pathlib import Path

from seq2seq.errors import ConfigError

CONFIG_DIR = Path(__file__).parent


def shipped_configs() -> list[str]:
    """Names such as ``bible-en-es/lstm-attention``, sorted."""
    return sorted(
        str(p.relative_to(CONFIG_DIR).with_suffix("")) for p in CONFIG_DIR.rglob("*.yaml")
    )


def resolve_config(name_or_path: str | Path) -> Path:
    """A YAML path as given, or the shipped config of that name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / Path(str(name_or_path).removesuffix(".yaml") + ".yaml")
    if shipped.is_file():
        return shipped
    shipped_names = ", ".join(shipped_configs())
    raise ConfigError(
        f"{name_or_path}: no such config file or shipped config; shipped: {shipped_names}"
    )
