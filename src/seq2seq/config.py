"""Typed configuration, parsed once at the edge.

A YAML file plus ``key=value`` overrides becomes one frozen :class:`Config` here; every problem
(unknown key, wrong type, bad choice) is reported at once, one line per problem naming the key,
the value and what is allowed. Code below the builders receives plain arguments, never a config.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from seq2seq.data.languages import is_language_code
from seq2seq.errors import ConfigError

LayerType = Literal["rnn", "lstm", "gru", "transformer"]
AttentionType = Literal[
    "none", "bahdanau", "luong_dot", "luong_general", "luong_concat", "multihead"
]
Precision = Literal["auto", "fp32", "bf16"]
SearchPrecision = Literal["auto", "fp32", "bf16", "int8"]
MbrMetric = Literal["chrf", "bleu"]


class _Section(BaseModel):
    """Base of every section: unknown keys are errors, values are immutable, and no float may
    be infinite or NaN (no setting has a meaning there; ``inf`` would only overflow later)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TokenizerConfig(_Section):
    kind: Literal["char", "word", "sentencepiece"] = "sentencepiece"
    vocab_size: int = Field(8000, ge=8, description="sentencepiece vocabulary size")
    model_type: Literal["unigram", "bpe"] = "unigram"
    joint: bool = Field(True, description="one tokenizer and vocabulary for both sides")
    max_vocab_size: int | None = Field(None, ge=8, description="cap for word/char vocabularies")
    min_freq: int = Field(1, ge=1)


class ToyConfig(_Section):
    """Sizes of a generated toy task (``data.corpus: toy-reverse`` and friends)."""

    num_train: int = Field(5000, ge=1)
    num_valid: int = Field(200, ge=1)
    num_test: int = Field(200, ge=1)
    min_len: int = Field(3, ge=1)
    max_len: int = Field(10, ge=1)
    num_symbols: int = Field(20, ge=2, le=1000)
    seed: int = 0

    @model_validator(mode="after")
    def _lengths(self) -> ToyConfig:
        if self.min_len > self.max_len:
            raise ValueError(f"min_len ({self.min_len}) must be <= max_len ({self.max_len})")
        return self


class ParallelFiles(_Section):
    """Two line-aligned plain-text files."""

    src: str
    tgt: str


CorpusFile = str | ParallelFiles


class DataConfig(_Section):
    corpus: str | None = Field(None, description="a built-in corpus: see `seq2seq data list`")
    train: CorpusFile | None = Field(None, description="TSV path or {src: path, tgt: path}")
    valid: CorpusFile | None = None
    test: CorpusFile | None = None
    toy: ToyConfig = ToyConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    max_src_len: int = Field(100, ge=1, description="training pairs longer (in tokens) are dropped")
    max_tgt_len: int = Field(100, ge=1)
    skip_bad_lines: bool = False
    task: Literal["translation", "summarization", "qa"] = Field(
        "translation", description="picks the default metrics of `seq2seq evaluate`"
    )
    languages: tuple[str, ...] | None = Field(
        None, min_length=1, description="keep only sources tagged <2xx> for these codes xx"
    )

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, languages: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for code in languages or ():
            if not is_language_code(code):
                raise ValueError(
                    f"{code!r} is not a language code; use 2-3 letters with an optional "
                    "region (de, pt_BR): de keeps the lines tagged <2de>"
                )
        if languages and len(set(languages)) < len(languages):
            raise ValueError("a language is listed twice")
        return languages

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.corpus is None) == (self.train is None):
            raise ValueError("set exactly one of data.corpus (a built-in corpus) or data.train")
        if self.train is not None and self.valid is None:
            raise ValueError("data.valid is required when data.train is given")
        return self


class _StackConfig(_Section):
    """What an encoder and a decoder both have; the Transformer keys apply to that type only."""

    type: LayerType = "lstm"
    layers: int = Field(1, ge=1, le=16)
    hidden_size: int = Field(256, ge=1, description="RNN state size, or d_model")
    embedding_size: int = Field(256, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    heads: int = Field(4, ge=1, description="attention heads (Transformer, multihead)")
    ff_size: int = Field(1024, ge=1, description="Transformer feed-forward width")
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"
    max_positions: int = Field(1024, ge=1, description="longest sequence learned positions cover")
    norm: Literal["pre", "post"] = Field("pre", description="layer norm before/after sublayers")
    activation: Literal["relu", "gelu"] = "relu"
    attention_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    scale_embeddings: bool = Field(True, description="Transformer: embeddings x sqrt(d_model)")

    @model_validator(mode="after")
    def _transformer_shape(self) -> _StackConfig:
        if self.type != "transformer":
            return self
        if self.hidden_size % self.heads:
            raise ValueError(
                f"a Transformer needs hidden_size ({self.hidden_size}) divisible by heads "
                f"({self.heads})"
            )
        if self.embedding_size != self.hidden_size:
            raise ValueError(
                f"a Transformer needs embedding_size ({self.embedding_size}) == hidden_size "
                f"({self.hidden_size}), its d_model"
            )
        return self


class EncoderConfig(_StackConfig):
    bidirectional: bool = Field(False, description="RNN encoders only")

    @model_validator(mode="after")
    def _rnn_only(self) -> EncoderConfig:
        if self.bidirectional and self.type == "transformer":
            raise ValueError("bidirectional applies to RNN encoders; a Transformer sees both ways")
        return self

    @property
    def output_size(self) -> int:
        """Width of the encoder states the decoder attends to."""
        return self.hidden_size * (2 if self.bidirectional else 1)

    @property
    def summary_layers(self) -> int:
        """Layers in ``EncoderOutput.final_hidden`` (a Transformer gives one pooled summary)."""
        return 1 if self.type == "transformer" else self.layers


class DecoderConfig(_StackConfig):
    input_feeding: bool = Field(True, description="feed the last attentional vector back in")
    tie_embeddings: bool = Field(False, description="output layer shares the target embedding")


# ``model.copy`` is the pointer-generator switch's natural name; pydantic warns that it hides
# the deprecated ``BaseModel.copy`` (``model_copy`` replaces it), which nothing here uses.
warnings.filterwarnings(
    "ignore", message='Field name "copy" in "ModelConfig" shadows', category=UserWarning
)


class ModelConfig(_Section):
    encoder: EncoderConfig = EncoderConfig()
    decoder: DecoderConfig = DecoderConfig()
    attention: AttentionType = Field(
        "luong_general", description="default: luong_general (RNN decoder), multihead (Transformer)"
    )
    bridge: Literal["linear", "zero", "copy"] = Field(
        "linear", description="encoder summary -> RNN decoder state (a Transformer has none)"
    )
    share_embeddings: bool = Field(False, description="source and target share one embedding")
    copy: bool = Field(
        False, description="pointer-generator: copy source tokens, OOVs included (joint vocab)"
    )
    coverage: bool = Field(
        False, description="coverage vector in the attention (RNN decoders, additive attention)"
    )

    @model_validator(mode="before")
    @classmethod
    def _attention_default(cls, raw: Any) -> Any:
        """A Transformer decoder attends with multi-head attention unless told otherwise."""
        if isinstance(raw, dict) and "attention" not in raw:
            decoder = raw.get("decoder")
            decoder_type = decoder.get("type") if isinstance(decoder, dict) else None
            if decoder_type == "transformer" or getattr(decoder, "type", None) == "transformer":
                return {**raw, "attention": "multihead"}
        return raw

    @model_validator(mode="after")
    def _compatible(self) -> ModelConfig:
        enc, dec = self.encoder, self.decoder
        enc_width, enc_layers = enc.output_size, enc.summary_layers
        problems = []
        if dec.type == "transformer" and self.attention != "multihead":
            problems.append(
                f"attention {self.attention!r}: a Transformer decoder attends with 'multihead'"
            )
        if self.attention == "multihead" and dec.hidden_size % dec.heads:
            problems.append(
                f"attention 'multihead' needs decoder.hidden_size ({dec.hidden_size}) divisible "
                f"by decoder.heads ({dec.heads})"
            )
        if (
            self.bridge == "copy"
            and dec.type != "transformer"
            and (enc_layers != dec.layers or enc_width != dec.hidden_size)
        ):
            problems.append(
                f"bridge 'copy' needs encoder layers x width ({enc_layers} x {enc_width}) to equal "
                f"decoder layers x hidden_size ({dec.layers} x {dec.hidden_size}); "
                "use bridge 'linear' or 'zero'"
            )
        if self.attention == "luong_dot" and enc_width != dec.hidden_size:
            problems.append(
                f"attention 'luong_dot' needs encoder width ({enc_width}) == decoder hidden_size "
                f"({dec.hidden_size}); use 'luong_general' or 'bahdanau'"
            )
        if self.share_embeddings and enc.embedding_size != dec.embedding_size:
            problems.append(
                "share_embeddings needs encoder.embedding_size == decoder.embedding_size"
            )
        if dec.tie_embeddings and dec.hidden_size != dec.embedding_size:
            problems.append(
                f"decoder.tie_embeddings needs decoder.hidden_size ({dec.hidden_size}) == "
                f"decoder.embedding_size ({dec.embedding_size})"
            )
        problems += _copy_coverage_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _copy_coverage_problems(cfg: ModelConfig) -> list[str]:
    """What ``model.copy`` and ``model.coverage`` need from the rest of the model section."""
    problems = []
    if cfg.copy and cfg.attention == "none":
        problems.append(
            "copy needs attention (its copy distribution); set model.attention, e.g. 'bahdanau'"
        )
    if cfg.coverage and cfg.decoder.type == "transformer":
        problems.append(
            "coverage applies to RNN decoders only; set model.coverage: false for a Transformer "
            "decoder"
        )
    elif cfg.coverage and cfg.attention not in ("bahdanau", "luong_concat"):
        problems.append(
            f"coverage needs an additive attention ('bahdanau' or 'luong_concat'), got "
            f"{cfg.attention!r}"
        )
    return problems


class TrainConfig(_Section):
    # 32 bits, not SearchConfig's 64: besides torch.manual_seed (any uint64), the seed reaches
    # sentencepiece's set_random_generator_seed, which rejects anything above 2**32 - 1.
    seed: int = Field(1234, ge=0, le=2**32 - 1, description="weights, batching, tokenizer seed")
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd / rmsprop momentum")
    adam_betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["constant", "noam", "plateau"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    plateau_factor: float = Field(0.5, gt=0, lt=1)
    plateau_patience: int = Field(2, ge=0, description="validations without improvement")
    min_lr: float = Field(0.0, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    coverage_loss_weight: float = Field(
        0.0, ge=0, description="coverage loss weight (model.coverage; See et al.: 1.0 at the end)"
    )
    clip_grad_norm: float | None = Field(1.0, gt=0)
    batch_size: int | None = Field(None, ge=1, description="sentences per batch (cap)")
    batch_tokens: int | None = Field(4096, ge=1, description="padded tokens per batch (cap)")
    max_steps: int | None = Field(None, ge=0)
    max_epochs: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    valid_every: int = Field(500, ge=1)
    valid_bleu: bool = True
    valid_max_sentences: int | None = Field(500, ge=1, description="sentences decoded for BLEU")
    log_every: int = Field(50, ge=1)
    early_stopping_metric: Literal["loss", "acc", "bleu", "exact"] = Field(
        "loss", description="validation score that picks the best checkpoint and drives patience"
    )
    early_stopping_patience: int | None = Field(None, ge=1)
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: all)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda if present")
    precision: Precision = Field(
        "fp32", description="bf16 autocast (fp32 master weights); auto: bf16 where fast"
    )
    progress: bool = True

    @model_validator(mode="after")
    def _some_budget(self) -> TrainConfig:
        if self.batch_size is None and self.batch_tokens is None:
            raise ValueError("set train.batch_size or train.batch_tokens (or both)")
        if self.max_steps is None and self.max_epochs is None and self.max_minutes is None:
            raise ValueError("set at least one of train.max_steps, max_epochs, max_minutes")
        if self.early_stopping_metric in ("bleu", "exact") and not self.valid_bleu:
            raise ValueError(
                f"early_stopping_metric {self.early_stopping_metric!r} needs valid_bleu: true"
            )
        return self


class SearchConfig(_Section):
    beam_size: int = Field(5, ge=1)
    n_best: int = Field(1, ge=1)
    # ((5 + length) / 6) ** alpha overflows float32 for long outputs once alpha passes ~20.
    length_penalty: float = Field(1.0, ge=0, le=10, description="GNMT alpha; 0 = none")
    max_len_ratio: float = Field(2.0, gt=0, description="max output tokens per source token")
    max_len_extra: int = Field(10, ge=0, description="added to the ratio bound")
    max_len: int = Field(256, ge=1, description="absolute cap on output tokens")
    batch_size: int = Field(32, ge=1, description="sentences decoded together")
    workers: int = Field(
        1, ge=0, le=64, description="CPU: batches decoded at once, single-threaded each (0 = cores)"
    )
    precision: SearchPrecision = Field(
        "fp32",
        description="bf16: bf16 linear layers (CPU; autocast on GPU); int8: int8 linear layers "
        "(CPU); auto: bf16 where fast",
    )
    return_attention: bool = Field(
        False,
        description="keep each output token's attention over the source (Candidate.attention); "
        "off, a Transformer decodes with fused attention only",
    )
    sample: bool = Field(False, description="draw n_best samples instead of beam search")
    temperature: float = Field(1.0, ge=0, description="sampling: <1 sharper, >1 flatter, 0 greedy")
    top_k: int = Field(0, ge=0, description="sampling: keep the k most probable tokens (0 = all)")
    top_p: float = Field(1.0, gt=0, le=1, description="sampling: nucleus mass kept (1 = all)")
    seed: int | None = Field(
        None, ge=0, le=2**64 - 1, description="sampling: seed for reproducible samples"
    )
    length_penalty_type: Literal["none", "average", "gnmt"] = Field(
        "gnmt",
        description="beam ranking: log-prob / 1 (none), / length (average), / GNMT lp (gnmt)",
    )
    coverage_penalty: float = Field(  # beyond float32's range every score would be -inf
        0.0,
        ge=0,
        le=1e6,
        description="GNMT coverage beta (beam search, attentional models); 0 = off",
    )
    min_len: int = Field(0, ge=0, description="fewest output tokens before EOS (EOS not counted)")
    min_len_ratio: float = Field(
        0.0, ge=0, description="fewest output tokens per source token; the larger minimum wins"
    )
    no_repeat_ngram_size: int = Field(
        0, ge=0, description="no n-gram of this size occurs twice in an output; 0 = off"
    )
    early_stopping: bool = Field(
        False,
        description="beam: end a row once no live beam can beat its n_best finished ones",
    )
    mbr: bool = Field(
        False, description="minimum Bayes risk: pick the candidate the others agree with most"
    )
    mbr_candidates: int = Field(
        16, ge=2, description="mbr: candidates compared (samples if sample, else beam n-best)"
    )
    mbr_metric: MbrMetric = Field("chrf", description="mbr: sentence-level utility (sacrebleu)")

    @model_validator(mode="after")
    def _n_best(self) -> SearchConfig:
        if not self.sample and not self.mbr and self.n_best > self.beam_size:
            raise ValueError(f"n_best ({self.n_best}) must be <= beam_size ({self.beam_size})")
        return self

    @model_validator(mode="after")
    def _mbr_n_best(self) -> SearchConfig:
        if self.mbr and self.n_best > self.mbr_candidates:
            raise ValueError(
                f"n_best ({self.n_best}) must be <= mbr_candidates ({self.mbr_candidates}): "
                "MBR returns its candidates ranked by expected utility"
            )
        return self

    @model_validator(mode="after")
    def _min_len(self) -> SearchConfig:
        if self.min_len >= self.max_len:
            raise ValueError(
                f"min_len ({self.min_len}) must be < max_len ({self.max_len}): max_len counts "
                "the EOS token, min_len does not"
            )
        return self


class LogConfig(_Section):
    """Extra training logs; ``metrics.jsonl`` in the model directory is always written."""

    tensorboard: bool = Field(
        False,
        description="also write the metrics and an attention image to MODEL_DIR/tensorboard/",
    )


TRANSFORMER_TRAIN_DEFAULTS: dict[str, Any] = {
    "schedule": "noam",
    "warmup_steps": 1000,
    "adam_betas": (0.9, 0.98),
    "label_smoothing": 0.1,
}


class Config(_Section):
    """The whole resolved configuration; what ``config.yaml`` in a model directory holds."""

    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig
    search: SearchConfig = SearchConfig()
    log: LogConfig = LogConfig()

    @model_validator(mode="before")
    @classmethod
    def _transformer_training_defaults(cls, raw: Any) -> Any:
        """A model with a Transformer side trains, unless told otherwise, the way Transformers
        are usually trained: Noam warm-up (``TRANSFORMER_TRAIN_DEFAULTS``), Adam betas
        (0.9, 0.98) and label smoothing 0.1. Keys the user sets always win."""
        if not isinstance(raw, dict) or not isinstance(raw.get("model"), dict):
            return raw
        sides = (raw["model"].get("encoder"), raw["model"].get("decoder"))
        if not any(isinstance(s, dict) and s.get("type") == "transformer" for s in sides):
            return raw
        train = raw.get("train")
        if not isinstance(train, dict):
            return raw
        defaults = dict(TRANSFORMER_TRAIN_DEFAULTS)
        if "schedule" in train:  # warm-up belongs to the schedule the user chose
            defaults.pop("warmup_steps")
        return {**raw, "train": {**defaults, **train}}

    @model_validator(mode="after")
    def _shared_vocab(self) -> Config:
        if self.model.share_embeddings and not self.data.tokenizer.joint:
            raise ValueError("model.share_embeddings needs data.tokenizer.joint: true")
        if self.model.copy and not self.data.tokenizer.joint:
            raise ValueError(
                "model.copy needs data.tokenizer.joint: true (copied source ids are target ids)"
            )
        if self.train.coverage_loss_weight > 0 and not self.model.coverage:
            raise ValueError(
                f"train.coverage_loss_weight {self.train.coverage_loss_weight} needs "
                "model.coverage: true (or set it to 0)"
            )
        return self


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Config:
    """Reads a YAML file (or a dict), applies ``key=value`` overrides, and validates it.

    Args:
        source: Path of a YAML file, or an already-parsed mapping.
        overrides: Dotted assignments such as ``train.lr=0.0005``; values are parsed as YAML.

    Raises:
        ConfigError: Listing every problem, one per line, each naming the key.
    """
    origin = str(source) if not isinstance(source, dict) else "config"
    raw = _read_yaml(Path(source)) if not isinstance(source, dict) else copy.deepcopy(source)
    for assignment in overrides or []:
        _apply_override(raw, assignment)
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError("\n".join(validation_messages(origin, err))) from None


def config_to_dict(config: Config) -> dict[str, Any]:
    """A plain mapping that :func:`load_config` turns back into an equal ``Config``."""
    return config.model_dump(mode="json")


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        reason = getattr(err, "problem", None) or "not valid UTF-8 YAML"
        raise ConfigError(f"{path}{line}: invalid YAML: {reason}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, model, train, search)")
    return raw


def _apply_override(raw: dict[str, Any], assignment: str) -> None:
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {assignment!r}: expected key=value, e.g. train.lr=0.001")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {assignment!r}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def validation_messages(origin: str, err: ValidationError) -> list[str]:
    """One line per problem in ``err``, each naming ``origin`` and the dotted key."""
    return [_describe(origin, e) for e in err.errors()]


def _describe(origin: str, error: Any) -> str:
    """One line for one pydantic error: ``file: key: value: what is allowed``."""
    loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
    # Union members add their type name to the location; drop it for a readable key.
    loc = [p for p in loc if p not in {"str", "ParallelFiles"}]
    key = ".".join(loc)
    message = error["msg"].removeprefix("Value error, ")
    if not key:  # a rule across keys of the whole object: its message names the keys
        return f"{origin}: {message}"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_section_keys(loc[:-1]))
        return f"{origin}: {key}: unknown key; allowed here: {allowed}"
    if error["type"] == "missing":
        return f"{origin}: {key}: required key is missing"
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" {value!r}:"
    return f"{origin}: {key}:{shown} {message}"


def _section_keys(path: list[str]) -> list[str]:
    """The keys the config section at ``path`` (e.g. ``["model", "encoder"]``) accepts."""
    section: type[BaseModel] = Config
    for part in path:
        annotation = section.model_fields[part].annotation if part in section.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        section = annotation
    return list(section.model_fields)
