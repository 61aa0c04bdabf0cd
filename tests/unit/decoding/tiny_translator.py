"""A Translator over a small, randomly initialised real model and a word-level codec.

For tests of the text-level paths (constraints given as phrases, MBR over detokenized
candidates): the outputs are arbitrary but deterministic, and every word of ``WORDS`` is in
the target vocabulary.
"""

from __future__ import annotations

import torch

from seq2seq.config import ModelConfig, SearchConfig, TokenizerConfig
from seq2seq.data.corpus import Pair
from seq2seq.data.pipeline import TextCodec
from seq2seq.decoding.translator import Translator
from seq2seq.models import build_model

WORDS = ["the", "house", "is", "big", "a", "small", "dog", "cat", "runs", "fast"]
SOURCES = ["la casa es grande", "un perro", "el gato corre", "la casa"]


def tiny_translator(seed: int = 0, **search: object) -> Translator:
    """A Translator whose LSTM model is random (``seed``); ``search`` sets SearchConfig."""
    pairs = [
        Pair(" ".join(SOURCES), " ".join(WORDS), "tiny:1"),
        Pair("un gato", "a cat", "tiny:2"),
    ]
    codec = TextCodec.build(pairs, TokenizerConfig(kind="word", joint=False))
    model_cfg = ModelConfig.model_validate(
        {
            "encoder": {"type": "lstm", "hidden_size": 16, "embedding_size": 8},
            "decoder": {"type": "lstm", "hidden_size": 16, "embedding_size": 8},
            "attention": "luong_general",
        }
    )
    torch.manual_seed(seed)
    model = build_model(model_cfg, len(codec.src_vocab), len(codec.tgt_vocab), 0)
    settings = {"beam_size": 4, "max_len_ratio": 2.0, "max_len_extra": 4, **search}
    return Translator(model, codec, SearchConfig.model_validate(settings))
