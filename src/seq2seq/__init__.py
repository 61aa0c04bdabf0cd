"""seq2seq-kit: readable, fast sequence-to-sequence learning on PyTorch.

The public API::

    from seq2seq import load_config, train, Translator
    config = load_config("configs/toy/reverse-lstm.yaml", ["train.max_steps=500"])
    train(config, "runs/reverse")
    Translator.load("runs/reverse").translate(["1 2 3"], beam_size=5)[0].text
"""

from seq2seq._version import __version__
from seq2seq.config import Config, load_config
from seq2seq.decoding.translator import Candidate, Translation, Translator
from seq2seq.errors import Seq2SeqError
from seq2seq.keras import History, Seq2Seq, evaluate, fit
from seq2seq.training.trainer import TrainResult, train

__all__ = [
    "Candidate",
    "Config",
    "History",
    "Seq2Seq",
    "Seq2SeqError",
    "TrainResult",
    "Translation",
    "Translator",
    "__version__",
    "evaluate",
    "fit",
    "load_config",
    "train",
]
