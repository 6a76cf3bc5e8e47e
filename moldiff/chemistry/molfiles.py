"""Molecule files in and result tables out.

Reading: ``.smi`` / ``.txt`` (one SMILES per line, optional second whitespace-separated column kept
as ``name``), ``.csv`` with a ``smiles`` column, ``.jsonl`` with a ``smiles`` key on every line
(the column is found ignoring case and surrounding spaces; of several, the one spelled exactly
``smiles`` wins and the others are kept as they are; several and none spelled so is an error),
``.sdf`` (the molecules, written as canonical SMILES, plus their SD fields as columns); any of them
may be gzip-compressed (``.gz`` suffix). Rows keep their 1-based line (SDF: record) number in the
source file as index, so warnings can point at the offending lines. Blank lines are skipped, or,
with ``keep_blank=True`` (for counting generated rows), kept as empty strings, i.e. invalid.

Writing: ``.csv``, ``.jsonl``, ``.sdf`` (RDKit) and ``.smi``, always atomically: the table goes to a
temporary file in the target directory which is then renamed over the target, so an interrupted
run never leaves a half-written file. Every row is written: an invalid molecule (empty SMILES) is
``<invalid>`` in a ``.smi`` file and a record without atoms in an ``.sdf`` file, so that reading
the file back counts it. Control characters (newlines, tabs, ...) in a ``.smi`` name or an SD
title or property would break the file's records: they are written as spaces (``.csv`` quotes
them, ``.jsonl`` escapes them).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import IO

import pandas as pd
from rdkit import Chem

from moldiff.chemistry.molecules import to_mol
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write, json_safe

INPUT_FORMATS = (".smi", ".txt", ".csv", ".jsonl", ".sdf")
TABLE_FORMATS = (".csv", ".jsonl", ".sdf", ".smi")
#: How an invalid molecule (empty SMILES) is written in a ``.smi`` file: no SMILES parser reads it.
INVALID_SMILES = "<invalid>"
#: Columns that name a row; the first one a table has is the second field of a ``.smi`` line.
ROW_NAME_COLUMNS = ("name", "index", "line")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def file_format(path: str | Path, allowed: tuple[str, ...]) -> str:
    """The format suffix of ``path`` (``.gz`` looked through), or a clear error if unsupported."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz" and allowed == INPUT_FORMATS:
        suffixes = suffixes[:-1]
    fmt = suffixes[-1] if suffixes else ""
    if fmt not in allowed:
        shown = f"'{fmt}'" if fmt else "no extension"
        extra = " (optionally gzip-compressed, .gz)" if allowed == INPUT_FORMATS else ""
        raise MoldiffError(
            f"unsupported file type {shown} for {path}: use {', '.join(allowed)}{extra}"
        )
    return fmt


def _open_text(path: Path, newline: str | None = None) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline=newline)
    return open(path, encoding="utf-8", newline=newline)


def read_molecule_file(path: str | Path, keep_blank: bool = False) -> pd.DataFrame:
    """Read a molecule file into a DataFrame with a ``smiles`` column (raw strings, unvalidated).

    The index holds each row's 1-based line number in the file. Other columns of a CSV, JSONL or
    SD file are kept; the second column of a ``.smi`` / ``.txt`` line becomes ``name``. With
    ``keep_blank``, blank lines (empty rows of a CSV file) before the last molecule are rows with
    an empty SMILES.
    """
    path = Path(path)
    fmt = file_format(path, INPUT_FORMATS)
    if not path.exists():
        raise MoldiffError(f"no such file: {path}")
    if path.is_dir():
        raise MoldiffError(f"{path} is a directory, not a molecule file")
    try:
        with _open_text(path, "" if fmt == ".csv" else None) as handle:  # the CSV parser reads quoted line breaks
            if fmt == ".csv":
                table = _read_csv(handle, path, keep_blank)
            elif fmt == ".jsonl":
                table = _read_jsonl(handle, path)
            elif fmt == ".sdf":
                table = _read_sdf(handle)
            else:
                table = _read_lines(handle, keep_blank)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise MoldiffError(f"cannot read {path}: {exc}") from None
    if table.empty:
        raise MoldiffError(f"{path} holds no molecules")
    return table


def _read_lines(handle: IO[str], keep_blank: bool) -> pd.DataFrame:
    rows, lines, names = [], [], []
    for number, line in enumerate(handle, start=1):
        fields = line.split(maxsplit=1)
        if fields and fields[0].startswith("#"):
            continue
        if number == 1 and fields and fields[0].lower() == "smiles":  # header line
            continue
        if not fields and not keep_blank:
            continue
        rows.append(fields[0] if fields else "")
        names.append(fields[1].strip() if len(fields) > 1 else "")
        lines.append(number)
    table = pd.DataFrame({"smiles": rows}, index=pd.Index(lines, name="line"))
    if any(names):
        table["name"] = names
    return _drop_trailing_blanks(table)


def _drop_trailing_blanks(table: pd.DataFrame) -> pd.DataFrame:
    """Blank rows after the last non-blank one are the end of the file, not rows."""
    filled = (table != "").any(axis=1).to_numpy().nonzero()[0]
    return table.iloc[: filled[-1] + 1 if len(filled) else 0]


def _smiles_column(columns: list[str], path: Path, where: str = "") -> str | None:
    """The column holding the SMILES (see the module docstring); ``None`` if there is none."""
    found = [c for c in columns if str(c).strip().lower() == "smiles"]
    if len(found) > 1 and "smiles" not in found:
        raise MoldiffError(f"{path}{where} has several SMILES columns ({', '.join(map(str, found))}): "
                           "name the one to read exactly smiles")
    return "smiles" if "smiles" in found else next(iter(found), None)


def _read_csv(handle: IO[str], path: Path, keep_blank: bool) -> pd.DataFrame:
    try:
        # index_col=False: a trailing delimiter must not turn the first column into the index;
        # blank lines are read (then dropped below) so that the index stays the file line number
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            table = pd.read_csv(handle, dtype=str, keep_default_na=False, index_col=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise MoldiffError(f"{path} holds no molecules") from None
    except pd.errors.ParserError as exc:
        raise MoldiffError(f"{path} is not a valid CSV file: {' '.join(str(exc).split())}") from None
    column = _smiles_column(list(table.columns), path)
    if column is None:
        listed = ", ".join(map(str, table.columns)) or "none"
        raise MoldiffError(f"{path} has no 'smiles' column (columns: {listed}); add a header named smiles")
    table = table.rename(columns={column: "smiles"})
    table.index = pd.Index(range(2, len(table) + 2), name="line")  # line 1 is the header
    if keep_blank:
        return _drop_trailing_blanks(table)
    return table.loc[~(table == "").all(axis=1)]


def _read_jsonl(handle: IO[str], path: Path) -> pd.DataFrame:
    records, lines = [], []
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MoldiffError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise MoldiffError(f"{path}, line {number}: expected a JSON object per line")
        key = _smiles_column(list(record), path, f", line {number}")
        if key is None:
            keys = ", ".join(map(str, record)) or "none"
            raise MoldiffError(f"{path}, line {number}: no 'smiles' key (keys: {keys}); every line needs one")
        record["smiles"] = record.pop(key)
        records.append(record)
        lines.append(number)
    table = pd.DataFrame.from_records(records, index=pd.Index(lines, name="line"))
    if table.empty:
        return table
    table.insert(0, "smiles", table.pop("smiles").fillna("").astype(str))
    return table


def _read_sdf(handle: IO[str]) -> pd.DataFrame:
    """Molecules of an SD file as canonical SMILES (empty for a record RDKit cannot read or without
    atoms), numbered from 1, with their SD fields as columns (a ``smiles`` field is replaced)."""
    supplier = Chem.ForwardSDMolSupplier(io.BytesIO(handle.read().encode("utf-8")))
    records = []
    for mol in supplier:
        fields = {} if mol is None else {k: v for k, v in mol.GetPropsAsDict().items() if k != "smiles"}
        name = mol.GetProp("_Name") if mol is not None and mol.HasProp("_Name") else ""
        smiles = Chem.MolToSmiles(mol) if mol is not None and mol.GetNumAtoms() else ""
        records.append({"smiles": smiles, **({"name": name} if name else {}), **fields})
    return pd.DataFrame.from_records(records, index=pd.Index(range(1, len(records) + 1), name="record"))


def check_writable(path: str | Path, allowed: tuple[str, ...] = TABLE_FORMATS) -> Path:
    """Fail early, before any work, if ``path`` has an unsupported format or cannot be written.

    Nothing is created: missing parent directories are made when the file is written.
    """
    path = Path(path)
    file_format(path, allowed)
    if path.is_dir():
        raise MoldiffError(f"cannot write {path}: it is a directory; give a file name")
    existing = next(p for p in (path.absolute().parent, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise MoldiffError(f"cannot write {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MoldiffError(f"cannot write {path}: permission denied in {existing}")
    return path


def write_table(table: pd.DataFrame, path: str | Path) -> int:
    """Write a table with a ``smiles`` column in the format given by the extension, atomically.

    Returns the number of rows written: all of them (see the module docstring for invalid rows).
    """
    path = Path(path)
    fmt = file_format(path, TABLE_FORMATS)
    with atomic_write(path) as handle:
        if fmt == ".csv":
            table.to_csv(handle, index=False, quoting=_csv_quoting(table))
            return len(table)
        if fmt == ".jsonl":
            for record in table.to_dict(orient="records"):
                handle.write(json.dumps(json_safe(record)) + "\n")
            return len(table)
        if fmt == ".smi":
            names = _row_names(table)
            for i, smiles in enumerate(table["smiles"]):
                name = _one_line(names[i]).strip() if names is not None else ""
                name = f"\t{name}" if name else ""
                handle.write(f"{smiles or INVALID_SMILES}{name}\n")
            return len(table)
        return _write_sdf(table, handle)


def _csv_quoting(table: pd.DataFrame) -> int:
    """Minimal quoting, or quoting of all text when some holds a carriage return, which the csv
    module leaves unquoted although readers take it for a line break."""
    texts = table.select_dtypes(include=["object", "string"])
    has_cr = any("\r" in str(c) for c in table.columns) or any(
        texts[c].astype(str).str.contains("\r", regex=False).any() for c in texts.columns)
    return csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL


def _one_line(text: str) -> str:
    """``text`` with control characters (line breaks, tabs, ...) replaced by spaces."""
    return _CONTROL.sub(" ", text)


def _row_names(table: pd.DataFrame) -> list[str] | None:
    column = next((c for c in ROW_NAME_COLUMNS if c in table.columns), None)
    return None if column is None else [str(v) for v in table[column]]


def _write_sdf(table: pd.DataFrame, handle: IO[str]) -> int:
    writer = Chem.SDWriter(handle)
    written = 0
    names = _row_names(table)
    properties = [c for c in table.columns if c not in ("smiles", "name")]
    for i, record in enumerate(table.to_dict(orient="records")):
        mol = to_mol(record["smiles"]) if record["smiles"] else None
        mol = Chem.Mol() if mol is None else mol  # an invalid row is a record without atoms
        if names is not None and names[i] != "":
            mol.SetProp("_Name", _one_line(names[i]))
        mol.SetProp("smiles", str(record["smiles"]))
        for prop in properties:
            value = record[prop]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            mol.SetProp(_one_line(str(prop)), _one_line(str(value)))
        writer.write(mol)
        written += 1
    writer.close()
    return written
