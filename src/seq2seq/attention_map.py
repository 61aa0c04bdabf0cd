"""Cross-attention of one translation, per decoder layer and head: what ``plot attention`` draws.

The output comes from the one inference path, :meth:`Translator.translate` (greedy or beam, the
chosen hypothesis). That output is then teacher-forced through
:meth:`seq2seq.models.seq2seq.Seq2Seq.cross_attention_weights`, which returns the weights of
every decoder layer and head; search itself keeps only one ``[T, S]`` map per hypothesis. For a
single-layer RNN decoder the teacher-forced map equals the one search recorded (a test checks
it), because teacher forcing and ``decode_step`` run the same decoder code.

Rows are the produced target tokens (EOS last when it was produced), columns the source tokens
the model saw (EOS last): row ``t`` is the attention used to produce token ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seq2seq.decoding.translator import Translator
from seq2seq.errors import InputError, Seq2SeqError

AVERAGE = "avg"
NO_ATTENTION = "model has no attention (model.attention: none)"


@dataclass(frozen=True)
class AttentionMap:
    """The attention behind one translation.

    Attributes:
        source: The input sentence.
        output: The translation (detokenized).
        src_tokens: Column labels: the source subword pieces, then ``</s>`` (``S`` labels).
        tgt_tokens: Row labels: the produced pieces, then ``</s>`` if produced (``T`` labels).
        weights: ``[layers, heads, T, S]`` float CPU tensor; each row sums to 1.
        beam_size: The beam size that produced ``output`` (1 = greedy).
    """

    source: str
    output: str
    src_tokens: list[str]
    tgt_tokens: list[str]
    weights: Tensor
    beam_size: int

    @property
    def num_layers(self) -> int:
        return self.weights.size(0)

    @property
    def num_heads(self) -> int:
        return self.weights.size(1)

    def select(
        self, layer: int | str | None = None, head: int | str | None = None
    ) -> tuple[Tensor, str]:
        """One ``[T, S]`` map and a caption naming what it shows.

        Args:
            layer: A decoder layer ``0 .. layers-1``, ``"avg"`` (mean over layers), or None for
                the last layer (the one closest to the output).
            head: A head ``0 .. heads-1``, ``"avg"``, or None for the mean over heads.

        Raises:
            InputError: ``layer`` or ``head`` is not ``avg`` or an index in range; the message
                names the ``--layer`` / ``--head`` flag, the value and the allowed range.
        """
        layer_index = _index("--layer", layer, self.num_layers, default=self.num_layers - 1)
        head_index = _index("--head", head, self.num_heads, default=AVERAGE)
        weights = self.weights  # [L, H, T, S]
        weights = weights.mean(0) if layer_index == AVERAGE else weights[layer_index]  # [H, T, S]
        weights = weights.mean(0) if head_index == AVERAGE else weights[head_index]  # [T, S]
        return weights, _caption(layer_index, head_index, self.num_layers, self.num_heads)


def attention_map(
    translator: Translator, source: str, beam_size: int | None = None
) -> AttentionMap:
    """Translates ``source`` and explains the chosen output with every layer's attention.

    Args:
        translator: The model, its tokenizers and its default search settings.
        source: One input sentence.
        beam_size: Beam size for the translation (default: the model's ``search.beam_size``).

    Raises:
        InputError: The source is blank, or the model has no attention.
    """
    if not source.strip():
        raise InputError("the source sentence is empty; give the text to translate")
    translation = translator.translate(
        [source], beam_size=beam_size, n_best=1, return_attention=True
    )[0]
    best = translation.candidates[0]
    if best.attention is None:
        raise InputError(NO_ATTENTION)
    codec = translator.codec
    src_ids = [*codec.encode_src(source.strip()), codec.src_vocab.eos_id]
    # Row t explains output token t; EOS is a row only when search produced it.
    rows = len(best.token_log_probs)
    tgt_ids = codec.tgt_vocab.encode(best.tokens)
    tgt_in = [codec.tgt_vocab.bos_id, *tgt_ids][:rows]
    weights = teacher_forced_attention(translator, src_ids, tgt_in)  # [L, H, T, S]
    tgt_labels = [*best.tokens, codec.tgt_vocab.id_to_token(codec.tgt_vocab.eos_id)][:rows]
    src_labels = [*codec.src_vocab.decode(src_ids), codec.src_vocab.id_to_token(src_ids[-1])]
    used_beam = beam_size if beam_size is not None else translator.search.beam_size
    return AttentionMap(source, best.text, src_labels, tgt_labels, weights, used_beam)


def teacher_forced_attention(
    translator: Translator, src_ids: list[int], tgt_in: list[int]
) -> Tensor:
    """``[layers, heads, T, S]`` cross-attention for one source and decoder input.

    Args:
        src_ids: ``S`` source ids, EOS included.
        tgt_in: ``T`` decoder inputs: BOS, then the output tokens (without the last one when
            it is EOS, which is predicted but never fed back).

    The model's train/eval mode is restored afterwards: validation calls this in the middle of
    training, where dropout must stay on for the next step.
    """
    model = translator.model
    device = next(model.parameters()).device
    src = torch.tensor([src_ids], device=device)  # [1, S]
    src_lengths = torch.tensor([len(src_ids)], device=device)  # [1]
    tgt = torch.tensor([tgt_in], device=device)  # [1, T]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            weights = model.cross_attention_weights(src, src_lengths, tgt)  # [L, H, 1, T, S]
    except Seq2SeqError:
        raise InputError(NO_ATTENTION) from None
    finally:
        model.train(was_training)
    return weights[:, :, 0].float().cpu()


def _index(flag: str, value: int | str | None, count: int, default: int | str) -> int | str:
    """``value`` as an index in ``[0, count)`` or ``"avg"``; None gives ``default``."""
    if value is None:
        return default
    text = str(value).strip().lower()
    if text == AVERAGE:
        return AVERAGE
    allowed = f"allowed: {_allowed(count)} or {AVERAGE}"
    if not text.lstrip("-").isdigit():
        raise InputError(f"{flag} {value}: not a number; {allowed}")
    if not 0 <= int(text) < count:
        noun = "decoder layer" if flag == "--layer" else "attention head"
        plural = "" if count == 1 else "s"
        raise InputError(
            f"{flag} {value}: out of range: this model has {count} {noun}{plural}; {allowed}"
        )
    return int(text)


def _allowed(count: int) -> str:
    return "0" if count == 1 else f"0..{count - 1}"


def _caption(layer: int | str, head: int | str, layers: int, heads: int) -> str:
    """E.g. ``layer 2 (of 3), mean of 4 heads``; a single layer or head is not mentioned."""
    parts = []
    if layers > 1:
        parts.append(
            f"mean of {layers} layers" if layer == AVERAGE else f"layer {layer} (of {layers})"
        )
    if heads > 1:
        parts.append(f"mean of {heads} heads" if head == AVERAGE else f"head {head} (of {heads})")
    return ", ".join(parts) or "attention"
