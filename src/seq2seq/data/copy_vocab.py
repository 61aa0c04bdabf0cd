"""Extended vocabulary ids for a pointer-generator (``model.copy``; See et al. 2017).

A copy model can output source tokens that are not in its (joint) vocabulary. Each sentence
gets its own extension: the k-th distinct out-of-vocabulary (OOV) token of the source gets the
id ``len(vocab) + k``. The model embeds those ids as ``<unk>`` but copies them by id; a target
token that is one of its source's OOVs is trained as that id (else it stays ``<unk>``); output
ids ``>= len(vocab)`` are mapped back to the sentence's OOV strings. The numbering depends on
the sentence alone, so a sentence decodes the same alone or in any batch.

Data flow: text -> tokens -> :func:`extend_source` (ids, OOV list) -> model ... -> output ids
-> :func:`decode_extended` -> tokens -> ``Tokenizer.decode`` -> text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from seq2seq.data.corpus import Pair
from seq2seq.data.vocab import Vocab

if TYPE_CHECKING:  # only for annotations: the pipeline imports this module
    from seq2seq.data.pipeline import Example, TextCodec


def extend_source(tokens: Sequence[str], vocab: Vocab) -> tuple[list[int], list[str]]:
    """Source tokens -> extended ids and the sentence's OOV tokens in order of appearance.

    Example: with ``a`` in the vocabulary of size 10, ``["x", "a", "y", "x"]`` gives
    ``([10, id(a), 11, 10], ["x", "y"])``.
    """
    oov_ids: dict[str, int] = {}
    ids = []
    for token in tokens:
        if token in vocab:
            ids.append(vocab.token_to_id(token))
        else:
            ids.append(oov_ids.setdefault(token, len(vocab) + len(oov_ids)))
    return ids, list(oov_ids)


def extend_target(tokens: Sequence[str], vocab: Vocab, oovs: Sequence[str]) -> list[int]:
    """Target tokens -> ids; an OOV token found in ``oovs`` (its source's) gets its extended id,
    any other OOV token ``<unk>``."""
    position = {token: len(vocab) + k for k, token in enumerate(oovs)}
    return [vocab.token_to_id(t) if t in vocab else position.get(t, vocab.unk_id) for t in tokens]


def decode_extended(ids: Sequence[int], vocab: Vocab, oovs: Sequence[str]) -> list[str]:
    """Like :meth:`Vocab.decode` (stops at EOS, drops PAD/BOS), with id ``len(vocab) + k``
    decoded as ``oovs[k]``.

    Raises:
        IndexError: An id is beyond the vocabulary and this sentence's OOVs.
    """
    tokens = []
    for token_id in map(int, ids):
        if token_id == vocab.eos_id:
            break
        if token_id < len(vocab):
            if token_id not in (vocab.pad_id, vocab.bos_id):
                tokens.append(vocab.id_to_token(token_id))
        elif token_id - len(vocab) < len(oovs):
            tokens.append(oovs[token_id - len(vocab)])
        else:
            raise IndexError(
                f"token id {token_id} is beyond the vocabulary ({len(vocab)}) and this "
                f"sentence's {len(oovs)} copied source tokens"
            )
    return tokens


def source_tokens(codec: TextCodec, text: str) -> list[str]:
    """The source tokenizer's tokens of ``text`` (empty for blank text)."""
    return codec.src_tokenizer.encode(text.strip()) if text.strip() else []


def encode_copy_example(codec: TextCodec, pair: Pair) -> Example:
    """A training pair as extended ids (no specials): OOV source tokens numbered per sentence,
    target tokens copied from the source trained as the same ids."""
    src_ids, oovs = extend_source(source_tokens(codec, pair.src), codec.src_vocab)
    tgt_ids = extend_target(codec.tgt_tokenizer.encode(pair.tgt), codec.tgt_vocab, oovs)
    return src_ids, tgt_ids


def decode_copy_target(
    codec: TextCodec, ids: Sequence[int], oovs: Sequence[str]
) -> tuple[str, list[str]]:
    """Output ids -> (detokenized text, tokens), copied OOVs restored as their strings."""
    tokens = decode_extended(ids, codec.tgt_vocab, oovs)
    return codec.tgt_tokenizer.decode(tokens), tokens
