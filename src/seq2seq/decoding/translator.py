"""Translator: text in, text out. The one inference path.

The CLI, the evaluation command, validation during training and (later) the server and export
checks all call :meth:`Translator.translate`. It tokenizes, sorts sentences by length so batches
hold similar lengths, runs greedy or beam search over the model's ``decode_step``, restores the
input order and detokenizes.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import Tensor

from seq2seq.config import SearchConfig, validation_messages
from seq2seq.data.batching import pad_sequences
from seq2seq.data.pipeline import TextCodec
from seq2seq.decoding.beam import beam_search
from seq2seq.decoding.ensemble import Ensemble
from seq2seq.decoding.greedy import greedy_search
from seq2seq.decoding.sampling import sample_search
from seq2seq.decoding.search import Hypothesis
from seq2seq.device import autocast, resolve_device, resolve_precision
from seq2seq.errors import InputError
from seq2seq.models.seq2seq import Seq2Seq

logger = logging.getLogger(__name__)

MAX_SOURCE_TOKENS = 1024  # longer inputs are truncated (with a warning), not rejected


@dataclass(frozen=True)
class Candidate:
    """One output hypothesis.

    Attributes:
        text: Detokenized output.
        score: Ranking score (log-probability after the length penalty).
        log_prob: Sum of token log-probabilities.
        tokens: Output subword tokens.
        token_log_probs: Log-probability of each token (EOS last, when produced).
        attention: ``[len(token_log_probs), src_tokens]`` weights, or None.
    """

    text: str
    score: float
    log_prob: float
    tokens: list[str]
    token_log_probs: list[float]
    attention: Tensor | None

    @property
    def confidence(self) -> float:
        """Mean token log-probability (EOS included): comparable across lengths, 0 is certain."""
        return sum(self.token_log_probs) / max(len(self.token_log_probs), 1)

    @property
    def token_probs(self) -> list[float]:
        """Probability of each produced token (EOS last, when produced)."""
        return [math.exp(lp) for lp in self.token_log_probs]


@dataclass(frozen=True)
class Translation:
    """The n-best candidates of one source sentence, best first."""

    source: str
    source_tokens: list[str]
    candidates: list[Candidate]

    @property
    def text(self) -> str:
        return self.candidates[0].text

    @property
    def score(self) -> float:
        return self.candidates[0].score

    @property
    def confidence(self) -> float:
        """The best candidate's mean token log-probability."""
        return self.candidates[0].confidence


class Translator:
    """Runs a trained model on text.

    Args:
        model: A :class:`Seq2Seq` (put in eval mode here).
        codec: The tokenizers and vocabularies the model was trained with.
        search: Default search settings (beam size, length penalty, length limits, batch).
    """

    def __init__(self, model: Seq2Seq, codec: TextCodec, search: SearchConfig) -> None:
        self.model = model.eval()
        self.codec = codec
        self.search = search

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "cpu") -> Translator:
        """Loads ``config.yaml``, tokenizers, vocabularies and the best weights of a model dir.

        Args:
            model_dir: A directory written by ``train``.
            device: ``cpu``, ``cuda`` or ``auto`` (CUDA when available).
        """
        from seq2seq.model_dir import load_model_dir  # local: model_dir imports this module

        config, model, codec = load_model_dir(Path(model_dir))
        return cls(model.to(resolve_device(device, key="device")), codec, config.search)

    @classmethod
    def load_ensemble(cls, model_dirs: Sequence[str | Path], device: str = "cpu") -> Translator:
        """Loads several model directories that decode as one :class:`Ensemble`.

        The members must share their vocabularies; tokenizers and search settings come from
        the first one.

        Raises:
            ModelDirError: A directory is missing or damaged, or a vocabulary differs.
        """
        from seq2seq.model_dir import check_same_vocabulary, load_model_dir

        dirs = [Path(d) for d in model_dirs]
        check_same_vocabulary(dirs, "ensemble members must share their vocabularies")
        loaded = [load_model_dir(d) for d in dirs]
        target = resolve_device(device, key="device")
        ensemble = Ensemble([model.to(target) for _, model, _ in loaded])
        config, _, codec = loaded[0]
        return cls(ensemble, codec, config.search)  # type: ignore[arg-type]

    def translate(self, sources: Sequence[str], **search_overrides: object) -> list[Translation]:
        """Translates ``sources``; keyword arguments override ``SearchConfig`` fields.

        Empty or blank sources give an empty translation (so line alignment is kept).

        Example:
            ``Translator.load("runs/demo").translate(["In the beginning"], beam_size=5)``
        """
        search = self._search_settings(search_overrides)
        results: list[Translation | None] = [None] * len(sources)
        encoded = [self._encode_source(s) for s in sources]
        order = sorted(range(len(sources)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), search.batch_size):
            chunk = order[start : start + search.batch_size]
            for i, cands in zip(
                chunk, self._search([encoded[i] for i in chunk], search), strict=True
            ):
                tokens = self.codec.src_vocab.decode(encoded[i])
                results[i] = Translation(sources[i], tokens, cands)
        return [r for r in results if r is not None]

    def translate_stream(
        self, sources: Iterable[str], chunk_size: int = 1000, **search_overrides: object
    ) -> Iterator[Translation]:
        """Translates an arbitrarily long stream, holding ``chunk_size`` lines at a time."""
        iterator = iter(sources)
        while chunk := list(itertools.islice(iterator, chunk_size)):
            yield from self.translate(chunk, **search_overrides)

    def _search_settings(self, overrides: dict[str, object]) -> SearchConfig:
        unknown = sorted(set(overrides) - set(SearchConfig.model_fields))
        if unknown:
            raise InputError(
                f"unknown search option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(SearchConfig.model_fields)}"
            )
        merged = {
            **self.search.model_dump(),
            **{k: v for k, v in overrides.items() if v is not None},
        }
        try:
            return SearchConfig.model_validate(merged)
        except ValidationError as err:
            raise InputError("; ".join(validation_messages("search", err))) from None

    def _encode_source(self, text: str) -> list[int]:
        ids = self.codec.encode_src(text.strip()) if text.strip() else []
        if len(ids) > MAX_SOURCE_TOKENS:
            logger.warning("source of %d tokens truncated to %d", len(ids), MAX_SOURCE_TOKENS)
            ids = ids[:MAX_SOURCE_TOKENS]
        return ids

    @torch.no_grad()
    def _search(self, batch_ids: list[list[int]], search: SearchConfig) -> list[list[Candidate]]:
        vocab = self.codec.tgt_vocab
        device = next(self.model.parameters()).device
        src, lengths = pad_sequences(
            [[*ids, self.codec.src_vocab.eos_id] for ids in batch_ids], vocab.pad_id
        )
        src, lengths = src.to(device), lengths.to(device)
        max_lengths = torch.tensor(
            [
                min(
                    search.max_len,
                    math.ceil(len(ids) * search.max_len_ratio) + search.max_len_extra,
                )
                for ids in batch_ids
            ],
            device=device,
        )
        kwargs = {"bos_id": vocab.bos_id, "eos_id": vocab.eos_id, "max_lengths": max_lengths}
        precision = resolve_precision(search.precision, device, key="search.precision")
        with autocast(device, precision):
            nbest = self._run_search(src, lengths, search, kwargs)
        return [
            [self._candidate(h) for h in hyps] if ids else [self._empty()] * search.n_best
            for ids, hyps in zip(batch_ids, nbest, strict=True)
        ]

    def _run_search(
        self, src: Tensor, lengths: Tensor, search: SearchConfig, kwargs: dict[str, Any]
    ) -> list[list[Hypothesis]]:
        if search.sample:
            generator = None
            if search.seed is not None:
                generator = torch.Generator(device=src.device).manual_seed(search.seed)
            return sample_search(
                self.model,
                src,
                lengths,
                num_samples=search.n_best,
                temperature=search.temperature,
                top_k=search.top_k,
                top_p=search.top_p,
                generator=generator,
                **kwargs,
            )
        if search.beam_size == 1:
            return [[h] for h in greedy_search(self.model, src, lengths, **kwargs)]
        return beam_search(
            self.model,
            src,
            lengths,
            beam_size=search.beam_size,
            length_penalty=search.length_penalty,
            n_best=search.n_best,
            **kwargs,
        )

    def _candidate(self, hyp: Hypothesis) -> Candidate:
        text, tokens = self.codec.decode_tgt(hyp.tokens)
        return Candidate(text, hyp.score, hyp.log_prob, tokens, hyp.token_log_probs, hyp.attention)

    @staticmethod
    def _empty() -> Candidate:
        return Candidate("", 0.0, 0.0, [], [], None)
