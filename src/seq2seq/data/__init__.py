"""Data: text -> tokens -> ids -> batches.

``tokenizers`` splits text into tokens, ``vocab`` maps tokens to ids, ``corpus`` reads and
validates parallel text, and ``batching`` pads ids into :class:`~seq2seq.data.batching.Batch`
objects grouped by a deterministic token-bucket sampler. Import the submodules directly; this
package imports nothing heavy on purpose.
"""
