"""SMILES and SELFIES tokenizers with a fixed-length integer encoding.

A sequence is ``<bos> t_1 ... t_n <eos> <pad> ... <pad>`` of exactly ``max_length`` ids (32 for
QM9), so a molecule may have at most ``max_length - 2`` tokens. The four special tokens have fixed
ids (``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<mask>`` 3); the data tokens follow in sorted order.
There is no unknown token: a token outside the vocabulary is an error naming it.

- :class:`SmilesTokenizer`: atom-level regular expression (bracket atoms, ``Br``/``Cl``, organic and
  aromatic atoms, ring closures ``0-9`` and ``%nn``, bonds, branches, ``.``).
- :class:`SelfiesTokenizer`: SELFIES symbols from the ``selfies`` package; encoding goes
  SMILES -> SELFIES, decoding SELFIES -> SMILES.

Every model saves its tokenizer as JSON (:meth:`Tokenizer.save`, :func:`load_tokenizer`).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import selfies as sf

from moldiff.core.errors import MoldiffError, TokenizerError
from moldiff.core.files import read_json, write_json
from moldiff.core.parallel import parallel_map

PAD, BOS, EOS, MASK = "<pad>", "<bos>", "<eos>", "<mask>"
SPECIAL_TOKENS = (PAD, BOS, EOS, MASK)
PAD_ID, BOS_ID, EOS_ID, MASK_ID = range(4)
#: ``Decoded.error`` of a sequence that ran to ``max_length`` without ending.
NO_EOS = "no <eos> token"
DEFAULT_MAX_LENGTH = 32
FORMAT = "moldiff-tokenizer"
FORMAT_VERSION = 1

_SMILES_TOKEN = re.compile(
    r"\[[^\[\]]+\]"  # bracket atom: [nH], [NH3+], [C@@H], [13CH3] ...
    r"|Br|Cl"  # two-letter organic-subset atoms
    r"|%\d\d"  # ring closure 10-99
    r"|[BCNOPSFI]|[bcnops]|\*"  # one-letter organic-subset and aromatic atoms, wildcard
    r"|\d"  # ring closure 0-9
    r"|[-=#$:/\\.()]"  # bonds, branches, disconnection
)


@dataclass(frozen=True)
class Decoded:
    """A decoded id sequence: the representation string, its SMILES, and why it is invalid if so.

    ``smiles`` is ``None`` whenever ``error`` is set (leftover mask, unknown id, no end token);
    for a clean token sequence it is the SMILES the tokens spell (still to be checked by RDKit).
    """

    text: str
    smiles: str | None
    error: str | None = None


class Tokenizer:
    """Vocabulary plus fixed-length codec; subclasses define how a SMILES becomes tokens."""

    representation: ClassVar[str]

    def __init__(self, tokens: Sequence[str], max_length: int = DEFAULT_MAX_LENGTH) -> None:
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise MoldiffError(f"a tokenizer vocabulary must start with {', '.join(SPECIAL_TOKENS)}")
        if len(set(tokens)) != len(tokens):
            raise MoldiffError("a tokenizer vocabulary must not repeat tokens")
        if max_length < 3:
            raise MoldiffError(f"max_length must be at least 3 (bos, one token, eos), not {max_length}")
        self.tokens = tokens
        self.max_length = max_length
        self._ids = {token: i for i, token in enumerate(tokens)}

    # --- vocabulary ---------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    pad_id, bos_id, eos_id, mask_id = PAD_ID, BOS_ID, EOS_ID, MASK_ID

    @property
    def data_tokens(self) -> list[str]:
        """The vocabulary without the special tokens."""
        return self.tokens[len(SPECIAL_TOKENS) :]

    @classmethod
    def build(cls, smiles: Sequence[str], max_length: int = DEFAULT_MAX_LENGTH, progress: bool = True) -> "Tokenizer":
        """A tokenizer whose vocabulary is every token of ``smiles`` (untokenizable strings ignored)."""
        counts: Counter[str] = Counter()
        for tokens in parallel_map(functools.partial(_try_tokenize, cls), smiles, desc="building vocabulary", progress=progress):
            counts.update(tokens)
        if not counts:
            raise MoldiffError("cannot build a vocabulary: no molecule could be tokenized")
        return cls([*SPECIAL_TOKENS, *sorted(counts)], max_length)

    # --- representation (subclasses) ------------------------------------------------------
    @classmethod
    def tokenize_smiles(cls, smiles: str) -> list[str]:
        """Tokens of a molecule given as SMILES (for SELFIES: of its SELFIES string)."""
        return cls.tokenize(cls.from_smiles(smiles))

    @staticmethod
    def from_smiles(smiles: str) -> str:
        """The representation string of a SMILES."""
        raise NotImplementedError

    @staticmethod
    def to_smiles(text: str) -> str | None:
        """SMILES of a representation string, ``None`` if it cannot be converted."""
        raise NotImplementedError

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """Split a representation string into tokens; an error if it cannot be split."""
        raise NotImplementedError

    # --- codec ------------------------------------------------------------------------------
    def encode(self, smiles: str) -> np.ndarray:
        """``max_length`` ids (int64) for one molecule; a clear error if it cannot be encoded."""
        return self.encode_tokens(self.tokenize_smiles(smiles), smiles)

    def encode_text(self, text: str) -> np.ndarray:
        """``max_length`` ids of a representation string exactly as written (e.g. a sampler's raw
        output, which may not be canonical); a clear error if it cannot be encoded."""
        return self.encode_tokens(self.tokenize(text), text)

    def encode_tokens(self, tokens: Sequence[str], source: str) -> np.ndarray:
        """``<bos>`` tokens ``<eos>`` as ``max_length`` ids; ``source`` names the input in errors."""
        limit = self.max_length - 2
        if len(tokens) > limit:
            raise TokenizerError(
                f"'{source}' has {len(tokens)} {self.representation} tokens, more than the "
                f"{limit} that fit in max_length {self.max_length} (with <bos> and <eos>)",
                reason=f"longer than {limit} tokens",
            )
        ids = np.full(self.max_length, PAD_ID, dtype=np.int64)
        ids[0] = BOS_ID
        for position, token in enumerate(tokens, start=1):
            try:
                ids[position] = self._ids[token]
            except KeyError:
                raise TokenizerError(
                    f"token '{token}' of '{source}' is not in the vocabulary of this "
                    f"{self.representation} tokenizer ({len(self.data_tokens)} data tokens)",
                    reason="token outside the vocabulary",
                ) from None
        ids[len(tokens) + 1] = EOS_ID
        return ids

    def encode_batch(self, smiles: Sequence[str], progress: bool = True) -> "EncodedBatch":
        """Encode many molecules, skipping (and counting) those that do not fit or tokenize."""
        results = parallel_map(functools.partial(_try_encode, self), smiles, desc="tokenizing", progress=progress)
        kept = [i for i, r in enumerate(results) if isinstance(r, np.ndarray)]
        reasons = Counter(r for r in results if isinstance(r, str))
        ids = np.stack([results[i] for i in kept]) if kept else np.zeros((0, self.max_length), dtype=np.int64)
        return EncodedBatch(ids=ids, kept=kept, skipped=dict(reasons))

    def decode(self, ids: Sequence[int] | np.ndarray, require_eos: bool = True) -> Decoded:
        """Decode one id sequence: optional leading ``<bos>``, stop at the first ``<eos>``, drop ``<pad>``.

        A leftover ``<mask>``, a ``<bos>`` after the start, an id outside the vocabulary or (with
        ``require_eos``) no ``<eos>`` makes the result invalid; it is never silently repaired.
        """
        ids = [int(i) for i in ids]
        if ids and ids[0] == BOS_ID:
            ids = ids[1:]
        pieces: list[str] = []
        error: str | None = None
        ended = False
        for i in ids:
            if i == EOS_ID:
                ended = True
                break
            if i == PAD_ID:
                continue
            if not 0 <= i < self.vocab_size:
                pieces.append("<unk>")
                error = error or f"unknown token id {i}"
                continue
            if i in (MASK_ID, BOS_ID):
                error = error or f"leftover {self.tokens[i]} token"
            pieces.append(self.tokens[i])
        if error is None and require_eos and not ended:
            error = NO_EOS
        text = "".join(pieces)
        if error is not None:
            return Decoded(text, None, error)
        return Decoded(text, self.to_smiles(text))

    def decode_batch(self, ids: np.ndarray, require_eos: bool = True) -> list[Decoded]:
        """:meth:`decode` for each row of a ``[B, L]`` array."""
        return [self.decode(row, require_eos) for row in np.asarray(ids)]

    # --- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "representation": self.representation,
            "max_length": self.max_length,
            "tokens": self.tokens,
        }

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (atomically)."""
        write_json(self.to_dict(), path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.data_tokens)} data tokens, max_length={self.max_length})"


@dataclass
class EncodedBatch:
    """Result of :meth:`Tokenizer.encode_batch`: ids of the kept molecules, their input positions,
    and how many were skipped for each reason."""

    ids: np.ndarray
    kept: list[int]
    skipped: dict[str, int]

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def _try_tokenize(cls: type[Tokenizer], smiles: str) -> list[str]:
    try:
        return cls.tokenize_smiles(smiles)
    except TokenizerError:
        return []


def _try_encode(tokenizer: Tokenizer, smiles: str) -> np.ndarray | str:
    try:
        return tokenizer.encode(smiles)
    except TokenizerError as exc:
        return exc.reason


class SmilesTokenizer(Tokenizer):
    """Atom-level SMILES tokenizer (regular expression)."""

    representation = "smiles"

    @staticmethod
    def from_smiles(smiles: str) -> str:
        return smiles

    @staticmethod
    def to_smiles(text: str) -> str | None:
        return text

    @staticmethod
    def tokenize(text: str) -> list[str]:
        tokens, position = [], 0
        while position < len(text):
            match = _SMILES_TOKEN.match(text, position)
            if match is None:
                raise TokenizerError(
                    f"cannot tokenize SMILES '{text}': unexpected character '{text[position]}' "
                    f"at position {position + 1}"
                )
            tokens.append(match.group())
            position = match.end()
        if not tokens:
            raise TokenizerError("cannot tokenize an empty SMILES string")
        return tokens


class SelfiesTokenizer(Tokenizer):
    """SELFIES tokenizer: SMILES are converted with ``selfies.encoder`` and split into symbols."""

    representation = "selfies"

    @staticmethod
    def from_smiles(smiles: str) -> str:
        try:
            return sf.encoder(smiles, strict=True)
        except sf.EncoderError as exc:
            reason = " ".join(str(exc).split())  # the selfies message spans lines
            raise TokenizerError(f"cannot convert '{smiles}' to SELFIES: {reason}") from None

    @staticmethod
    def to_smiles(text: str) -> str | None:
        try:
            return sf.decoder(text)
        except sf.DecoderError:
            return None

    @staticmethod
    def tokenize(text: str) -> list[str]:
        try:
            tokens = list(sf.split_selfies(text))
        except ValueError as exc:
            raise TokenizerError(f"cannot split SELFIES '{text}': {exc}") from None
        if "".join(tokens) != text or not tokens:
            raise TokenizerError(f"cannot split SELFIES '{text}' into [symbols]")
        return tokens


TOKENIZERS: dict[str, type[Tokenizer]] = {"smiles": SmilesTokenizer, "selfies": SelfiesTokenizer}


def tokenizer_class(representation: str) -> type[Tokenizer]:
    """The tokenizer class of a representation name, or a clear error listing the known ones."""
    try:
        return TOKENIZERS[representation]
    except KeyError:
        raise MoldiffError(
            f"unknown representation '{representation}': choose one of {', '.join(TOKENIZERS)}"
        ) from None


def tokenizer_from_dict(data: dict[str, Any], source: str = "tokenizer") -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.to_dict` output, validating every field."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise MoldiffError(f"{source} is not a moldiff tokenizer (missing format '{FORMAT}')")
    if data.get("version") != FORMAT_VERSION:
        raise MoldiffError(f"{source} has tokenizer format version {data.get('version')}; this moldiff reads {FORMAT_VERSION}")
    tokens, max_length = data.get("tokens"), data.get("max_length")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens) or not isinstance(max_length, int):
        raise MoldiffError(f"{source} is malformed: 'tokens' must be a list of strings and 'max_length' an integer")
    try:
        return tokenizer_class(str(data.get("representation")))(tokens, max_length)
    except MoldiffError as exc:
        raise MoldiffError(f"{source}: {exc}") from None


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a tokenizer saved with :meth:`Tokenizer.save`."""
    return tokenizer_from_dict(read_json(path, "tokenizer file"), str(path))
