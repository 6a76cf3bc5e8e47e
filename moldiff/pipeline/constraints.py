"""Constrained generation: scaffold decoration, fragment linking and analogs, as sampler templates.

A :class:`Constraint` (from the ``scaffold``, ``fragments``, ``start``, ``remask`` and
``remask_atoms`` settings) becomes a :class:`~moldiff.diffusion.samplers.Template` per molecule:
tokens held fixed while the model writes the rest (:mod:`moldiff.chemistry.scaffolds` lays the
tokens out). After sampling, :meth:`Constraint.annotate` checks every molecule with RDKit:

- scaffold / fragments: a molecule that does not carry the scaffold with new atoms only at its
  attachment points is marked invalid (``invalid_reason`` says why); columns ``decoration_1``
  (``decoration_2``) or ``linker`` give what was added (SMILES, ``*`` where it bonds);
- analogs (``start`` with ``remask`` and/or ``remask_atoms``): column ``similarity``, the Tanimoto
  similarity (Morgan radius 2) to the start molecule.

Span lengths: a decoration before the scaffold (two attachment points) or a linker is a free span
whose length in tokens is drawn per molecule, uniformly from 1 to :data:`MAX_SPAN` (or what fits),
keyed by ``(seed, molecule index)``. This samples the model's conditional given the scaffold *and*
the span length, mixed uniformly over lengths: it approximates the conditional given the scaffold
alone only as far as the model's own length distribution is flat over those lengths.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from moldiff.chemistry.metrics import molecule_table
from moldiff.chemistry.scaffolds import (
    Layout,
    Scaffold,
    atom_order_matches,
    atom_token_positions,
    check_decorated,
    layouts,
    parse_molecule,
    parse_scaffold,
    probe,
    tanimoto,
)
from moldiff.chemistry.tokenizers import NO_EOS
from moldiff.core.errors import MoldiffError
from moldiff.diffusion.samplers import SamplerOptions, SamplerOutput, Template, sample_tokens

if TYPE_CHECKING:
    from moldiff.chemistry.tokenizers import Tokenizer
    from moldiff.diffusion.denoisers import Denoiser
    from moldiff.pipeline.options import SampleOptions

#: Longest free span (tokens) before a scaffold or between two fragments.
MAX_SPAN = 6
#: How many times a molecule that breaks the scaffold is drawn again before it is reported invalid.
REDRAWS = 10
CONSTRAINT_FIELDS = ("scaffold", "fragments", "start", "remask", "remask_atoms")


@dataclass(frozen=True)
class Constraint:
    """What generation must keep: a scaffold (or fragment pair) and its layout, or a start molecule
    with the share of its tokens (``remask``) and/or the atoms (``remask_atoms``) to regenerate."""

    scaffold: Scaffold | None = None
    start: str | None = None
    remask: float | None = None
    remask_atoms: str | None = None
    _spelled: dict = field(default_factory=dict, compare=False, repr=False)

    def spelled(self, tokenizer: Tokenizer) -> tuple[Layout, list[int], list[int]]:
        """The scaffold's layout for this tokenizer and its fixed head and tail ids (computed once per tokenizer)."""
        key = (tokenizer.representation, tuple(tokenizer.tokens), tokenizer.max_length)
        if key not in self._spelled:
            self._spelled[key] = _choose_layout(self.scaffold, tokenizer)
        return self._spelled[key]

    @property
    def columns(self) -> list[str]:
        """The columns :meth:`annotate` adds."""
        if self.scaffold is None:
            return ["similarity"]
        if self.scaffold.fragments:
            return ["linker"]
        return [f"decoration_{i + 1}" for i in range(len(self.scaffold.attachments))]

    def template(self, tokenizer: Tokenizer, seed: int, indices: np.ndarray) -> Template:
        """One row of fixed tokens per molecule index (its random choices keyed by ``(seed, index)``)."""
        if self.scaffold is not None:
            return self._scaffold_template(tokenizer, seed, indices)
        return self._analog_template(tokenizer, seed, indices)

    def _scaffold_template(self, tokenizer: Tokenizer, seed: int, indices: np.ndarray) -> Template:
        layout, head, tail = self.spelled(tokenizer)
        length = tokenizer.max_length
        room = length - 2 - len(head) - len(tail)  # free positions besides <bos> and one <eos>
        if room < 1:
            raise MoldiffError(f"the {'fragments' if self.scaffold.fragments else 'scaffold'} '{self.scaffold.smiles}' "
                               f"takes {len(head) + len(tail)} {tokenizer.representation} tokens: too long for the "
                               f"model's max_length {length} with room to add atoms")
        tokens = np.full((len(indices), length), tokenizer.pad_id, dtype=np.int64)
        fixed = np.zeros((len(indices), length), dtype=bool)
        tokens[:, 0], fixed[:, 0] = tokenizer.bos_id, True
        for row, index in enumerate(indices):
            k = int(_rng(seed, index).integers(1, min(MAX_SPAN, room) + 1)) if layout.span else 0
            pieces = [(head, True), ([tokenizer.mask_id] * k, False), (tail, True)]
            position = 1
            for ids, held in pieces:
                tokens[row, position:position + len(ids)] = ids
                fixed[row, position:position + len(ids)] = held
                position += len(ids)
            if layout.open_end:
                tokens[row, position:] = tokenizer.mask_id
            else:  # <eos> then padding, all fixed
                tokens[row, position] = tokenizer.eos_id
                fixed[row, position:] = True
        return Template(torch.from_numpy(tokens), torch.from_numpy(fixed))

    def _analog_template(self, tokenizer: Tokenizer, seed: int, indices: np.ndarray) -> Template:
        ids = tokenizer.encode(self.start)
        text_tokens = tokenizer.tokenize_smiles(self.start)
        candidates = np.arange(1, len(text_tokens) + 1)  # after <bos>
        if self.remask_atoms is not None:
            atoms = atom_order_matches(self.start, self.remask_atoms)
            if not atoms:
                raise MoldiffError(f"--remask-atoms '{self.remask_atoms}' matches no atom of '{self.start}'")
            positions = atom_token_positions(text_tokens, tokenizer.representation)
            candidates = np.array([positions[a] + 1 for a in atoms])
        fixed = np.ones((len(indices), len(ids)), dtype=bool)
        for row, index in enumerate(indices):
            if self.remask is None:
                chosen = candidates
            else:
                size = max(1, round(self.remask * len(candidates)))
                chosen = _rng(seed, index).choice(candidates, size=size, replace=False)
            fixed[row, chosen] = False
        tokens = np.broadcast_to(ids, fixed.shape).copy()
        return Template(torch.from_numpy(tokens), torch.from_numpy(fixed))

    def sample(self, denoiser: Denoiser, tokenizer: Tokenizer, num_samples: int, options: SamplerOptions, batch_size: int,
               first_index: int, reference: str, oracles: list[str],
               progress: Callable[[int], None] | None = None) -> tuple[pd.DataFrame, SamplerOutput]:
        """Sample molecules ``first_index ..`` under the constraint and check them (:meth:`annotate`).

        A molecule that breaks the scaffold, or that is still being written at the last of the
        ``max_length`` positions (no ``<eos>``), is drawn again, up to :data:`REDRAWS` times, from the
        stream of ``(seed of the redraw, its index)``: rejection sampling of the model's distribution
        given that the scaffold is kept and the molecule fits. Column ``redraws`` counts them; what
        still fails stays invalid, with its reason.
        """
        indices = np.arange(first_index, first_index + num_samples)
        out = sample_tokens(denoiser, num_samples, options, batch_size, first_index, progress,
                            self.template(tokenizer, options.seed, indices))
        table = self.annotate(molecule_table(tokenizer, out.tokens.numpy(), reference, oracles), oracles)
        if self.scaffold is None:
            return table, out
        table["redraws"] = 0
        for attempt in range(1, REDRAWS + 1):
            rows = np.flatnonzero(_redrawn(table["invalid_reason"]))
            if len(rows) == 0:
                break
            redraw = dataclasses.replace(options, seed=int(_rng(options.seed, attempt, purpose=1).integers(2**62)))
            more = sample_tokens(denoiser, len(rows), redraw, batch_size, template=self.template(tokenizer, redraw.seed, indices[rows]),
                                 indices=indices[rows])
            again = self.annotate(molecule_table(tokenizer, more.tokens.numpy(), reference, oracles), oracles)
            again["redraws"] = attempt
            for column in table.columns:
                table.loc[table.index[rows], column] = again[column].to_numpy()
            out.evaluations += more.evaluations
            out.network_seconds += more.network_seconds
        return table, out

    def annotate(self, table: pd.DataFrame, oracles: list[str]) -> pd.DataFrame:
        """Check and describe each sampled molecule (see the module docstring); returns a new table."""
        table = table.copy()
        if self.scaffold is None:
            similarity = tanimoto([s if v else None for s, v in zip(table["smiles"], table["valid"])], self.start)
            table["similarity"] = similarity
            return table
        checks = [check_decorated(s, self.scaffold) if v else None for s, v in zip(table["smiles"], table["valid"])]
        broken = np.array([c is not None and not c.ok for c in checks], dtype=bool)
        for i, column in enumerate(self.columns):
            table[column] = [c.decorations[i] if c is not None and c.ok else "" for c in checks]
        what = "fragments" if self.scaffold.fragments else "scaffold"
        table.loc[broken, "invalid_reason"] = [f"breaks the {what}: {c.reason}" for c in checks if c is not None and not c.ok]
        table.loc[broken, ["valid", "novel"]] = False
        table.loc[broken, "smiles"] = ""
        for name in oracles:
            table.loc[broken, name] = np.nan
        return table


def _rng(seed: int, index: int, purpose: int = 0) -> np.random.Generator:
    """The constraint's random draws of molecule ``index`` (``purpose`` 1: of redraw ``index``), keyed by the seed."""
    return np.random.default_rng([seed % 2**63, int(index), purpose, 0x5CAF])


def _spell(tokenizer: Tokenizer, piece: str) -> list[str] | None:
    """Tokens of a layout piece without its ``*`` markers (written as a placeholder atom the
    representation keeps in place); ``None`` when the representation cannot write it with the markers
    at its ends."""
    if not piece:
        return []
    marker = "*" if tokenizer.representation == "smiles" else "[Xe]"
    try:
        tokens = tokenizer.tokenize(tokenizer.from_smiles(piece.replace("*", marker)))
    except MoldiffError:
        return None
    ends = (piece.startswith("*"), piece.endswith("*"))
    if (ends[0] and tokens[0] != marker) or (ends[1] and tokens[-1] != marker):
        return None
    tokens = tokens[int(ends[0]):len(tokens) - int(ends[1])]
    return None if marker in tokens else tokens


def _choose_layout(scaffold: Scaffold, tokenizer: Tokenizer) -> tuple[Layout, list[int], list[int]]:
    """The first layout whose tokens the tokenizer knows and that reads back as the scaffold with one
    carbon at each free place (:func:`~moldiff.chemistry.scaffolds.probe`): with its head and tail ids."""
    carbon = "C" if tokenizer.representation == "smiles" else "[C]"
    problem: MoldiffError | None = None
    for candidate in layouts(scaffold):
        head, tail = _spell(tokenizer, candidate.head), _spell(tokenizer, candidate.tail)
        if head is None or tail is None:
            continue
        text = "".join([*head, *[carbon] * candidate.span, *tail, *[carbon] * candidate.open_end])
        if not probe(scaffold, tokenizer.to_smiles(text)):
            continue
        try:
            ids = [tokenizer.encode_tokens([t], scaffold.smiles)[1] for t in [*head, *tail]]
        except MoldiffError as exc:
            problem = problem or exc
            continue
        return candidate, ids[:len(head)], ids[len(head):]
    what = "fragments" if scaffold.fragments else "scaffold"
    raise problem or MoldiffError(f"cannot write the {what} '{scaffold.smiles}' in {tokenizer.representation} tokens "
                                  "with its attachment points where generated tokens bond")


def make_constraint(options: SampleOptions) -> Constraint | None:
    """The constraint the options ask for (``None``: unconstrained); a one-line error for a bad or
    contradictory one. Checked before any model loads."""
    scaffold, fragments, start = options.scaffold, options.fragments, options.start
    remask, remask_atoms = options.remask, options.remask_atoms
    given = [name for name, value in (("--scaffold", scaffold), ("--fragments", fragments), ("--from", start)) if value is not None]
    if len(given) > 1:
        raise MoldiffError(f"{' and '.join(given)} cannot be combined: give one of them")
    if start is None and (remask is not None or remask_atoms is not None):
        raise MoldiffError("--remask and --remask-atoms regenerate part of a molecule: give it with --from SMILES")
    if remask is not None and not 0.0 < remask <= 1.0:
        raise MoldiffError(f"--remask must be in (0, 1], not {remask}")
    if scaffold is not None or fragments is not None:
        parsed = parse_scaffold(scaffold, "scaffold") if scaffold is not None else parse_scaffold(fragments, "fragments", fragments=True)
        return Constraint(parsed)
    if start is not None:
        if remask is None and remask_atoms is None:
            raise MoldiffError("--from needs --remask FRACTION and/or --remask-atoms SMARTS: what to regenerate")
        canonical = parse_molecule(start)
        if remask_atoms is not None:
            atom_order_matches(canonical, remask_atoms)  # the pattern parses
        return Constraint(start=canonical, remask=remask, remask_atoms=remask_atoms)
    return None


def check_constraint_model(constraint: Constraint | None, kind: str, tokenizer: Tokenizer, seed: int) -> None:
    """Refuse a constraint the model cannot take (autoregressive; tokens it does not know; too long)."""
    if constraint is None:
        return
    if kind == "autoregressive":
        raise MoldiffError("an autoregressive model cannot hold tokens fixed: use a masked or uniform model for "
                           "--scaffold, --fragments or --from")
    constraint.template(tokenizer, seed, np.zeros(1, dtype=np.int64))


def _redrawn(reasons: pd.Series) -> np.ndarray:
    """Which molecules a scaffold's redraws sample again: those that break it or do not fit (no ``<eos>``)."""
    return (reasons.str.startswith("breaks the") | (reasons == NO_EOS)).to_numpy()


def constraint_summary(table: pd.DataFrame) -> str | None:
    """One line on a constrained sample's table (``None`` when unconstrained): scaffold kept and redraws, or similarity."""
    if "similarity" in table:
        similarity = table.loc[table["valid"], "similarity"]
        return (f"analogs: {len(similarity)} valid, median Tanimoto similarity to the start molecule "
                f"{similarity.median():.3f}" if len(similarity) else "analogs: none valid")
    if "redraws" not in table:
        return None
    failed = int(_redrawn(table["invalid_reason"]).sum())
    return (f"scaffold: {int(table['valid'].sum())} valid molecules carry it; {int((table['redraws'] > 0).sum())} were "
            f"drawn again after breaking it or not fitting; {failed} still did after {REDRAWS} redraws (invalid)")
