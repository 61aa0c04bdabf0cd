"""Batching: the last step before the model, ids -> padded tensor batches.

Training: examples of ``(src_ids, tgt_ids)`` -> :class:`BucketBatchSampler` groups indices of
similar length under a token budget -> :func:`collate` pads and shifts them into a
:class:`Batch` -> ``Seq2Seq.forward(batch.src, batch.src_lengths, batch.tgt_in)`` ->
logits ``[batch, tgt_len, vocab]`` scored against ``batch.tgt_out``.

The sampler is deterministic for a given ``(seed, epoch)``, so a resumed run recomputes
``batches(epoch)`` and skips to the saved position to continue exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Batch:
    """A padded batch of examples, ready for teacher-forced training.

    Attributes:
        src: Source ids ending in EOS ``[batch, src_len]`` long, padded with ``pad_id``.
        src_lengths: Real source lengths (EOS included) ``[batch]`` long.
        tgt_in: Decoder input, BOS + target ids ``[batch, tgt_len]`` long, padded.
        tgt_out: Decoder output to predict, target ids + EOS ``[batch, tgt_len]`` long, padded.
        pad_id: The id used for padding (0 with :class:`~seq2seq.data.vocab.Vocab`).
    """

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    pad_id: int = 0

    def to(self, device: torch.device | str) -> Batch:
        """Return a copy with every tensor on ``device``."""
        return Batch(
            src=self.src.to(device),
            src_lengths=self.src_lengths.to(device),
            tgt_in=self.tgt_in.to(device),
            tgt_out=self.tgt_out.to(device),
            pad_id=self.pad_id,
        )

    @property
    def num_src_tokens(self) -> int:
        """Number of real (non-pad) source tokens, EOS included."""
        return int(self.src_lengths.sum())

    @property
    def num_tgt_tokens(self) -> int:
        """Number of real tokens to predict (non-pad positions of ``tgt_out``)."""
        return int((self.tgt_out != self.pad_id).sum())

    def __len__(self) -> int:
        return self.src.size(0)


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad sequences of ids into one tensor.

    Args:
        seqs: ``n`` sequences of ids.
        pad_id: Fill value for positions past a sequence's end.

    Returns:
        ``(padded [n, max_len] long, lengths [n] long)``.
    """
    lengths = torch.tensor([len(seq) for seq in seqs], dtype=torch.long)
    max_len = int(lengths.max()) if len(seqs) else 0
    padded = torch.full((len(seqs), max_len), pad_id, dtype=torch.long)
    for row, seq in enumerate(seqs):
        padded[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return padded, lengths


def collate(
    examples: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    pad_id: int,
    bos_id: int,
    eos_id: int,
) -> Batch:
    """Pad examples into a :class:`Batch`, adding the specials.

    Args:
        examples: ``(src_ids, tgt_ids)`` pairs without specials.
        pad_id: Padding id.
        bos_id: Start-of-sentence id, prepended to ``tgt_in``.
        eos_id: End-of-sentence id, appended to ``src`` and ``tgt_out``.

    Returns:
        A batch with ``src [batch, max_src+1]`` and ``tgt_in``/``tgt_out [batch, max_tgt+1]``,
        where ``tgt_in[:, 1:] == tgt_out[:, :-1]`` on real positions (teacher forcing shift).

    Raises:
        ValueError: ``examples`` is empty.
    """
    if not examples:
        raise ValueError("cannot collate an empty list of examples")
    src, src_lengths = pad_sequences([[*s, eos_id] for s, _ in examples], pad_id)
    tgt_in, _ = pad_sequences([[bos_id, *t] for _, t in examples], pad_id)
    tgt_out, _ = pad_sequences([[*t, eos_id] for _, t in examples], pad_id)
    return Batch(src, src_lengths, tgt_in, tgt_out, pad_id=pad_id)


class BucketBatchSampler:
    """Deterministic, resumable batches of example indices, similar lengths together.

    Grouping examples of similar length keeps padding small; a token budget keeps the batch
    memory roughly constant whatever the sentence lengths.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        *,
        batch_size: int | None = None,
        batch_tokens: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        bucket_factor: int = 100,
    ) -> None:
        """Create a sampler.

        Args:
            lengths: Per example, ``max(src_len, tgt_len) + 1`` (the padded row length).
            batch_size: Maximum number of examples per batch.
            batch_tokens: Maximum padded tokens per batch: ``len(batch) * max length in
                batch``. A single example longer than this still forms its own batch.
            shuffle: Shuffle within buckets and the order of batches (per epoch).
            seed: Base seed; combined with the epoch number.
            bucket_factor: A bucket (sorted by length) holds about this many batches.

        Raises:
            ValueError: Neither limit given, or a limit, factor or length is not positive.
        """
        if batch_size is None and batch_tokens is None:
            raise ValueError("give batch_size, batch_tokens or both")
        for name, value in (("batch_size", batch_size), ("batch_tokens", batch_tokens)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if bucket_factor < 1:
            raise ValueError(f"bucket_factor must be at least 1, got {bucket_factor}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        if self.lengths.numel() and int(self.lengths.min()) < 1:
            raise ValueError("every example length must be at least 1")
        self._length_list: list[int] = self.lengths.tolist()
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_factor = bucket_factor

    def batches(self, epoch: int) -> list[list[int]]:
        """Return this epoch's batches; every index appears exactly once.

        The same ``(seed, epoch)`` always gives the same list. With ``shuffle=False`` the
        batches follow a stable sort by length and ``epoch`` is ignored.
        """
        if not self.shuffle:
            order = torch.sort(self.lengths, stable=True).indices
            return self._pack(order.tolist())
        generator = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
        permuted = torch.randperm(len(self.lengths), generator=generator)
        chunk = self.bucket_factor * self._examples_per_batch()
        batches: list[list[int]] = []
        for bucket in permuted.split(chunk):
            # Stable sort keeps the random order among equal lengths.
            by_length = torch.sort(self.lengths[bucket], stable=True).indices
            batches.extend(self._pack(bucket[by_length].tolist()))
        batch_order = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in batch_order]

    def _examples_per_batch(self) -> int:
        """Typical number of examples in one batch, used to size the buckets."""
        if self.batch_tokens is None or not len(self.lengths):
            return self.batch_size or 1
        mean_length = float(self.lengths.float().mean())
        estimate = max(1, int(self.batch_tokens / mean_length))
        return min(estimate, self.batch_size) if self.batch_size else estimate

    def _pack(self, indices: list[int]) -> list[list[int]]:
        """Cut length-sorted ``indices`` greedily into batches that respect both limits."""
        lengths = self._length_list
        batches: list[list[int]] = []
        current: list[int] = []
        current_max = 0
        for index in indices:
            new_max = max(current_max, lengths[index])
            too_many = self.batch_size is not None and len(current) + 1 > self.batch_size
            too_big = self.batch_tokens is not None and (len(current) + 1) * new_max > (
                self.batch_tokens
            )
            if current and (too_many or too_big):
                batches.append(current)
                current, new_max = [], lengths[index]
            current.append(index)
            current_max = new_max
        if current:
            batches.append(current)
        return batches


def _epoch_seed(seed: int, epoch: int) -> int:
    """Combine seed and epoch into one non-negative 63-bit generator seed."""
    return (seed * 1_000_003 + epoch) % (2**63)
