"""Text <-> ids for a model, and the training data a run needs.

:class:`TextCodec` bundles the tokenizers and vocabularies of both sides; training builds it
from the training split and saves it in the model directory, and the Translator loads it from
there, so training and inference tokenize identically.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seq2seq.config import CorpusFile, DataConfig, ParallelFiles, TokenizerConfig
from seq2seq.data.builtin import corpus_files
from seq2seq.data.copy_vocab import encode_copy_example
from seq2seq.data.corpus import Pair, read_pairs
from seq2seq.data.languages import keep_languages
from seq2seq.data.tokenizers import Tokenizer, load_tokenizer, train_tokenizer
from seq2seq.data.vocab import Vocab
from seq2seq.errors import DataError

logger = logging.getLogger(__name__)

Example = tuple[list[int], list[int]]  # (source ids, target ids), no special tokens


@dataclass(frozen=True)
class TextCodec:
    """Tokenizers and vocabularies of both sides (the same objects when joint)."""

    src_tokenizer: Tokenizer
    tgt_tokenizer: Tokenizer
    src_vocab: Vocab
    tgt_vocab: Vocab

    @classmethod
    def build(cls, pairs: Sequence[Pair], cfg: TokenizerConfig, seed: int = 0) -> TextCodec:
        """Trains tokenizers on the training pairs and counts their vocabularies."""
        src_texts = [p.src for p in pairs]
        tgt_texts = [p.tgt for p in pairs]
        if cfg.joint:
            tokenizer = _train(cfg, src_texts + tgt_texts, seed)
            vocab = _count(cfg, tokenizer, src_texts + tgt_texts)
            return cls(tokenizer, tokenizer, vocab, vocab)
        src_tok, tgt_tok = _train(cfg, src_texts, seed), _train(cfg, tgt_texts, seed)
        return cls(
            src_tok, tgt_tok, _count(cfg, src_tok, src_texts), _count(cfg, tgt_tok, tgt_texts)
        )

    def save(self, model_dir: Path) -> None:
        for side, tokenizer, vocab in (
            ("src", self.src_tokenizer, self.src_vocab),
            ("tgt", self.tgt_tokenizer, self.tgt_vocab),
        ):
            tokenizer.save(model_dir, side)
            vocab.save(model_dir / f"{side}.vocab")

    @classmethod
    def load(cls, model_dir: Path, cfg: TokenizerConfig) -> TextCodec:
        src_tok = load_tokenizer(cfg.kind, model_dir, "src")
        tgt_tok = load_tokenizer(cfg.kind, model_dir, "tgt")
        src_vocab = Vocab.load(model_dir / "src.vocab")
        tgt_vocab = src_vocab if cfg.joint else Vocab.load(model_dir / "tgt.vocab")
        return cls(src_tok, src_tok if cfg.joint else tgt_tok, src_vocab, tgt_vocab)

    def encode_src(self, text: str) -> list[int]:
        return self.src_vocab.encode(self.src_tokenizer.encode(text))

    def encode_tgt(self, text: str) -> list[int]:
        return self.tgt_vocab.encode(self.tgt_tokenizer.encode(text))

    def decode_tgt(self, ids: Sequence[int]) -> tuple[str, list[str]]:
        """Target ids -> (detokenized text, the subword tokens)."""
        tokens = self.tgt_vocab.decode(ids)
        return self.tgt_tokenizer.decode(tokens), tokens


def _train(cfg: TokenizerConfig, texts: list[str], seed: int) -> Tokenizer:
    return train_tokenizer(
        cfg.kind, texts, vocab_size=cfg.vocab_size, model_type=cfg.model_type, seed=seed
    )


def _count(cfg: TokenizerConfig, tokenizer: Tokenizer, texts: list[str]) -> Vocab:
    return Vocab.build(
        (tokenizer.encode(t) for t in texts), max_size=cfg.max_vocab_size, min_freq=cfg.min_freq
    )


def split_paths(cfg: DataConfig) -> dict[str, CorpusFile]:
    """The train/dev(/test) files of the configured corpus, built-in or user-given."""
    if cfg.corpus is not None:
        return {k: str(v) for k, v in corpus_files(cfg.corpus, cfg.toy).items()}
    paths: dict[str, CorpusFile] = {"train": cfg.train, "dev": cfg.valid}
    if cfg.test is not None:
        paths["test"] = cfg.test
    return paths


def read_split(spec: CorpusFile, skip_bad_lines: bool = False) -> list[Pair]:
    """Reads a TSV path or a ``{src, tgt}`` pair of parallel files."""
    if isinstance(spec, ParallelFiles):
        return read_pairs(spec.src, tgt_path=spec.tgt, skip_bad_lines=skip_bad_lines)
    return read_pairs(spec, skip_bad_lines=skip_bad_lines)


def read_data_split(cfg: DataConfig, split: str) -> list[Pair]:
    """The pairs of one split (``train``, ``dev`` or ``test``) exactly as training reads them:
    multi-field sources joined with ``<sep>``, only the ``data.languages`` when set.

    Raises:
        DataError: The split is not configured, or a file is unreadable or malformed.
    """
    paths = split_paths(cfg)
    if split not in paths:
        key = {"dev": "valid"}.get(split, split)
        raise DataError(f"data.{key} is not set: there is no {split} split to read")
    pairs = read_split(paths[split], cfg.skip_bad_lines)
    if cfg.languages is None:
        return pairs
    spec = paths[split]
    label = spec.src if isinstance(spec, ParallelFiles) else spec
    return keep_languages(pairs, cfg.languages, str(label))


@dataclass(frozen=True)
class TrainingData:
    codec: TextCodec
    train: list[Example]
    valid: list[Example]
    valid_pairs: list[Pair]


def within_length_limits(example: Example, cfg: DataConfig) -> bool:
    """Whether a training pair is kept: at most ``max_src_len`` / ``max_tgt_len`` tokens."""
    return len(example[0]) <= cfg.max_src_len and len(example[1]) <= cfg.max_tgt_len


def load_training_data(
    cfg: DataConfig, model_dir: Path, seed: int, reuse_codec: bool, copy_source: bool = False
) -> TrainingData:
    """Reads the splits, builds (or reloads, when resuming) the codec, and encodes the pairs.

    Training pairs longer than ``max_src_len`` / ``max_tgt_len`` tokens are dropped (logged);
    validation pairs are all kept so scores compare across runs. ``copy_source`` (a
    pointer-generator, ``model.copy``) encodes with per-sentence extended ids for OOV tokens
    (see :mod:`seq2seq.data.copy_vocab`).
    """
    train_pairs = read_data_split(cfg, "train")
    valid_pairs = read_data_split(cfg, "dev")
    if reuse_codec:
        codec = TextCodec.load(model_dir, cfg.tokenizer)
    else:
        codec = TextCodec.build(train_pairs, cfg.tokenizer, seed)
        codec.save(model_dir)
    train = encode_pairs(codec, train_pairs, copy_source)
    kept = [ex for ex in train if within_length_limits(ex, cfg)]
    if not kept:
        raise DataError(
            f"data.max_src_len={cfg.max_src_len} / max_tgt_len={cfg.max_tgt_len}: "
            "every training pair is longer; raise the limits"
        )
    if len(kept) < len(train):
        logger.info(
            "dropped %d of %d training pairs over the length limits",
            len(train) - len(kept),
            len(train),
        )
    valid = encode_pairs(codec, valid_pairs, copy_source)
    return TrainingData(codec, kept, valid, valid_pairs)


def encode_pairs(codec: TextCodec, pairs: Sequence[Pair], copy_source: bool) -> list[Example]:
    """Pairs -> id examples; with ``copy_source``, OOV source tokens get extended ids."""
    if copy_source:
        return [encode_copy_example(codec, p) for p in pairs]
    return [(codec.encode_src(p.src), codec.encode_tgt(p.tgt)) for p in pairs]
