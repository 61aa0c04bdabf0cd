"""Vocabulary: the second step of the data flow, tokens <-> integer ids.

Training: tokens -> ``Vocab.encode`` (optionally adding BOS/EOS) -> ids -> batches.
Inference: predicted ids -> ``Vocab.decode`` (up to the first EOS) -> tokens -> text.

The four specials always hold ids 0-3 (``<pad>``, ``<unk>``, ``<s>``, ``</s>``), so padding is
id 0 in every model. A vocabulary is saved as UTF-8 text, one token per line, in id order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from seq2seq.errors import ModelDirError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)


class Vocab:
    """A fixed mapping between tokens and ids, with the specials at ids 0-3."""

    def __init__(self, tokens: Sequence[str]) -> None:
        """Create a vocabulary from its full id -> token list.

        Args:
            tokens: Every token in id order, starting with ``PAD, UNK, BOS, EOS``.

        Raises:
            ValueError: The specials are not first, a token repeats, is empty or holds a
                newline.
        """
        _validate_tokens(tokens)
        self._id_to_token: list[str] = list(tokens)
        self._token_to_id: dict[str, int] = {tok: i for i, tok in enumerate(tokens)}

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        max_size: int | None = None,
        min_freq: int = 1,
    ) -> Vocab:
        """Count tokens and keep the most frequent ones.

        Ordering is by frequency (descending), ties broken by the token string, so the same
        data always gives the same ids.

        Args:
            token_lists: Tokenized sentences.
            max_size: Cap on the total size *including* the 4 specials (None = no cap).
            min_freq: Drop tokens seen fewer times than this.

        Raises:
            ValueError: ``max_size`` < 4, ``min_freq`` < 1, or a token holds a newline.
        """
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"max_size must be at least {len(SPECIALS)} (the specials)")
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        kept = sorted(
            (tok for tok, n in counts.items() if n >= min_freq and tok not in SPECIALS),
            key=lambda tok: (-counts[tok], tok),
        )
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *kept])

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>`` (always 0)."""
        return 0

    @property
    def unk_id(self) -> int:
        """Id of ``<unk>`` (always 1)."""
        return 1

    @property
    def bos_id(self) -> int:
        """Id of ``<s>`` (always 2)."""
        return 2

    @property
    def eos_id(self) -> int:
        """Id of ``</s>`` (always 3)."""
        return 3

    def __len__(self) -> int:
        return len(self._id_to_token)

    def __contains__(self, token: object) -> bool:
        return token in self._token_to_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._id_to_token == other._id_to_token

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"

    @property
    def tokens(self) -> list[str]:
        """A copy of the id -> token list."""
        return list(self._id_to_token)

    def token_to_id(self, token: str) -> int:
        """Return the id of ``token``, or ``unk_id`` if it is unknown."""
        return self._token_to_id.get(token, self.unk_id)

    def id_to_token(self, token_id: int) -> str:
        """Return the token with id ``token_id``.

        Raises:
            IndexError: ``token_id`` is outside ``[0, len(self))``.
        """
        if not 0 <= token_id < len(self._id_to_token):
            raise IndexError(f"token id {token_id} is outside [0, {len(self)})")
        return self._id_to_token[token_id]

    def encode(
        self, tokens: Sequence[str], *, add_bos: bool = False, add_eos: bool = False
    ) -> list[int]:
        """Map tokens to ids (unknown -> ``unk_id``), optionally framed by BOS/EOS."""
        ids = [self._token_to_id.get(tok, self.unk_id) for tok in tokens]
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Map ids to tokens, stopping at the first EOS and dropping PAD and BOS.

        ``<unk>`` is kept as the string ``"<unk>"``.
        """
        tokens = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id == self.eos_id:
                break
            if token_id not in (self.pad_id, self.bos_id):
                tokens.append(self.id_to_token(token_id))
        return tokens

    def save(self, path: Path) -> None:
        """Write the vocabulary as UTF-8 text, one token per line in id order."""
        text = "".join(f"{token}\n" for token in self._id_to_token)
        Path(path).write_bytes(text.encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            ModelDirError: The file is missing, unreadable, or not a saved vocabulary.
        """
        path = Path(path)
        hint = "copy it from the directory the model was trained in, or retrain"
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as err:
            raise ModelDirError(
                f"{path}: cannot read the vocabulary ({err.strerror or err}); {hint}"
            ) from err
        except UnicodeDecodeError as err:
            raise ModelDirError(f"{path}: vocabulary is not valid UTF-8 text; {hint}") from err
        # Split on "\n" only: tokens may legitimately be "\r" or other line-like characters.
        tokens = text.split("\n")
        if tokens[-1] == "":
            tokens.pop()
        try:
            return cls(tokens)
        except ValueError as err:
            raise ModelDirError(f"{path}: not a valid vocabulary file ({err}); {hint}") from err


def _validate_tokens(tokens: Sequence[str]) -> None:
    """Raise ValueError unless ``tokens`` is a well-formed id -> token list."""
    if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
        raise ValueError(f"the first tokens must be the specials {', '.join(SPECIALS)}")
    seen: set[str] = set()
    for token_id, token in enumerate(tokens):
        if not isinstance(token, str) or not token or "\n" in token:
            raise ValueError(f"token {token_id} ({token!r}) must be a non-empty str without '\\n'")
        if token in seen:
            raise ValueError(f"duplicate token {token!r} at id {token_id}")
        seen.add(token)
