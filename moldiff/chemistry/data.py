"""Molecule data sets: the packaged QM9 and any user file, canonicalised and split.

QM9 ships inside the package (``moldiff/resources/qm9``):

- ``qm9_smiles.txt.gz``: the 133,885 source SMILES exactly as given (sha256 of the uncompressed
  text in ``qm9.json`` and ``SOURCE.md``);
- ``qm9.csv.gz``: the prepared data set, columns ``smiles`` (RDKit canonical SMILES, unique) and
  ``split``; its sha256 (of the uncompressed text) is the *data hash* recorded by targets and models;
- ``qm9.json``: provenance, counts, split sizes and hashes;
- ``qm9.smiles.json``, ``qm9.selfies.json``: the tokenizer vocabularies of all its molecules.

:func:`prepare_dataset` rebuilds the prepared file from the source: canonicalise, drop invalid
strings and duplicates, sort, then split with a seeded permutation (90/5/5 train/valid/test).

Data set *specs* name molecules anywhere a file is accepted: ``qm9`` (all splits), ``qm9:train``,
``qm9:valid``, ``qm9:test``, or a path to a molecule file (see :mod:`moldiff.chemistry.molfiles`).
A packaged name wins over a file of that name: write ``./qm9`` for the file (see :func:`parse_spec`).

MOSES (``moses``, ``moses:train``, ``moses:test``, ``moses:test_scaffolds``; Polykovskiy et al.
2020) is fetched once at set-up time, not shipped: :func:`fetch_moses` (``moldiff data fetch moses``)
reads the split files out of the ``molsets`` wheel, checks their sha256 against
``moldiff/resources/moses/moses.json``, canonicalises them with this RDKit, keeping MOSES's rows and
order, and writes ``moses.csv.gz`` and a record of what was fetched into ``data/moses/`` of an asset
root (``$MOLDIFF_HOME``, the current directory or the checkout; see :mod:`moldiff.core.assets`).
Its tokenizer vocabularies and provenance ship in ``moldiff/resources/moses``.

:func:`load_sampled` reads a sampler's output (``moldiff sample --out FILE.csv``) as the tokens it
wrote, which guidance classifiers are scored and trained on.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import logging
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rdkit

from moldiff.chemistry.molecules import canonicalise_all, smiles_problem
from moldiff.chemistry.molfiles import read_molecule_file
from moldiff.chemistry.tokenizers import (
    DEFAULT_MAX_LENGTH,
    SPECIAL_TOKENS,
    TOKENIZERS,
    Tokenizer,
    _try_tokenize,
    load_tokenizer,
    tokenizer_class,
)
from moldiff.core.assets import asset_roots, cache_dir, find_asset
from moldiff.core.errors import MoldiffError, TokenizerError
from moldiff.core.files import atomic_write, sha256_file, sha256_text, write_json
from moldiff.core.parallel import parallel_map

log = logging.getLogger("moldiff")

SPLITS = ("train", "valid", "test")
SPLIT_FRACTIONS = (0.90, 0.05, 0.05)
SPLIT_SEED = 20240917
BUILTIN_DATASETS = ("qm9",)
#: Data sets fetched once at set-up time into ``data/<name>/`` of an asset root (:func:`fetch_moses`).
FETCHED_DATASETS = ("moses",)
DATASETS = BUILTIN_DATASETS + FETCHED_DATASETS
#: The splits of each data set: QM9's are ours, MOSES's are its own.
DATASET_SPLITS = {"qm9": SPLITS, "moses": ("train", "test", "test_scaffolds")}
MAX_LISTED_LINES = 5
#: MOSES has no validation split: training holds out this many molecules of its train split, drawn
#: with :data:`SPLIT_SEED` (:func:`training_splits`), so the held-out set is the same on every machine.
HELD_OUT_VALIDATION = 10_000


def _resource_dir(name: str) -> Path:
    return Path(str(resources.files("moldiff") / "resources" / name))


@functools.cache
def dataset_info(name: str = "qm9") -> dict[str, Any]:
    """Provenance, counts, split sizes and hashes of a packaged data set."""
    _check_builtin(name)
    return json.loads((_resource_dir(name) / f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def _prepared_table(name: str) -> pd.DataFrame:
    _check_builtin(name)
    folder = _resource_dir(name) if name in BUILTIN_DATASETS else fetched_dir(name)
    with gzip.open(folder / f"{name}.csv.gz", "rt", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def _check_builtin(name: str) -> None:
    if name not in DATASETS:
        raise MoldiffError(f"unknown data set '{name}': the data sets are {', '.join(DATASETS)}")


def fetched_dir(name: str) -> Path:
    """``data/<name>/`` of the first asset root that holds the fetched data set; an error saying how
    to fetch it when none does."""
    folder = find_asset("data", name)
    if folder is None or not (folder / f"{name}.csv.gz").is_file():
        raise MoldiffError(f"the {name} data is not fetched: run `moldiff data fetch {name}` once (or `make {name}`)")
    return folder


def fetched_info(name: str) -> dict[str, Any]:
    """The record :func:`fetch_moses` wrote beside a fetched data set (hashes, counts, RDKit version)."""
    return json.loads((fetched_dir(name) / f"{name}.json").read_text(encoding="utf-8"))


def load_split(name: str = "qm9", split: str | None = None) -> list[str]:
    """Canonical SMILES of a packaged data set, of one split or (``split=None``) of all."""
    table = _prepared_table(name)
    if split is None:
        return table["smiles"].tolist()
    if split not in DATASET_SPLITS[name]:
        raise MoldiffError(f"unknown split '{split}' of {name}: choose one of {', '.join(DATASET_SPLITS[name])}")
    return table.loc[table["split"] == split, "smiles"].tolist()


def training_splits(name: str = "qm9") -> tuple[list[str], list[str]]:
    """The train and validation molecules a model is trained on: the data set's own train / valid splits,
    or for a data set without a valid split (MOSES), its train split less :data:`HELD_OUT_VALIDATION`
    molecules drawn with :data:`SPLIT_SEED`, which validate."""
    _check_builtin(name)
    if "valid" in DATASET_SPLITS[name]:
        return load_split(name, "train"), load_split(name, "valid")
    train = load_split(name, "train")
    held_out = np.zeros(len(train), dtype=bool)
    held_out[np.random.default_rng(SPLIT_SEED).choice(len(train), HELD_OUT_VALIDATION, replace=False)] = True
    return ([s for s, h in zip(train, held_out) if not h], [s for s, h in zip(train, held_out) if h])


def data_hash(name: str = "qm9") -> str:
    """sha256 of the prepared data set's text: identifies exactly which molecules and split were used
    (for a fetched data set: of the file fetched here, canonicalised by this machine's RDKit)."""
    return fetched_info(name)["data_sha256"] if name in FETCHED_DATASETS else dataset_info(name)["data_sha256"]


def spec_sha256(spec: str) -> str:
    """What a data set spec holds: a packaged data set's data hash, or the sha256 of a molecule file."""
    parsed = parse_spec(spec)
    if parsed is not None:
        return data_hash(parsed[0])
    if not Path(spec).is_file():
        raise MoldiffError(f"no such data set or file: {spec}; give a data set spec (e.g. qm9) or a molecule file")
    return sha256_file(spec)


def parse_spec(spec: str) -> tuple[str, str | None] | None:
    """``('qm9', 'test')`` for ``'qm9:test'``, ``('qm9', None)`` for ``'qm9'``, ``None`` for a path.

    A packaged data set name, optionally followed by ``:split``, always means the packaged set, even
    when the working directory holds a file or folder of that name: write ``./qm9`` to read that.
    """
    name, _, split = spec.partition(":")
    if name not in DATASETS:
        return None
    return name, split or None


def read_spec(spec: str, keep_blank: bool = False) -> pd.DataFrame:
    """Rows of a data set spec as a DataFrame with a ``smiles`` column, unvalidated for files
    (``keep_blank``: see :func:`moldiff.chemistry.molfiles.read_molecule_file`)."""
    parsed = parse_spec(spec)
    if parsed is None:
        return read_molecule_file(spec, keep_blank)
    smiles = load_split(*parsed)
    return pd.DataFrame({"smiles": smiles}, index=pd.Index(range(1, len(smiles) + 1), name="line"))


@dataclass
class Molecules:
    """Valid molecules read from a source, with what was skipped on the way.

    ``table`` has the canonical SMILES in ``smiles``, the string as written in the source in
    ``input`` (for files) and any other column of the source; its index is the source line number.
    """

    source: str
    table: pd.DataFrame
    n_read: int
    invalid_lines: list[int]

    @property
    def smiles(self) -> list[str]:
        """Canonical SMILES, in source order."""
        return self.table["smiles"].tolist()

    @property
    def n_invalid(self) -> int:
        return len(self.invalid_lines)

    def __len__(self) -> int:
        return len(self.table)


def load_molecules(spec: str, progress: bool = True) -> Molecules:
    """Read a data set spec or file and keep its valid molecules, canonicalised.

    Invalid SMILES are skipped with a warning naming the first few line numbers; a source with no
    valid molecule at all is an error.
    """
    table = read_spec(spec)
    if parse_spec(spec) is not None:  # packaged data is canonical and valid already
        return Molecules(spec, table, len(table), [])
    canonical = canonicalise_all(table["smiles"].tolist(), progress=progress)
    valid = np.array([c is not None for c in canonical], dtype=bool)
    invalid_lines = [int(i) for i in table.index[~valid]]
    if not valid.any():
        raise MoldiffError(f"{spec} holds no valid SMILES ({len(table)} read, all invalid)")
    if invalid_lines:
        log.warning(
            "%s: skipped %d invalid SMILES of %d (%s)%s",
            spec, len(invalid_lines), len(table), describe_lines(invalid_lines),
            refused_reasons(table.loc[~valid, "smiles"]),
        )
    clean = _rename_clashes(table.loc[valid], ["input"], spec).rename(columns={"smiles": "input"})
    clean.insert(0, "smiles", [c for c in canonical if c is not None])
    return Molecules(spec, clean, len(table), invalid_lines)


#: Fewest molecules with a value that a column may label a target or fit an oracle from.
MIN_LABELLED = 20


@dataclass
class MeasuredValues:
    """A numeric column of a molecule file by canonical SMILES (duplicates averaged, NaN: no value)."""

    source: str
    column: str
    values: pd.Series
    sha256: str
    record: dict[str, Any]

    @property
    def labelled(self) -> pd.Series:
        """The molecules that have a value."""
        return self.values.dropna()


def measured_values(spec: str, column: str, progress: bool = True) -> MeasuredValues:
    """Read the numeric ``column`` of a molecule file (its valid molecules): empty fields are molecules
    without a value; any other non-numeric field is an error that counts them and names their lines."""
    if parse_spec(spec) is not None:
        raise MoldiffError(f"{spec} is a packaged data set without measured values: give a file with the column '{column}'")
    sha256 = spec_sha256(spec)
    molecules = load_molecules(spec, progress=progress)
    table = molecules.table
    name = "input" if column == "smiles" else column
    if column == "smiles" or name not in table.columns:
        known = [str(c) for c in table.columns if c not in ("smiles", "input")]
        raise MoldiffError(f"{spec} has no column '{column}' (its columns: {', '.join(known) or 'none besides the SMILES'})")
    raw = table[name]
    text = raw.astype(str).str.strip()
    blank = raw.isna() | text.eq("") | text.str.lower().isin(["nan", "na", "n/a", "none", "null"])
    numeric = pd.to_numeric(raw.where(~blank), errors="coerce").astype(float)
    bad = (~blank) & ~np.isfinite(numeric.to_numpy())
    if bad.any():
        lines = [int(i) for i in table.index[bad]]
        example = raw[bad].iloc[0]
        raise MoldiffError(f"{spec}: column '{column}' has {len(lines)} non-numeric value(s) ({describe_lines(lines)}, "
                           f"e.g. {example!r}); leave a field empty for a molecule without a value")
    by_molecule = numeric.groupby(table["smiles"].to_numpy(), sort=False).mean()
    record = {"data": spec, "data_sha256": sha256, "column": column, "rows": int(molecules.n_read),
              "invalid_skipped": molecules.n_invalid, "without_value": int(blank.sum()),
              "duplicates_averaged": int(len(table) - len(by_molecule)), "molecules": int(by_molecule.notna().sum())}
    return MeasuredValues(spec, column, by_molecule, sha256, record)


def check_enough(measured: MeasuredValues, needed: int, what: str) -> None:
    """Refuse a column with fewer than ``needed`` molecules that have a value."""
    n = len(measured.labelled)
    if n < needed:
        raise MoldiffError(f"{measured.source}: only {n} molecule(s) have a value in column '{measured.column}': "
                           f"at least {needed} are needed to {what}")


def molecule_rows(spec: str, progress: bool = True, reserved: Iterable[str] = ()) -> pd.DataFrame:
    """Every row of a data set spec or file, in order, invalid ones included: the row's ``line``
    (SDF: ``record``) number, its canonical ``smiles`` (empty if invalid), ``valid``, the ``input``
    string, then the source's other columns. Blank lines count as invalid rows.

    A source column named like one of these or like a ``reserved`` one (which the caller will add)
    is kept as ``NAME_input`` (``NAME_input2``, ... if taken), with a warning.
    """
    table = read_spec(spec, keep_blank=True)
    table = _rename_clashes(table, [str(table.index.name), "valid", "input", *reserved], spec)
    canonical = canonicalise_all(table["smiles"].tolist(), progress=progress)
    rows = table.rename(columns={"smiles": "input"}).reset_index()
    rows.insert(1, "smiles", [c or "" for c in canonical])
    rows.insert(2, "valid", [c is not None for c in canonical])
    rows.insert(3, "input", rows.pop("input"))
    return rows


#: The columns of a ``moldiff sample --out FILE.csv`` output that :func:`load_sampled` reads.
SAMPLED_COLUMNS = ("raw", "valid", "smiles")


@dataclass
class SampledMolecules:
    """The valid molecules of a sampler's output as it wrote them: token ids (``max_length`` each,
    from the ``raw`` column) and canonical SMILES, with the rows skipped on the way."""

    ids: np.ndarray
    smiles: list[str]
    n_invalid: int
    skipped: dict[str, int]
    sha256: str

    def __len__(self) -> int:
        return len(self.smiles)


def load_sampled(path: str | Path, tokenizer: Tokenizer) -> SampledMolecules:
    """Read a ``moldiff sample --out FILE.csv`` output: each valid row's ``raw`` tokens encoded by
    ``tokenizer`` exactly as sampled (not re-canonicalised). Invalid rows are skipped, and so are
    rows the tokenizer cannot encode (counted by reason); a file without a usable row is an error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        table = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype={"raw": str, "smiles": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MoldiffError(f"cannot read {path} as a `moldiff sample --out FILE.csv` output: {exc}") from None
    missing = [c for c in SAMPLED_COLUMNS if c not in table.columns]
    if missing:
        raise MoldiffError(f"{path} lacks the column(s) {', '.join(missing)} of a `moldiff sample --out FILE.csv` output")
    valid = table["valid"].astype(str).str.lower() == "true"
    ids, smiles, skipped = [], [], {}
    for raw, canonical in zip(table.loc[valid, "raw"], table.loc[valid, "smiles"]):
        try:
            ids.append(tokenizer.encode_text(raw))
        except TokenizerError as exc:
            skipped[exc.reason] = skipped.get(exc.reason, 0) + 1
            continue
        smiles.append(canonical)
    if not smiles:
        raise MoldiffError(f"{path}: none of its {len(table)} rows is a valid molecule that this {tokenizer.representation} "
                           f"tokenizer encodes ({int(valid.sum())} valid; skipped: {skipped or 'none'}); "
                           "was it sampled by a model with another representation?")
    if skipped:
        log.warning("%s: skipped %d valid molecules the tokenizer cannot encode (%s)", path, sum(skipped.values()),
                    ", ".join(f"{n} {why}" for why, n in skipped.items()))
    return SampledMolecules(np.stack(ids), smiles, int((~valid).sum()), skipped, sha256_text(text))


def _rename_clashes(table: pd.DataFrame, reserved: Iterable[str], source: str) -> pd.DataFrame:
    """``table`` with each column named in ``reserved`` (``smiles`` excepted) renamed ``NAME_input``
    (``NAME_input2``, ... if taken), with a warning: output columns of those names are added later."""
    reserved = set(reserved) - {"smiles"}
    taken = set(map(str, table.columns)) | reserved
    renames: dict[str, str] = {}
    for column in table.columns:
        if column in reserved:
            new, k = f"{column}_input", 2
            while new in taken:
                new, k = f"{column}_input{k}", k + 1
            taken.add(new)
            renames[column] = new
    if renames:
        log.warning("%s: input column(s) renamed, as the output has columns of those names: %s",
                    source, ", ".join(f"{old} -> {new}" for old, new in renames.items()))
    return table.rename(columns=renames)


def refused_reasons(strings: Iterable[str]) -> str:
    """``'; 1 longer than 5,000 characters'``: how many of ``strings`` were refused before parsing,
    by reason (:func:`moldiff.chemistry.molecules.smiles_problem`); empty if none."""
    counts = Counter(p for s in strings if isinstance(s, str) and (p := smiles_problem(s)))
    return "".join(f"; {n} {why}" for why, n in counts.items())


def describe_lines(lines: list[int]) -> str:
    """``'lines 3, 7, 9 and 2 more'``: the first few line numbers of a list."""
    shown = ", ".join(str(n) for n in lines[:MAX_LISTED_LINES])
    rest = len(lines) - MAX_LISTED_LINES
    word = "line" if len(lines) == 1 else "lines"
    return f"{word} {shown}" + (f" and {rest} more" if rest > 0 else "")


def split_molecules(
    smiles: list[str],
    seed: int = SPLIT_SEED,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
) -> pd.DataFrame:
    """Deterministic split of unique canonical SMILES into train / valid / test.

    The molecules are sorted first, so the split depends only on the set of molecules and the
    seed, not on their order. Returns a table with columns ``smiles`` and ``split`` in permuted
    order (train rows first).
    """
    unique = sorted(set(smiles))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_train = int(round(fractions[0] * len(unique)))
    n_valid = int(round(fractions[1] * len(unique)))
    labels = np.array(["train"] * n_train + ["valid"] * n_valid + ["test"] * (len(unique) - n_train - n_valid))
    return pd.DataFrame({"smiles": [unique[i] for i in order], "split": labels})


def prepare_dataset(source: Path, out_dir: Path, name: str = "qm9", seed: int = SPLIT_SEED) -> dict[str, Any]:
    """Build ``<name>.csv.gz`` and ``<name>.json`` in ``out_dir`` from a source SMILES file.

    Every step is deterministic, so running it on the packaged source reproduces the packaged
    files exactly (a test checks that) as long as RDKit's canonical SMILES do not change. ``name``
    must be a plain file name (no directory part), so that nothing is written outside ``out_dir``.
    """
    check_plain_name(name)
    try:
        with gzip.open(source, "rt", encoding="utf-8") if source.suffix == ".gz" else open(source, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise MoldiffError(f"cannot read {source} as SMILES text{' (gzip)' if source.suffix == '.gz' else ''}: {exc}") from None
    strings = text.split("\n")
    if strings and strings[-1] == "":
        strings.pop()
    canonical = canonicalise_all(strings)
    valid = [c for c in canonical if c is not None]
    if not valid:
        raise MoldiffError(f"{source} holds no valid SMILES ({len(strings)} lines read): nothing to prepare")
    table = split_molecules(valid, seed=seed)
    csv_text = table.to_csv(index=False, lineterminator="\n")
    with atomic_write(out_dir / f"{name}.csv.gz", "wb") as handle:
        handle.write(gzip_bytes(csv_text))
    info = {
        "name": name,
        "source_file": source.name,
        "source_sha256": sha256_text(text),
        "source_molecules": len(strings),
        "invalid": len(strings) - len(valid),
        "duplicates": len(valid) - len(table),
        "molecules": len(table),
        "split_seed": seed,
        "split_fractions": dict(zip(SPLITS, SPLIT_FRACTIONS)),
        "split_sizes": {s: int((table["split"] == s).sum()) for s in SPLITS},
        "canonicalisation": f"RDKit {rdkit.__version__} Chem.MolToSmiles (canonical, isomeric)",
        "data_sha256": sha256_text(csv_text),
    }
    info["tokenizers"] = write_tokenizers(table["smiles"].tolist(), out_dir, name, DEFAULT_MAX_LENGTH)
    write_json(info, out_dir / f"{name}.json")
    return info


def write_tokenizers(smiles: list[str], out_dir: Path, name: str, max_length: int | None = None,
                     progress: bool = True) -> dict[str, Any]:
    """Write ``<name>.<representation>.json`` (every token of ``smiles``) for each representation, and
    return their sizes. ``max_length=None`` fits the longest molecule (``<bos>`` and ``<eos>``
    included), rounded up to a multiple of 8."""
    info = {}
    for representation, cls in TOKENIZERS.items():
        tokens = parallel_map(functools.partial(_try_tokenize, cls), smiles, desc=f"{representation} tokens", progress=progress)
        lengths = [len(t) for t in tokens]
        fitted = max_length or -(-(max(lengths) + 2) // 8) * 8
        tokenizer = cls([*SPECIAL_TOKENS, *sorted(set().union(*tokens))], fitted)  # as Tokenizer.build, in one pass
        tokenizer.save(out_dir / f"{name}.{representation}.json")
        info[representation] = {
            "vocab_size": tokenizer.vocab_size,
            "data_tokens": len(tokenizer.data_tokens),
            "max_length": tokenizer.max_length,
            "longest_molecule_tokens": max(lengths),
            "molecules_too_long": sum(n > tokenizer.max_length - 2 for n in lengths),
        }
    return info


def check_plain_name(name: str) -> None:
    """Refuse a data set name that is not a plain file name: empty, ``.``, ``..``, absolute or with a separator."""
    if name in ("", ".", "..") or any(c in name for c in "/\\\0") or Path(name).is_absolute():
        raise MoldiffError(f"data set name '{name}' must be a plain file name (no '/', not '.' or '..'): "
                           "it prefixes the files written in the output directory")


def dataset_tokenizer(representation: str, name: str = "qm9") -> Tokenizer:
    """The tokenizer built from every molecule of a packaged data set."""
    _check_builtin(name)
    tokenizer_class(representation)  # clear error for an unknown representation
    return load_tokenizer(_resource_dir(name) / f"{name}.{representation}.json")


def gzip_bytes(text: str) -> bytes:
    """Gzip-compress text reproducibly (no timestamp or file name in the header)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


# --- MOSES ----------------------------------------------------------------------------------
MOSES_PACKAGE, MOSES_VERSION = "molsets", "0.3.1"
#: Where each MOSES split lies inside the ``molsets`` wheel.
MOSES_MEMBERS = {split: f"moses/dataset/data/{split}.csv.gz" for split in DATASET_SPLITS["moses"]}


def moses_wheel(wheel: Path | None = None) -> Path:
    """The ``molsets`` wheel: ``wheel`` if given, else the one in the download cache, downloaded there
    first (``pip download --no-deps``) when missing."""
    if wheel is not None:
        if not Path(wheel).is_file():
            raise MoldiffError(f"no such file: {wheel}")
        return Path(wheel)
    name = dataset_info("moses")["source_file"]
    folder = cache_dir() / "downloads"
    if not (folder / name).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s (%s %s, without its dependencies) into %s", name, MOSES_PACKAGE, MOSES_VERSION, folder)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"{MOSES_PACKAGE}=={MOSES_VERSION}", "--no-deps",
             "--only-binary=:all:", "--quiet", "-d", str(folder)],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0 or not (folder / name).is_file():
            why = (result.stderr.strip().splitlines() or [f"pip wrote no {name}"])[-1]
            raise MoldiffError(f"could not download {MOSES_PACKAGE} {MOSES_VERSION} with pip ({why}): "
                               f"fetch {name} elsewhere and pass it with --wheel")
    return folder / name


def read_moses_wheel(wheel: Path, pinned: dict[str, Any] | None) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The SMILES of each MOSES split in the wheel, as written, and each file's sha256 and row count.

    With ``pinned`` (the record in ``moldiff/resources/moses/moses.json``), a wheel or file whose
    sha256 differs from it is an error.
    """
    digest = sha256_file(wheel)
    if pinned is not None and digest != pinned["source_sha256"]:
        raise MoldiffError(f"{wheel} has sha256 {digest}, not the pinned {pinned['source_sha256']} of "
                           f"{pinned['source_file']}: it is not the MOSES release moldiff was checked against")
    splits: dict[str, list[str]] = {}
    files: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for split, member in MOSES_MEMBERS.items():
                raw = archive.read(member)
                text = gzip.decompress(raw).decode("utf-8")
                lines = text.splitlines()
                if not lines or lines[0] != "SMILES":
                    raise MoldiffError(f"{wheel}: {member} does not start with the header SMILES")
                splits[split] = lines[1:]
                files[split] = {"member": member, "sha256": hashlib.sha256(raw).hexdigest(),
                                "text_sha256": sha256_text(text), "rows": len(lines) - 1}
                expected = pinned["files"][split]["sha256"] if pinned is not None else files[split]["sha256"]
                if files[split]["sha256"] != expected:
                    raise MoldiffError(f"{wheel}: {member} has sha256 {files[split]['sha256']}, not the pinned {expected}")
    except (OSError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise MoldiffError(f"cannot read the MOSES files from {wheel}: {exc}") from None
    record = {"name": "moses", "source_file": Path(wheel).name if pinned is None else pinned["source_file"],
              "source_sha256": digest, "files": files}
    return splits, record


def moses_table(splits: dict[str, list[str]], progress: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """MOSES's rows in its own order, canonicalised by this RDKit (columns ``smiles`` and ``split``),
    and what canonicalisation did: strings it rewrote, invalid ones (dropped) and duplicates (kept)."""
    strings = [s for split in DATASET_SPLITS["moses"] for s in splits[split]]
    labels = [split for split in DATASET_SPLITS["moses"] for _ in splits[split]]
    canonical = canonicalise_all(strings, progress=progress)
    kept = [i for i, c in enumerate(canonical) if c is not None]
    table = pd.DataFrame({"smiles": [canonical[i] for i in kept], "split": [labels[i] for i in kept]})
    counts = {
        "source_molecules": len(strings),
        "invalid": len(strings) - len(kept),
        "rewritten_by_canonicalisation": sum(canonical[i] != strings[i] for i in kept),
        "duplicates": len(kept) - table["smiles"].nunique(),
        "molecules": len(table),
        "split_seed": None,
        "split_sizes": {split: int((table["split"] == split).sum()) for split in DATASET_SPLITS["moses"]},
        "canonicalisation": f"RDKit {rdkit.__version__} Chem.MolToSmiles (canonical, isomeric)",
    }
    return table, counts


def fetch_moses(root: Path | None = None, wheel: Path | None = None, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Fetch MOSES into ``<root>/data/moses/`` (default root: the first of :func:`~moldiff.core.assets.asset_roots`,
    i.e. ``$MOLDIFF_HOME``'s first directory, else the current directory): read the split files out of
    the ``molsets`` wheel (:func:`moses_wheel`), check their sha256, canonicalise and write
    ``moses.csv.gz`` and ``moses.json``. Returns the folder and the record."""
    pinned = dataset_info("moses")
    splits, record = read_moses_wheel(moses_wheel(wheel), pinned)
    table, counts = moses_table(splits, progress)
    csv_text = table.to_csv(index=False, lineterminator="\n")
    record.update(counts, data_sha256=sha256_text(csv_text))
    if record["data_sha256"] != pinned["data_sha256"]:
        log.warning("this RDKit (%s) canonicalises MOSES differently from the pinned %s: data hash %s, not %s",
                    rdkit.__version__, pinned["canonicalisation"], record["data_sha256"][:16], pinned["data_sha256"][:16])
    folder = (root if root is not None else asset_roots()[0]) / "data" / "moses"
    with atomic_write(folder / "moses.csv.gz", "wb") as handle:
        handle.write(gzip_bytes(csv_text))
    write_json(record, folder / "moses.json")
    with atomic_write(folder / ".gitignore") as handle:  # fetched data stays out of version control
        handle.write("*\n")
    _prepared_table.cache_clear()
    return folder, record


def prepare_moses_resources(wheel: Path, out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Maintainers: write ``moses.json`` (the pinned hashes and counts) and the tokenizer vocabularies
    of every MOSES molecule, with a ``max_length`` that fits the longest, into ``out_dir``."""
    splits, record = read_moses_wheel(wheel, None)
    table, counts = moses_table(splits, progress)
    record.update(counts, data_sha256=sha256_text(table.to_csv(index=False, lineterminator="\n")))
    record["tokenizers"] = write_tokenizers(table["smiles"].tolist(), out_dir, "moses", None, progress)
    write_json(record, out_dir / "moses.json")
    return record
