"""int8 inference on CPU: the model's linear layers with int8 weights (``search.precision: int8``).

Search spends most of its time in small matrix products ``[batch, d] x [d, d']`` (the output
layer over the vocabulary above all). Dynamic quantization stores each ``nn.Linear`` weight as
int8 with one scale per output channel and quantizes the activations on the fly, so those
products run on fbgemm's int8 kernels: on an AVX2-only CPU a Transformer decodes ~1.6x and an
LSTM ~1.8x faster than in fp32 (docs/benchmarks.md), like CTranslate2's ``int8`` compute type.
A recurrent decoder's cell products become int8 layers too (``models/rnn_cells.py``); its gate
arithmetic, embeddings, norms and attention stay fp32. Whole sequences through an RNN (the
encoder) have no int8 kernel that beats fp32; on a CPU with bf16 instructions they run in bf16,
1.4-1.9x faster than fp32 (``attach_bf16_sequences``). Training is untouched: this
makes a quantized copy for decoding only.

PyTorch marks ``torch.ao.quantization`` deprecated in favour of torchao, whose replacement
targets ``torch.compile``; the eager fbgemm path used here is what is fast without compiling,
and it is present in every torch this package supports.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from seq2seq.decoding.packed import bf16_instructions, packing_available
from seq2seq.errors import ConfigError
from seq2seq.models.rnn_cells import attach_bf16_sequences, attach_cell_products


def int8_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (on the CPU, in eval mode) whose ``nn.Linear`` layers hold
    per-channel int8 weights (and whose RNN sequences run in bf16 where the CPU has bf16
    instructions); ``model`` itself is not changed.

    Raises:
        ConfigError: The installed torch has no dynamic quantization.
    """
    quantization = getattr(torch.ao, "quantization", None)
    if quantization is None or not hasattr(quantization, "quantize_dynamic"):
        raise ConfigError(
            "search.precision: 'int8' needs torch.ao.quantization, which this torch "
            f"{torch.__version__} lacks; use fp32"
        )
    clone = copy.deepcopy(model)
    attach_cell_products(clone)  # RNN decoder steps: int8 cell products too (rnn_cells.py)
    if bf16_instructions() and packing_available(torch.bfloat16):
        attach_bf16_sequences(clone)  # int8 has no sequence kernel; bf16 is the fast one
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
        warnings.filterwarnings("ignore", "torch.quantize_per", UserWarning)
        return quantization.quantize_dynamic(
            clone,
            {nn.Linear: quantization.per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            inplace=True,
        ).eval()
