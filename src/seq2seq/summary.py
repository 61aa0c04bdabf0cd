"""A Keras-style ``model.summary()``: layer, output shape and parameters.

Output shapes come from one forward pass over a small dummy batch, observed with forward hooks,
so the table shows what really flows through the model rather than what the config implies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from seq2seq.models.seq2seq import Seq2Seq
from seq2seq.models.transformer import DecoderLayer, EncoderLayer

BLOCKS = (EncoderLayer, DecoderLayer)  # shown as one row each, like a Keras block layer

DUMMY_BATCH, DUMMY_SRC_LEN, DUMMY_TGT_LEN = 2, 7, 5


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: str
    params: int


def layer_rows(model: Seq2Seq) -> list[LayerRow]:
    """One row per layer: modules owning parameters (embeddings, RNNs, linear layers) and
    parameter-free leaves, with each Transformer block shown as one row (its total)."""
    shapes: dict[str, str] = {}
    hooks = []
    for name, module in _row_modules(model):
        hooks.append(module.register_forward_hook(_recorder(shapes, name)))
    src = torch.full((DUMMY_BATCH, DUMMY_SRC_LEN), 4, dtype=torch.long)
    tgt = torch.full((DUMMY_BATCH, DUMMY_TGT_LEN), 4, dtype=torch.long)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(src, torch.full((DUMMY_BATCH,), DUMMY_SRC_LEN), tgt)
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    seen: set[int] = set()
    rows = []
    for name, module in _row_modules(model):
        if name in shapes:
            block = isinstance(module, BLOCKS)
            own = list(module.parameters(recurse=block))
            count = sum(p.numel() for p in own if id(p) not in seen)
            seen.update(id(p) for p in own)
            rows.append(LayerRow(name, type(module).__name__, shapes[name], count))
    return rows


def summary_text(model: Seq2Seq, title: str = "Seq2Seq") -> str:
    """The table as text, with total / trainable / non-trainable parameter counts."""
    rows = layer_rows(model)
    unique = {id(p): p for p in model.parameters()}.values()
    total = sum(p.numel() for p in unique)
    trainable = sum(p.numel() for p in unique if p.requires_grad)
    width_name = max([len(f"{r.name} ({r.kind})") for r in rows] + [20])
    width_shape = max([len(r.output_shape) for r in rows] + [14])
    line_width = width_name + width_shape + 16
    lines = [
        f'Model: "{title}"',
        f"(output shapes for a dummy batch of {DUMMY_BATCH} sentences, "
        f"{DUMMY_SRC_LEN} source / {DUMMY_TGT_LEN} target tokens)",
        "-" * line_width,
        f"{'Layer (type)':<{width_name}}  {'Output Shape':<{width_shape}}  {'Param #':>12}",
        "=" * line_width,
    ]
    for r in rows:
        layer = f"{r.name} ({r.kind})"
        lines.append(f"{layer:<{width_name}}  {r.output_shape:<{width_shape}}  {r.params:>12,}")
    lines += [
        "=" * line_width,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        "-" * line_width,
    ]
    return "\n".join(lines)


def _row_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that get a row, in definition order; nothing inside a block."""
    rows: list[tuple[str, nn.Module]] = []
    inside: tuple[str, ...] = ()
    for name, module in model.named_modules():
        if not name or name.startswith(inside):
            continue
        if isinstance(module, BLOCKS):
            rows.append((name, module))
            inside = (*inside, name + ".")
        elif list(module.parameters(recurse=False)) or not list(module.children()):
            rows.append((name, module))
    return rows


def _recorder(shapes: dict[str, str], name: str):
    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        shapes[name] = _shape_of(output)

    return hook


def _shape_of(output: object) -> str:
    if isinstance(output, Tensor):
        return str(list(output.shape))
    if isinstance(output, PackedSequence):
        return f"packed {list(output.data.shape)}"
    if isinstance(output, tuple | list) and output:
        return _shape_of(output[0])
    return "-"


def summary_for(target: str) -> str:
    """The summary of a model directory, or of the model a config would train.

    For a config, the tokenizer and vocabulary are built from its training split first (as
    ``train`` would), so the embedding and output sizes are the real ones.
    """
    from pathlib import Path

    from seq2seq.config import load_config
    from seq2seq.configs import resolve_config
    from seq2seq.data.pipeline import TextCodec, read_data_split
    from seq2seq.model_dir import load_model_dir
    from seq2seq.models import build_model

    if Path(target).is_dir():
        config, model, _ = load_model_dir(Path(target))
    else:
        config = load_config(resolve_config(target))
        pairs = read_data_split(config.data, "train")  # as train reads it: data.languages
        codec = TextCodec.build(pairs, config.data.tokenizer, config.train.seed)
        model = build_model(
            config.model, len(codec.src_vocab), len(codec.tgt_vocab), codec.tgt_vocab.pad_id
        )
    m = config.model
    title = (
        f"Seq2Seq: {m.encoder.type}{' (bidirectional)' if m.encoder.bidirectional else ''} encoder"
        f" -> {m.decoder.type} decoder, attention {m.attention}"
        + ("" if m.decoder.type == "transformer" else f", bridge {m.bridge}")
    )
    return summary_text(model, title)
