"""Search over the model contract: greedy, beam and sampling, and the Hypothesis they return."""

from seq2seq.decoding.beam import beam_search
from seq2seq.decoding.greedy import greedy_search
from seq2seq.decoding.sampling import sample_search
from seq2seq.decoding.search import Hypothesis, gnmt_length_penalty

__all__ = ["Hypothesis", "beam_search", "gnmt_length_penalty", "greedy_search", "sample_search"]
