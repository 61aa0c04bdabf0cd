"""Writes the pre-tokenized Bible en->es data that the peer toolkits are timed on.

Runs in our own venv: the tokenizer is seq2seq-kit's own joint sentencepiece unigram model
(:class:`seq2seq.data.pipeline.TextCodec`), trained on the built-in ``bible-en-es`` training
split exactly as ``seq2seq train`` would, so every system sees the same pieces. The peers
(``benchmarks/peers/run_peer.py``, in ``benchmarks/.venv-peers``) read what this writes and never
tokenize further::

    DIR/train.src DIR/train.tgt   one training pair per line, pieces separated by spaces
    DIR/test.src                  the first --test-lines sources of the test split
    DIR/vocab.txt                 the joint vocabulary, one piece per line, specials first
                                  (<pad> <unk> <s> </s>)
    DIR/codec/                    the saved TextCodec (reloaded on reruns)

Training pairs longer than ``--max-len`` pieces on either side are dropped, as
``data.max_src_len`` / ``max_tgt_len`` do in the shipped Bible configs. Deterministic: the same
arguments give byte-identical files.

    .venv/bin/python benchmarks/peer_data.py --out runs/peer-data
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from seq2seq.config import TokenizerConfig
from seq2seq.data.builtin import corpus_files
from seq2seq.data.corpus import Pair, read_pairs
from seq2seq.data.pipeline import TextCodec

logger = logging.getLogger("peer_data")

CORPUS = "bible-en-es"


def load_or_build_codec(
    out: Path, train_pairs: list[Pair], cfg: TokenizerConfig, seed: int
) -> TextCodec:
    """Reload ``out/codec`` when it was built with the same settings, else train and save it."""
    codec_dir = out / "codec"
    settings = {"corpus": CORPUS, "tokenizer": cfg.model_dump(), "seed": seed}
    settings_file = codec_dir / "settings.json"
    if settings_file.is_file() and json.loads(settings_file.read_text()) == settings:
        logger.info("reusing the tokenizer in %s", codec_dir)
        return TextCodec.load(codec_dir, cfg)
    logger.info("training a joint sentencepiece %s %d model", cfg.model_type, cfg.vocab_size)
    codec = TextCodec.build(train_pairs, cfg, seed)
    codec_dir.mkdir(parents=True, exist_ok=True)
    codec.save(codec_dir)
    settings_file.write_text(json.dumps(settings, sort_keys=True) + "\n")
    return codec


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write one line per item (UTF-8, ``\\n`` endings); return how many were written."""
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
            count += 1
    return count


def pieces(codec: TextCodec, text: str) -> list[str]:
    """The subword pieces of ``text`` under the joint tokenizer."""
    return codec.src_tokenizer.encode(text)


def write_peer_data(
    out: Path, *, vocab_size: int, max_len: int, test_lines: int, seed: int
) -> dict[str, object]:
    """Write the DIR format described in the module docstring; return a summary."""
    out.mkdir(parents=True, exist_ok=True)
    paths = corpus_files(CORPUS)
    train_pairs = read_pairs(paths["train"])
    test_pairs = read_pairs(paths["test"])
    cfg = TokenizerConfig(
        kind="sentencepiece", model_type="unigram", vocab_size=vocab_size, joint=True
    )
    codec = load_or_build_codec(out, train_pairs, cfg, seed)

    train = [(pieces(codec, p.src), pieces(codec, p.tgt)) for p in train_pairs]
    kept = [(s, t) for s, t in train if 0 < len(s) <= max_len and 0 < len(t) <= max_len]
    n_train = write_lines(out / "train.src", (" ".join(s) for s, _ in kept))
    write_lines(out / "train.tgt", (" ".join(t) for _, t in kept))
    test_src = [" ".join(pieces(codec, p.src)) for p in test_pairs[:test_lines]]
    n_test = write_lines(out / "test.src", test_src)
    n_vocab = write_lines(out / "vocab.txt", codec.src_vocab.tokens)
    return {
        "out": str(out),
        "train_pairs": n_train,
        "dropped_over_max_len": len(train) - n_train,
        "train_src_tokens": sum(len(s) for s, _ in kept),
        "train_tgt_tokens": sum(len(t) for _, t in kept),
        "test_lines": n_test,
        "vocab_size": n_vocab,
    }


def main() -> None:
    """CLI: ``peer_data.py --out DIR``; prints a one-line JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--max-len", type=int, default=120, help="pieces per side, training")
    parser.add_argument("--test-lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    summary = write_peer_data(
        args.out,
        vocab_size=args.vocab_size,
        max_len=args.max_len,
        test_lines=args.test_lines,
        seed=args.seed,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
