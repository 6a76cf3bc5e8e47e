"""One random stream per molecule, keyed by ``(seed, index)``: batch size never changes a sample.

A sampler draws all its randomness through :class:`MoleculeStreams`. Molecule ``i`` of a run with
seed ``s`` reads uniforms from its own counter-based stream (SplitMix64's output function of a key
derived from ``(s, i)`` and a per-molecule counter, computed with NumPy's wrapping ``uint64``
arithmetic, vectorised over molecules). What molecule ``i`` draws therefore depends only on its own
trajectory, not on which other molecules share its batch: sampling ``n`` molecules in batches of
any size gives the same molecules, and a larger ``n`` extends a smaller one. (Up to floating-point
ties: a network evaluated on a different batch may round its last bit differently.)
"""

from __future__ import annotations

import numpy as np
import torch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (a bijection of uint64 with good avalanche); overwrites an array ``z``."""
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def molecule_keys(seed: int, indices: np.ndarray) -> np.ndarray:
    """The stream key of each molecule index under ``seed`` (``uint64``)."""
    with np.errstate(over="ignore"):
        base = _mix(np.array([seed % 2**64], dtype=np.uint64) * _GOLDEN + _GOLDEN)
        return _mix(base ^ _mix((indices.astype(np.uint64) + np.uint64(1)) * _GOLDEN))


class MoleculeStreams:
    """Independent uniform streams for the molecules ``start .. start + count - 1`` of a seeded run."""

    def __init__(self, seed: int, count: int, start: int = 0, device: torch.device | str = "cpu") -> None:
        self.keys = molecule_keys(seed, np.arange(start, start + count))
        self.counters = np.zeros(count, dtype=np.uint64)
        self.device = device

    def __len__(self) -> int:
        return len(self.keys)

    def rand(self, owners: torch.Tensor | None, width: int) -> torch.Tensor:
        """Uniforms in [0, 1), float64, shape ``[len(owners), width]``: row ``j`` from molecule ``owners[j]``'s stream.

        ``owners`` (row indices into this batch, ``None`` for every molecule once) may repeat a
        molecule: its rows take consecutive draws from its stream in the order they appear.
        """
        step = np.uint64(width)
        if owners is None:
            keys, start = self.keys, self.counters.copy()
            self.counters += step
        else:
            owner = owners.detach().cpu().numpy().astype(np.int64)
            keys = self.keys[owner]
            start = self.counters[owner] + _rank_within_owner(owner).astype(np.uint64) * step
            self.counters += np.bincount(owner, minlength=len(self.keys)).astype(np.uint64) * step
        with np.errstate(over="ignore"):
            z = (start + np.uint64(1)) * _GOLDEN + keys  # the stream's position of each row's first draw
            z = z[:, None] + np.arange(width, dtype=np.uint64)[None, :] * _GOLDEN
            bits = _mix(z)
        bits >>= np.uint64(11)
        uniforms = bits.astype(np.float64)
        uniforms *= 2.0**-53
        return torch.from_numpy(uniforms).to(self.device)

    def rand_like(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniforms of ``shape`` whose first dimension runs over every molecule of the batch."""
        width = int(np.prod(shape[1:], dtype=np.int64))
        return self.rand(None, width).reshape(shape)


def _rank_within_owner(owner: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries have the same owner."""
    if len(owner) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(owner, kind="stable")
    sorted_owner = owner[order]
    group_start = np.flatnonzero(np.r_[True, sorted_owner[1:] != sorted_owner[:-1]])
    first = np.repeat(group_start, np.diff(np.r_[group_start, len(owner)]))
    rank = np.empty(len(owner), dtype=np.int64)
    rank[order] = np.arange(len(owner)) - first
    return rank
