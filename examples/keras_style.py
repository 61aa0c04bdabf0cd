"""The Keras LSTM seq2seq example, in seq2seq-kit's Keras-style API.

Mirrors Keras' "Character-level recurrent sequence-to-sequence model" (``lstm_seq2seq.py``):
an LSTM encoder of 256 units whose final states start an LSTM decoder of 256 units (no
attention), a softmax output layer, RMSprop, categorical cross-entropy and the accuracy metric,
batches of 64. Instead of English -> French it learns the toy reversal task ("3 1 4" -> "4 1 3"),
which such a model learns in well under a minute on one CPU thread.

Run: ``python examples/keras_style.py [SAVE_DIR]``; then ``seq2seq translate SAVE_DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import seq2seq
from seq2seq.config import ToyConfig
from seq2seq.data.builtin.toy import generate_pairs

SEED = 1
TOY = ToyConfig(min_len=3, max_len=6, num_symbols=10)

# The Keras example's model, as a config: latent_dim = 256, encoder states -> decoder states.
CONFIG = {
    "data": {"tokenizer": {"kind": "word"}},  # one token per symbol (Keras: one per character)
    "model": {
        "encoder": {"type": "lstm", "hidden_size": 256, "embedding_size": 32},
        "decoder": {
            "type": "lstm",
            "hidden_size": 256,
            "embedding_size": 32,
            "input_feeding": False,
        },
        "attention": "none",
        "bridge": "copy",  # Keras: initial_state=encoder_states
    },
    "train": {"seed": SEED, "clip_grad_norm": None, "label_smoothing": 0.0},
    "search": {"beam_size": 1, "max_len_ratio": 1.0, "max_len_extra": 2},
}


def main(save_dir: Path | None = None) -> dict[str, float]:
    """Trains, prints the summary, history and a few predictions; returns the test scores."""
    torch.manual_seed(SEED)
    train_pairs = generate_pairs("reverse", 3000, TOY, seed=SEED)
    valid_pairs = generate_pairs("reverse", 200, TOY, seed=SEED + 1)
    test_pairs = generate_pairs("reverse", 200, TOY, seed=SEED + 2)

    model = seq2seq.Seq2Seq.from_config(CONFIG, train_pairs)
    model.summary()
    history = seq2seq.fit(
        model,
        train_pairs,
        valid_pairs,
        epochs=15,
        batch_size=64,
        optimizer="rmsprop",
        learning_rate=0.003,
        metrics=["accuracy"],
        verbose=False,
    )
    for epoch in history.epoch:
        row = " - ".join(f"{name}: {values[epoch]:.4f}" for name, values in history.history.items())
        print(f"Epoch {epoch + 1}/{history.params['epochs']} - {row}")

    sources = [src for src, _ in test_pairs[:5]]
    for source, output in zip(sources, model.predict(sources), strict=True):
        print(f"{source:>16}  ->  {output}")
    scores = seq2seq.evaluate(model, test_pairs, metrics=["accuracy", "exact_match"])
    print("test:", ", ".join(f"{name} {value:.4f}" for name, value in scores.items()))
    if save_dir is not None:
        print(f"saved to {model.save(save_dir)}; try: seq2seq translate {save_dir}")
    return scores


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
