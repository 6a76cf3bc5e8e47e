"""Token-substitution copies of training molecules: hard examples for guidance classifiers.

Guided sampling drives a classifier toward token sequences unlike its training data (for SELFIES,
runs of ring and branch tokens that decode to fewer rings than they seem to spell). A perturbed
copy replaces a few tokens of a training sequence by tokens drawn at the data's token frequencies;
labelled by the oracle on what the copy decodes to, it teaches the classifier that a token in the
wrong context does not mean what it means in place (``moldiff train-classifier --perturbed K``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moldiff.chemistry.molecules import canonicalise_all
from moldiff.chemistry.tokenizers import EOS_ID, SPECIAL_TOKENS, Tokenizer

#: Each copy changes between 1 and this many tokens.
MAX_CHANGES = 4


@dataclass
class PerturbedMolecules:
    """Perturbed token rows that decode to valid molecules, with those molecules' canonical SMILES."""

    ids: np.ndarray
    smiles: list[str]
    n_invalid: int

    def __len__(self) -> int:
        return len(self.smiles)


def token_frequencies(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each data token occurs in ``ids`` (special tokens: 0), normalised to sum to 1."""
    counts = np.bincount(ids.ravel(), minlength=vocab_size).astype(np.float64)
    counts[: len(SPECIAL_TOKENS)] = 0.0
    return counts / counts.sum()


def perturb(ids: np.ndarray, copies: int, seed: int, frequencies: np.ndarray) -> np.ndarray:
    """``copies`` rows per row of ``ids`` (``<bos>`` tokens ``<eos>`` pad), each with 1 to
    :data:`MAX_CHANGES` distinct token positions (never ``<bos>``, ``<eos>`` or padding) redrawn
    from ``frequencies``; rows ``[c * len(ids) + i]`` are copy ``c`` of row ``i``. Seeded."""
    rng = np.random.default_rng(seed)
    out = np.tile(ids, (copies, 1))
    lengths = np.tile(np.argmax(ids == EOS_ID, axis=1) - 1, copies)  # tokens between <bos> and <eos>
    for row, length in zip(out, lengths):
        if length < 1:
            continue
        positions = 1 + rng.choice(length, size=min(length, int(rng.integers(1, MAX_CHANGES + 1))), replace=False)
        row[positions] = rng.choice(len(frequencies), size=len(positions), p=frequencies)
    return out


def perturbed_molecules(ids: np.ndarray, tokenizer: Tokenizer, copies: int, seed: int,
                        progress: bool = True) -> PerturbedMolecules:
    """:func:`perturb` copies of ``ids`` (frequencies from ``ids`` themselves), kept where they
    decode to a valid molecule; the others are counted in ``n_invalid``."""
    rows = perturb(ids, copies, seed, token_frequencies(ids, tokenizer.vocab_size))
    smiles = canonicalise_all([decoded.smiles for decoded in tokenizer.decode_batch(rows)], progress=progress)
    kept = [i for i, s in enumerate(smiles) if s]
    return PerturbedMolecules(rows[kept], [smiles[i] for i in kept], len(rows) - len(kept))
