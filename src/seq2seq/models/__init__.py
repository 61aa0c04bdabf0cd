"""Builds a :class:`Seq2Seq` from the model section of the config.

One plain dict per component family; grep a config value and you land here.
"""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.config import DecoderConfig, EncoderConfig, ModelConfig
from seq2seq.data.vocab import SPECIALS, UNK
from seq2seq.models.attention import build_attention
from seq2seq.models.coverage import CoverageAttention, CoverageDecoder
from seq2seq.models.pointer import PointerGenerator
from seq2seq.models.rnn import (
    BahdanauDecoder,
    Bridge,
    CopyBridge,
    LinearBridge,
    LuongDecoder,
    RnnDecoder,
    RnnEncoder,
    ZeroBridge,
    make_rnn,
)
from seq2seq.models.seq2seq import Encoder, Seq2Seq
from seq2seq.models.transformer import TransformerDecoder, TransformerEncoder, TransformerShape

__all__ = ["Seq2Seq", "build_model"]


def build_model(cfg: ModelConfig, src_vocab_size: int, tgt_vocab_size: int, pad_id: int) -> Seq2Seq:
    """Wires embeddings, encoder, bridge, attention, decoder and output layer."""
    enc_cfg, dec_cfg = cfg.encoder, cfg.decoder
    src_embed = make_embedding(src_vocab_size, enc_cfg.embedding_size, pad_id)
    tgt_embed = (
        src_embed
        if cfg.share_embeddings
        else make_embedding(tgt_vocab_size, dec_cfg.embedding_size, pad_id)
    )
    encoder = _build_encoder(enc_cfg)
    decoder = (
        _build_transformer_decoder(dec_cfg, encoder.output_size)
        if dec_cfg.type == "transformer"
        else _build_rnn_decoder(cfg, encoder.output_size, enc_cfg.summary_layers)
    )
    generator = nn.Linear(decoder.output_size, tgt_vocab_size)
    if dec_cfg.tie_embeddings:
        generator.weight = tgt_embed.weight
    pointer = None
    if cfg.copy:  # the config checks the vocabulary is joint: source ids are target ids
        pointer = PointerGenerator(
            encoder.output_size,
            decoder.output_size,
            dec_cfg.embedding_size,
            tgt_vocab_size,
            SPECIALS.index(UNK),
        )
    # Dropout on an RNN's input embeddings; a Transformer drops out after adding positions.
    rnn_dropout = dec_cfg.dropout if dec_cfg.type != "transformer" else enc_cfg.dropout
    return Seq2Seq(
        src_embed,
        tgt_embed,
        encoder,
        decoder,
        generator,
        src_dropout=0.0 if enc_cfg.type == "transformer" else rnn_dropout,
        tgt_dropout=0.0 if dec_cfg.type == "transformer" else dec_cfg.dropout,
        pointer=pointer,
    )


def make_embedding(vocab_size: int, dim: int, pad_id: int) -> nn.Embedding:
    """An embedding initialised ``N(0, 1/dim)`` with a zero padding row.

    PyTorch's default ``N(0, 1)`` makes tied output logits ``h . e`` grow with ``sqrt(dim)``:
    the first updates then fight a near one-hot output distribution (initial perplexity far
    above the vocabulary size). Scaled by ``1/sqrt(dim)`` the logits start near uniform.
    """
    embedding = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
    nn.init.normal_(embedding.weight, mean=0.0, std=dim**-0.5)
    with torch.no_grad():
        embedding.weight[pad_id].zero_()
    return embedding


def _build_bridge(
    kind: str, enc_layers: int, enc_width: int, layers: int, hidden: int, has_cell: bool
) -> Bridge:
    bridges = {
        "zero": lambda: ZeroBridge(layers, hidden, has_cell),
        "copy": lambda: CopyBridge(has_cell),
        "linear": lambda: LinearBridge(enc_layers, enc_width, layers, hidden, has_cell),
    }
    return bridges[kind]()


def _transformer_shape(cfg: EncoderConfig | DecoderConfig) -> TransformerShape:
    return TransformerShape(
        d_model=cfg.hidden_size,
        heads=cfg.heads,
        ff_size=cfg.ff_size,
        dropout=cfg.dropout,
        attention_dropout=cfg.attention_dropout,
        activation=cfg.activation,
        pre_norm=cfg.norm == "pre",
    )


def _build_encoder(cfg: EncoderConfig) -> Encoder:
    if cfg.type == "transformer":
        return TransformerEncoder(
            _transformer_shape(cfg),
            cfg.layers,
            cfg.positions,
            cfg.max_positions,
            cfg.scale_embeddings,
        )
    return RnnEncoder(
        cfg.type, cfg.embedding_size, cfg.hidden_size, cfg.layers, cfg.bidirectional, cfg.dropout
    )


def _build_transformer_decoder(cfg: DecoderConfig, enc_width: int) -> TransformerDecoder:
    return TransformerDecoder(
        _transformer_shape(cfg),
        cfg.layers,
        enc_width,
        cfg.positions,
        cfg.max_positions,
        cfg.scale_embeddings,
    )


def _build_rnn_decoder(
    cfg: ModelConfig, enc_width: int, enc_layers: int
) -> RnnDecoder | CoverageDecoder:
    dec = cfg.decoder
    has_cell = dec.type == "lstm"
    bridge = _build_bridge(cfg.bridge, enc_layers, enc_width, dec.layers, dec.hidden_size, has_cell)
    if cfg.coverage:
        return _build_coverage_decoder(cfg, enc_width, bridge)
    attention = build_attention(cfg.attention, dec.hidden_size, enc_width, dec.heads)
    if cfg.attention == "bahdanau":
        rnn = make_rnn(
            dec.type, dec.embedding_size + enc_width, dec.hidden_size, dec.layers, dec.dropout
        )
        return BahdanauDecoder(rnn, bridge, attention, enc_width, dec.dropout)
    feeding = dec.input_feeding and attention is not None
    rnn_input = dec.embedding_size + (dec.hidden_size if feeding else 0)
    rnn = make_rnn(dec.type, rnn_input, dec.hidden_size, dec.layers, dec.dropout)
    return LuongDecoder(rnn, bridge, attention, enc_width, dec.dropout, feeding)


def _build_coverage_decoder(cfg: ModelConfig, enc_width: int, bridge: Bridge) -> CoverageDecoder:
    """``model.coverage``: additive attention with a coverage term (the config allows only
    ``bahdanau``, attending first, and ``luong_concat``, RNN first)."""
    dec = cfg.decoder
    attend_first = cfg.attention == "bahdanau"
    feeding = dec.input_feeding and not attend_first
    extra = enc_width if attend_first else (dec.hidden_size if feeding else 0)
    rnn = make_rnn(dec.type, dec.embedding_size + extra, dec.hidden_size, dec.layers, dec.dropout)
    attention = CoverageAttention(dec.hidden_size, enc_width, dec.hidden_size)
    return CoverageDecoder(rnn, bridge, attention, enc_width, dec.dropout, attend_first, feeding)
