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
import types
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import Tensor, nn

from seq2seq.config import SearchConfig, validation_messages
from seq2seq.data.batching import pad_sequences
from seq2seq.data.constraints import check_unicode, encode_phrases
from seq2seq.data.copy_vocab import (
    decode_copy_target,
    decode_extended,
    extend_source,
    source_tokens,
)
from seq2seq.data.pipeline import TextCodec
from seq2seq.decoding.beam import beam_search
from seq2seq.decoding.constrained import constrained_beam_search
from seq2seq.decoding.ensemble import Ensemble
from seq2seq.decoding.greedy import greedy_search
from seq2seq.decoding.mbr import candidate_settings, mbr_ranking
from seq2seq.decoding.packed import packed_copy, packing_available
from seq2seq.decoding.quantize import int8_copy
from seq2seq.decoding.rules import length_and_repeat_rules, min_output_lengths
from seq2seq.decoding.sampling import sample_search
from seq2seq.decoding.search import Hypothesis
from seq2seq.decoding.workers import map_in_workers
from seq2seq.device import autocast, resolve_device, resolve_precision
from seq2seq.errors import InputError
from seq2seq.host_memory import keep_freed_memory
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
        mbr_utility: With ``search.mbr``, the mean chrF/BLEU against the other candidates
            (``mbr.py``); else None.
    """

    text: str
    score: float
    log_prob: float
    tokens: list[str]
    token_log_probs: list[float]
    attention: Tensor | None
    mbr_utility: float | None = None

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


def check_texts(items: object, name: str, item: str, *, of: type | types.UnionType = str) -> None:
    """Raises InputError unless ``items`` is a list (not a str) of ``of`` values, every str
    among them encodable as UTF-8 (no lone surrogates, as from a JSON ``"\\udce9"`` escape).

    A str is itself a sequence of one-character strs: passed where a list of sentences or
    phrases belongs it would otherwise be translated character by character.
    """
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise InputError(
            f"{name}: expected a list of {item}s, got {type(items).__name__} "
            f"{str(items)[:40]!r}"
            + (f"; for one {item} pass [text]" if isinstance(items, str) else "")
        )
    for number, value in enumerate(items):
        if not isinstance(value, of):
            raise InputError(
                f"{name}: item {number} is {type(value).__name__} {value!r:.40}, not a {item}"
            )
        if isinstance(value, str):
            check_unicode(value, f"{name}: item {number}")


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
        # A pointer-generator reads per-sentence extended ids and may output copied OOVs.
        self.copies = getattr(model, "pointer", None) is not None
        self._int8_model: nn.Module | None = None  # made on the first int8 search
        self._packed_model: nn.Module | None = None  # made on the first fp32 CPU search
        self._bf16_model: nn.Module | None = None  # made on the first bf16 CPU search

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
            InputError: Fewer than two directories, or a copy model among them.
        """
        from seq2seq.model_dir import check_same_vocabulary, load_model_dir

        if isinstance(model_dirs, str | Path) or len(model_dirs) < 2:
            raise InputError(
                f"load_ensemble needs a list of two or more model directories, got {model_dirs!r}"
                " (one model: Translator.load)"
            )
        dirs = [Path(d) for d in model_dirs]
        check_same_vocabulary(dirs, "ensemble members must share their vocabularies")
        loaded = [load_model_dir(d) for d in dirs]
        target = resolve_device(device, key="device")
        ensemble = Ensemble([model.to(target) for _, model, _ in loaded])
        config, _, codec = loaded[0]
        return cls(ensemble, codec, config.search)  # type: ignore[arg-type]

    def translate(
        self,
        sources: Sequence[str],
        *,
        constraints: Sequence[Sequence[str]] | None = None,
        **search_overrides: object,
    ) -> list[Translation]:
        """Translates ``sources``; keyword arguments override ``SearchConfig`` fields.

        Empty or blank sources give an empty translation (so line alignment is kept; their
        constraints are ignored). With ``search.mbr`` the candidates are ranked by minimum
        Bayes risk (``mbr.py``).

        Args:
            sources: Source sentences.
            constraints: Per source, target phrases its output must contain (lexically
                constrained beam search, ``constrained.py``; ``[]`` for none).

        Example:
            ``Translator.load("runs/demo").translate(["In the beginning"], beam_size=5)``
        """
        check_texts(sources, "sources", "sentence")
        search = self._search_settings(search_overrides)
        phrase_ids = self._constraint_ids(sources, constraints, search)
        generation = candidate_settings(search) if search.mbr else search
        encoded = [self._encode_source(s) for s in sources]  # (ids, copyable OOVs) each
        # Longest first: batches of similar lengths pad little, and with several workers the
        # last batches to start are the shortest, so no worker idles long at the end.
        order = sorted(range(len(sources)), key=lambda i: len(encoded[i][0]), reverse=True)
        size = search.batch_size
        chunks = [order[start : start + size] for start in range(0, len(order), size)]

        model = self._model_for(search)
        if self._device().type == "cpu":
            keep_freed_memory()  # no page faults re-mapping each step's logits (host_memory.py)

        def decode(chunk: list[int]) -> list[list[Candidate]]:
            phrases = [phrase_ids[i] for i in chunk] if phrase_ids else None
            return self._search(
                model,
                [encoded[i][0] for i in chunk],
                generation,
                [encoded[i][1] for i in chunk],
                phrases if phrases and any(phrases) else None,
            )

        results: list[Translation | None] = [None] * len(sources)
        decoded = map_in_workers(decode, chunks, self._workers(search))
        for chunk, chunk_candidates in zip(chunks, decoded, strict=True):
            for i, cands in zip(chunk, chunk_candidates, strict=True):
                if search.mbr:
                    cands = _rank_by_mbr(cands, search)
                ids, oovs = encoded[i]
                tokens = decode_extended(ids, self.codec.src_vocab, oovs)
                results[i] = Translation(sources[i], tokens, cands)
        return [r for r in results if r is not None]

    def translate_stream(
        self,
        sources: Iterable[str],
        chunk_size: int = 1000,
        *,
        constraints: Iterable[Sequence[str]] | None = None,
        **search_overrides: object,
    ) -> Iterator[Translation]:
        """Translates an arbitrarily long stream, holding ``chunk_size`` lines at a time;
        ``constraints``, when given, is a parallel stream of per-source phrase lists."""
        if isinstance(sources, str):
            check_texts(sources, "sources", "sentence")  # raises: one str, not a stream of them
        iterator = iter(sources)
        phrase_lists = None if constraints is None else iter(constraints)
        while chunk := list(itertools.islice(iterator, chunk_size)):
            chunk_phrases = (
                None if phrase_lists is None else list(itertools.islice(phrase_lists, len(chunk)))
            )
            yield from self.translate(chunk, constraints=chunk_phrases, **search_overrides)
        if phrase_lists is not None and next(phrase_lists, None) is not None:
            raise InputError("more constraint lists than sources: give one list per source")

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

    def _constraint_ids(
        self,
        sources: Sequence[str],
        constraints: Sequence[Sequence[str]] | None,
        search: SearchConfig,
    ) -> list[list[list[int]]] | None:
        """Per source, its phrases as target ids (None without constraints)."""
        if constraints is None:
            return None
        check_texts(constraints, "constraints", "list of phrases", of=list | tuple)
        for number, phrases in enumerate(constraints):
            check_texts(phrases, f"constraints of source {number}", "phrase")
        if len(constraints) != len(sources):
            raise InputError(
                f"{len(constraints)} constraint lists for {len(sources)} sources: give one "
                "list of phrases per source ([] for none)"
            )
        if search.sample and any(constraints):
            raise InputError(
                "constraints need beam search, not sampling: set search.sample to false"
            )
        return [
            encode_phrases(self.codec, source, phrases)
            for source, phrases in zip(sources, constraints, strict=True)
        ]

    def _encode_source(self, text: str) -> tuple[list[int], list[str]]:
        """Source ids, and for a copy model its out-of-vocabulary tokens (extended ids
        ``V, V+1, ...`` in ``ids``); ``[]`` for other models."""
        oovs: list[str] = []
        if self.copies:
            ids, oovs = extend_source(source_tokens(self.codec, text), self.codec.src_vocab)
        else:
            ids = self.codec.encode_src(text.strip()) if text.strip() else []
        if len(ids) > MAX_SOURCE_TOKENS:
            logger.warning("source of %d tokens truncated to %d", len(ids), MAX_SOURCE_TOKENS)
            ids = ids[:MAX_SOURCE_TOKENS]
        return ids, oovs

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _workers(self, search: SearchConfig) -> int:
        """Batches decoded at once: ``search.workers`` on a CPU (0: one per intra-op thread);
        on a GPU one, since batches there already run in parallel inside each kernel."""
        if self._device().type != "cpu":
            return 1
        return search.workers or torch.get_num_threads()

    def _model_for(self, search: SearchConfig) -> nn.Module:
        """The model that decodes, made on first use and kept:

        - ``search.precision: int8``: its int8 copy (weights changed afterwards are not seen);
        - fp32 on a CPU: its copy whose linear layers use weights prepared once (``packed.py``:
          oneDNN-packed or transposed by size; it shares the weights and prepares them again
          when they change);
        - bf16 on a CPU with oneDNN bf16 kernels: the same copy with bf16 weights for every
          linear layer, the rest in fp32 (searched without autocast: the layers do bf16);
        - otherwise ``self.model`` (bf16 elsewhere: under autocast).
        """
        device = self._device()
        precision = resolve_precision(search.precision, device, key="search.precision")
        if precision == "int8":
            if self._int8_model is None:
                self._int8_model = int8_copy(self.model)
            return self._int8_model
        if precision == "fp32" and device.type == "cpu" and packing_available():
            if self._packed_model is None:
                self._packed_model = packed_copy(self.model)
            return self._packed_model
        if precision == "bf16" and device.type == "cpu" and packing_available(torch.bfloat16):
            if self._bf16_model is None:
                self._bf16_model = packed_copy(self.model, torch.bfloat16)
            return self._bf16_model
        return self.model

    @torch.no_grad()
    def _search(
        self,
        model: nn.Module,
        batch_ids: list[list[int]],
        search: SearchConfig,
        batch_oovs: Sequence[Sequence[str]] | None = None,
        batch_phrases: list[list[list[int]]] | None = None,
    ) -> list[list[Candidate]]:
        """Decodes one batch with ``model`` (``self.model`` or its int8 copy)."""
        vocab = self.codec.tgt_vocab
        device = self._device()
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
        min_lengths = min_output_lengths(
            [len(ids) for ids in batch_ids], search.min_len, search.min_len_ratio, max_lengths
        )
        rules = length_and_repeat_rules(vocab.eos_id, min_lengths, search.no_repeat_ngram_size)
        kwargs = {
            "bos_id": vocab.bos_id,
            "eos_id": vocab.eos_id,
            "max_lengths": max_lengths,
            "rules": rules,
            "attention": search.return_attention,
        }
        precision = resolve_precision(search.precision, device, key="search.precision")
        # the bf16-packed copy computes its products in bf16 itself; all else stays fp32
        with autocast(device, "fp32" if model is self._bf16_model else precision):
            nbest = self._run_search(model, src, lengths, search, kwargs, batch_phrases)
        batch_oovs = batch_oovs or [()] * len(batch_ids)
        return [
            [self._candidate(h, oovs) for h in hyps] if ids else [self._empty()] * search.n_best
            for ids, hyps, oovs in zip(batch_ids, nbest, batch_oovs, strict=True)
        ]

    def _run_search(
        self,
        model: nn.Module,
        src: Tensor,
        lengths: Tensor,
        search: SearchConfig,
        kwargs: dict[str, Any],
        phrases: list[list[list[int]]] | None = None,
    ) -> list[list[Hypothesis]]:
        beam = {  # what plain and constrained beam search both take from the settings
            "beam_size": search.beam_size,
            "length_penalty": search.length_penalty,
            "n_best": search.n_best,
            "length_penalty_type": search.length_penalty_type,
            "coverage_penalty": search.coverage_penalty,
        }
        if phrases is not None:
            return constrained_beam_search(
                model, src, lengths, constraints=phrases, **beam, **kwargs
            )
        if search.sample:
            generator = None
            if search.seed is not None:
                generator = torch.Generator(device=src.device).manual_seed(search.seed)
            return sample_search(
                model,
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
            return [[h] for h in greedy_search(model, src, lengths, **kwargs)]
        return beam_search(
            model,
            src,
            lengths,
            early_stopping=search.early_stopping,
            **beam,
            **kwargs,
        )

    def _candidate(self, hyp: Hypothesis, oovs: Sequence[str] = ()) -> Candidate:
        """``oovs``: the source's copied OOV tokens, for a copy model's extended ids."""
        if oovs:
            text, tokens = decode_copy_target(self.codec, hyp.tokens, oovs)
        else:
            text, tokens = self.codec.decode_tgt(hyp.tokens)
        return Candidate(text, hyp.score, hyp.log_prob, tokens, hyp.token_log_probs, hyp.attention)

    @staticmethod
    def _empty() -> Candidate:
        return Candidate("", 0.0, 0.0, [], [], None)


def _rank_by_mbr(candidates: list[Candidate], search: SearchConfig) -> list[Candidate]:
    """The ``search.n_best`` candidates of highest MBR expected utility, best first."""
    ranking = mbr_ranking([c.text for c in candidates], search.mbr_metric)
    return [replace(candidates[i], mbr_utility=u) for i, u in ranking[: search.n_best]]
