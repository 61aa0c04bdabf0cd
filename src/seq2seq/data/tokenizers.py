"""Tokenizers: the first step of the data flow, text -> tokens (and back after decoding).

Training: text -> ``Tokenizer.encode`` -> tokens -> ``Vocab.encode`` -> ids.
Inference: ids -> ``Vocab.decode`` -> tokens -> ``Tokenizer.decode`` -> text.

Three kinds, chosen by one plain dict in :func:`train_tokenizer` / :func:`load_tokenizer`:

- ``char``: one token per character; a space becomes ``▁`` so decoding restores it.
- ``word``: whitespace split, decoding joins with a single space.
- ``sentencepiece``: subword pieces (unigram or BPE) learned from the training text
  (Kudo & Richardson, 2018, https://arxiv.org/abs/1808.06226).

Every kind keeps the task's special tokens (``<sep>``, ``<blank>``, language tags ``<2xx>``;
see :mod:`seq2seq.data.fields`) as single tokens.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import sentencepiece as spm

from seq2seq.data.fields import is_special, sentencepiece_symbols, split_special
from seq2seq.errors import ConfigError, DataError, ModelDirError

SPACE = "▁"  # U+2581, the same visible space marker sentencepiece uses
TOKENIZER_KINDS = ("char", "word", "sentencepiece")
SENTENCEPIECE_MODEL_TYPES = ("unigram", "bpe")
# Sentencepiece samples this many sentences at most (seeded), so huge corpora train quickly.
_MAX_TRAINING_SENTENCES = 2_000_000


class Tokenizer(Protocol):
    """Splits text into string tokens and joins them back."""

    kind: str

    def encode(self, text: str) -> list[str]:
        """Split ``text`` into tokens."""
        ...

    def decode(self, tokens: list[str]) -> str:
        """Join tokens back into text; ``decode(encode(text)) == text`` for normal text."""
        ...

    def save(self, directory: Path, prefix: str) -> None:
        """Write the files needed to reload this tokenizer as ``{prefix}.*`` in ``directory``."""
        ...


class CharTokenizer:
    """One token per character; spaces become ``▁`` so they survive as visible tokens.

    A literal ``▁`` in the text decodes to a space (the marker is reserved). Special tokens
    (``<sep>``, ``<blank>``, ``<2de>``) stay whole.
    """

    kind: str = "char"

    def encode(self, text: str) -> list[str]:
        """Return one token per character of ``text``, and one per special token."""
        return [
            token
            for piece in split_special(text)
            for token in ([piece] if is_special(piece) else _chars(piece))
        ]

    def decode(self, tokens: list[str]) -> str:
        """Concatenate tokens, turning ``▁`` back into spaces."""
        return "".join(" " if token == SPACE else token for token in tokens)

    def save(self, directory: Path, prefix: str) -> None:
        """Nothing to save: a char tokenizer has no learned state."""


def _chars(text: str) -> list[str]:
    return [SPACE if char == " " else char for char in text]


class WordTokenizer:
    """Whitespace tokenization; runs of whitespace decode to one space.

    Special tokens are cut from the words they touch (``<blank>.`` gives ``<blank>``, ``.``).
    """

    kind: str = "word"

    def encode(self, text: str) -> list[str]:
        """Split ``text`` on whitespace and around special tokens."""
        return [
            token
            for piece in split_special(text)
            for token in ([piece] if is_special(piece) else piece.split())
        ]

    def decode(self, tokens: list[str]) -> str:
        """Join tokens with single spaces."""
        return " ".join(tokens)

    def save(self, directory: Path, prefix: str) -> None:
        """Nothing to save: a word tokenizer has no learned state."""


class SentencePieceTokenizer:
    """Subword tokenizer backed by a trained sentencepiece model.

    Sentencepiece's own BOS/EOS/PAD are disabled (``Vocab`` adds the specials); its ``<unk>``
    stays at piece id 0. ``<sep>``, ``<blank>`` and the language tags of the training text are
    user-defined symbols, always one piece; the model file stores them. Its default
    ``nmt_nfkc`` normalization applies, so text that NFKC changes (ligatures, full-width forms)
    or that has repeated spaces does not round-trip exactly.
    """

    kind: str = "sentencepiece"

    def __init__(self, model_proto: bytes) -> None:
        """Wrap a serialized sentencepiece model (the bytes of a ``.model`` file)."""
        self.model_proto = model_proto
        self._processor = spm.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        *,
        vocab_size: int,
        model_type: str = "unigram",
        character_coverage: float = 1.0,
        seed: int = 0,
    ) -> SentencePieceTokenizer:
        """Train a model in memory; the same texts and arguments give the same model.

        Args:
            texts: Training sentences (blank ones are ignored).
            vocab_size: Target number of pieces; a soft limit, so a small corpus yields fewer.
            model_type: ``"unigram"`` or ``"bpe"``.
            character_coverage: Share of characters the model must cover (1.0 = all).
            seed: Seeds sentencepiece's sentence sampling.

        Raises:
            ConfigError: ``model_type`` is not one of the supported types.
            DataError: No text to train on, or sentencepiece refused the data.
        """
        if model_type not in SENTENCEPIECE_MODEL_TYPES:
            raise ConfigError(
                f"sentencepiece model_type {model_type!r} is not one of "
                f"{', '.join(SENTENCEPIECE_MODEL_TYPES)}"
            )
        sentences = list(_non_blank(texts))
        model = io.BytesIO()
        # The seed is global state in sentencepiece; set it right before training.
        spm.set_random_generator_seed(seed)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=model,
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=character_coverage,
                hard_vocab_limit=False,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                unk_id=0,
                user_defined_symbols=sentencepiece_symbols(sentences),
                input_sentence_size=_MAX_TRAINING_SENTENCES,
                shuffle_input_sentence=True,
                minloglevel=2,
            )
        except RuntimeError as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataError(
                f"sentencepiece could not train a {model_type} model with "
                f"vocab_size={vocab_size}: {message}"
            ) from err
        return cls(model.getvalue())

    @classmethod
    def load(cls, path: Path) -> SentencePieceTokenizer:
        """Load a ``.model`` file written by :meth:`save`.

        Raises:
            ModelDirError: The file is missing or is not a sentencepiece model.
        """
        path = Path(path)
        try:
            model_proto = path.read_bytes()
        except OSError as err:
            raise ModelDirError(
                f"{path}: cannot read the sentencepiece model ({err.strerror or err}); "
                "copy it from the directory the model was trained in, or retrain"
            ) from err
        try:
            return cls(model_proto)
        except RuntimeError as err:
            raise ModelDirError(
                f"{path}: not a valid sentencepiece model (corrupt or truncated); "
                "copy it again from the directory the model was trained in, or retrain"
            ) from err

    @property
    def vocab_size(self) -> int:
        """Number of pieces in the model."""
        return self._processor.get_piece_size()

    def encode(self, text: str) -> list[str]:
        """Split ``text`` into pieces such as ``["▁hel", "lo"]``."""
        return self._processor.encode(text, out_type=str)

    def decode(self, tokens: list[str]) -> str:
        """Join pieces back into text."""
        return self._processor.decode_pieces(tokens)

    def save(self, directory: Path, prefix: str) -> None:
        """Write ``{prefix}.model`` in ``directory``."""
        (Path(directory) / f"{prefix}.model").write_bytes(self.model_proto)


# Tokenizers without learned state, constructed without arguments.
_STATELESS: dict[str, type[CharTokenizer] | type[WordTokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
}


def _non_blank(texts: Iterable[str]) -> Iterator[str]:
    """Return an iterator over the non-blank texts; raise DataError if there are none."""
    sentences = (text for text in texts if text.strip())
    first = next(sentences, None)
    if first is None:
        raise DataError("no text to train the sentencepiece tokenizer on (every line is blank)")
    return itertools.chain([first], sentences)


def _check_kind(kind: str) -> None:
    if kind not in TOKENIZER_KINDS:
        raise ConfigError(f"tokenizer kind {kind!r} is not one of {', '.join(TOKENIZER_KINDS)}")


def train_tokenizer(
    kind: str,
    texts: Iterable[str],
    *,
    vocab_size: int = 8000,
    model_type: str = "unigram",
    seed: int = 0,
) -> Tokenizer:
    """Build a tokenizer of ``kind``, learning from ``texts`` where the kind needs it.

    Args:
        kind: One of :data:`TOKENIZER_KINDS`.
        texts: Training text (only read by ``sentencepiece``).
        vocab_size: Sentencepiece piece count (soft limit).
        model_type: Sentencepiece ``"unigram"`` or ``"bpe"``.
        seed: Sentencepiece sampling seed.

    Raises:
        ConfigError: Unknown ``kind`` or ``model_type``.
    """
    _check_kind(kind)
    if kind == "sentencepiece":
        return SentencePieceTokenizer.train(
            texts, vocab_size=vocab_size, model_type=model_type, seed=seed
        )
    return _STATELESS[kind]()


def load_tokenizer(kind: str, directory: Path, prefix: str) -> Tokenizer:
    """Reload a tokenizer that was saved with ``save(directory, prefix)``.

    Raises:
        ConfigError: Unknown ``kind``.
        ModelDirError: The saved file is missing or corrupt.
    """
    _check_kind(kind)
    if kind == "sentencepiece":
        return SentencePieceTokenizer.load(Path(directory) / f"{prefix}.model")
    return _STATELESS[kind]()
