"""The Keras-style wrapper: fit reuses the trainer, History matches metrics.jsonl, predict is
the Translator, save/load give an ordinary model directory, and every misuse is a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import seq2seq
from seq2seq import keras
from seq2seq.config import ToyConfig
from seq2seq.data.builtin.toy import generate_pairs
from seq2seq.decoding.translator import Translator
from seq2seq.errors import DataError, InputError, ModelDirError
from seq2seq.models import Seq2Seq as Seq2SeqModule
from seq2seq.training.checkpoint import read_metrics

TOY = ToyConfig(min_len=2, max_len=5, num_symbols=8)
TRAIN = generate_pairs("reverse", 200, TOY, seed=1)  # 7 batches of 32 per epoch
VALID = generate_pairs("reverse", 20, TOY, seed=2)
SMALL = {"type": "lstm", "hidden_size": 16, "embedding_size": 8}
CONFIG: dict[str, Any] = {  # no data source and no budget: the wrapper supplies both
    "data": {"tokenizer": {"kind": "word"}},
    "model": {"encoder": SMALL, "decoder": SMALL, "attention": "luong_general"},
    "train": {"lr": 0.01},
    "search": {"beam_size": 2, "max_len_ratio": 1.0, "max_len_extra": 2},
}


def new_model() -> seq2seq.Seq2Seq:
    return seq2seq.Seq2Seq.from_config(CONFIG, TRAIN)


@pytest.fixture(scope="module")
def fitted() -> tuple[seq2seq.Seq2Seq, seq2seq.History]:
    torch.manual_seed(0)
    model = new_model()
    history = seq2seq.fit(
        model, TRAIN, VALID, epochs=2, metrics=["accuracy", "bleu", "exact_match"], verbose=False
    )
    return model, history


def test_top_level_seq2seq_is_the_wrapper() -> None:
    model = new_model()
    assert seq2seq.Seq2Seq is keras.Seq2Seq
    assert isinstance(model.module, Seq2SeqModule)
    assert model.config.data.train == model.config.data.valid  # the vocabulary pairs, as TSV
    assert (
        Path(model.config.data.train)
        .read_text(encoding="utf-8")
        .startswith(f"{TRAIN[0][0]}\t{TRAIN[0][1]}\n")
    )
    assert model.config.train.max_epochs == 1


def test_from_a_shipped_config_with_overrides() -> None:
    model = seq2seq.Seq2Seq.from_config("toy/reverse-lstm", TRAIN, ["model.attention=bahdanau"])
    assert model.config.model.attention == "bahdanau"
    assert model.config.model.encoder.hidden_size == 64  # from the shipped file
    assert model.config.data.corpus is None
    assert len(model.codec.src_vocab) == 4 + TOY.num_symbols


def test_summary_prints_the_keras_table() -> None:
    lines: list[str] = []
    new_model().summary(print_fn=lines.append)
    assert lines[0].startswith('Model: "Seq2Seq: lstm -> lstm, attention luong_general"')
    assert "Total params:" in lines[0]


def test_fit_history_is_per_epoch_and_matches_metrics_jsonl(
    fitted: tuple[seq2seq.Seq2Seq, seq2seq.History],
) -> None:
    _, history = fitted
    assert history.epoch == [0, 1]
    assert history.params == {"epochs": 2, "steps": 7, "batch_size": 32}
    assert set(history.history) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "val_bleu",
        "val_exact_match",
    }
    records = read_metrics(history.model_dir)
    train_records = [r for r in records if r["kind"] == "train"]
    valid_records = [r for r in records if r["kind"] == "valid"]
    assert [r["step"] for r in train_records] == [7, 14]
    assert [r["epoch"] for r in train_records] == history.epoch
    assert history.history["loss"] == [r["loss"] for r in train_records]
    assert history.history["val_accuracy"] == [r["acc"] for r in valid_records]
    assert history.history["val_exact_match"] == [r["exact"] for r in valid_records]


def test_fit_trains_the_wrapped_module_in_place(
    fitted: tuple[seq2seq.Seq2Seq, seq2seq.History],
) -> None:
    model, history = fitted
    assert model.model_dir == history.model_dir
    last = load_file(history.model_dir / "last.safetensors")
    state = model.module.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in last.items())
    assert model.config.train.optimizer == "adam" and model.config.train.max_epochs == 2
    assert model.config.data.train == str(history.model_dir / "train.tsv")


def test_evaluate_on_the_validation_pairs_equals_the_last_validation(
    fitted: tuple[seq2seq.Seq2Seq, seq2seq.History],
) -> None:
    model, history = fitted
    scores = seq2seq.evaluate(model, VALID, metrics=["accuracy", "perplexity", "exact_match"])
    assert list(scores) == ["loss", "accuracy", "perplexity", "exact_match"]
    assert scores["loss"] == pytest.approx(history.history["val_loss"][-1])
    assert scores["exact_match"] == pytest.approx(history.history["val_exact_match"][-1])
    assert model.evaluate(VALID) == pytest.approx(
        {"loss": scores["loss"], "accuracy": scores["accuracy"]}
    )


def test_predict_is_the_translator(fitted: tuple[seq2seq.Seq2Seq, seq2seq.History]) -> None:
    model, _ = fitted
    sources = [src for src, _ in VALID[:4]]
    translator = Translator(model.module, model.codec, model.config.search)
    assert model.predict(sources) == [t.text for t in translator.translate(sources)]
    greedy = [t.text for t in translator.translate(sources, beam_size=1)]
    assert model.predict(sources, beam_size=1) == greedy


def test_save_gives_a_model_directory_translate_can_use(
    fitted: tuple[seq2seq.Seq2Seq, seq2seq.History], tmp_path: Path
) -> None:
    model, _ = fitted
    saved = model.save(tmp_path / "saved")
    sources = [src for src, _ in VALID[:4]]
    outputs = [t.text for t in Translator.load(saved).translate(sources)]
    assert outputs == model.predict(sources)
    assert seq2seq.Seq2Seq.load(saved).predict(sources) == outputs
    assert {"config.yaml", "model.safetensors", "metrics.jsonl", "train.tsv"} <= {
        p.name for p in saved.iterdir()
    }
    reloaded = seq2seq.Seq2Seq.load(saved)
    assert reloaded.config.data.train == str((saved / "train.tsv").resolve())
    with pytest.raises(ModelDirError, match="already holds a model"):
        model.save(saved)


def test_fit_again_continues_from_the_current_weights(tmp_path: Path) -> None:
    model = new_model()
    model.fit(TRAIN, VALID, epochs=1, verbose=False, model_dir=tmp_path / "first")
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    history = model.fit(TRAIN, VALID, epochs=1, verbose=False, optimizer="rmsprop")
    assert history.epoch == [0] and history.model_dir != tmp_path / "first"
    assert model.config.train.optimizer == "rmsprop"
    after = model.module.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    with pytest.raises(ModelDirError, match="already holds a model"):
        model.fit(TRAIN, VALID, verbose=False, model_dir=tmp_path / "first")


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([], "train_pairs: expected a non-empty list of (source, target) pairs"),
        ([("1 2", "2 1"), ("3", " ")], "train_pairs[1]: the target ' ' must be non-empty text"),
        ([("1\t2", "2 1")], "train_pairs[0]: the source '1\\t2' must be non-empty text"),
        (["1 2"], "train_pairs[0]: expected a (source, target) pair of strings, got '1 2'"),
    ],
)
def test_bad_pairs_name_the_item(pairs: list[Any], message: str) -> None:
    with pytest.raises(DataError) as err:
        seq2seq.fit(new_model(), pairs, VALID)
    assert message in str(err.value)


def test_unknown_metric_lists_the_allowed_ones() -> None:
    with pytest.raises(
        InputError,
        match="metrics: unknown 'f1'; allowed: accuracy, perplexity, bleu, exact_match",
    ):
        seq2seq.fit(new_model(), TRAIN, VALID, metrics=["accuracy", "f1"])


def test_predict_wants_a_list() -> None:
    with pytest.raises(InputError, match=r"wrap one sentence: \[text\]"):
        new_model().predict("1 2 3")


@pytest.mark.parametrize(
    ("argument", "value"),
    [("batch_size", 0), ("batch_size", None), ("batch_size", 2.5), ("epochs", 0), ("epochs", -1)],
)
def test_bad_counts_name_the_argument_and_write_nothing(
    tmp_path: Path, argument: str, value: Any
) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(InputError) as err:
        seq2seq.fit(
            new_model(), TRAIN, VALID, verbose=False, model_dir=run_dir, **{argument: value}
        )
    assert str(err.value) == f"{argument}: got {value!r}; expected a whole number >= 1"
    assert not run_dir.exists()


@pytest.mark.parametrize("under", ["", "sub"], ids=["file", "under-a-file"])
def test_fit_and_save_into_a_file_name_the_file(tmp_path: Path, under: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory\n", encoding="utf-8")
    target = afile / under if under else afile
    model = new_model()
    message = f"{target}: {afile} is a file, not a directory; choose a new output directory"
    with pytest.raises(ModelDirError) as err:
        seq2seq.fit(model, TRAIN, VALID, verbose=False, model_dir=target)
    assert str(err.value) == message
    with pytest.raises(ModelDirError) as err:
        model.save(target)
    assert str(err.value) == message
