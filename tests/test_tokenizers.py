"""SMILES / SELFIES tokenizers: tokenization, fixed-length codec, persistence, whole-QM9 round trips."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import selfies as sf

from moldiff.chemistry.data import dataset_info, dataset_tokenizer, load_split
from moldiff.chemistry.molecules import canonicalise_all
from moldiff.chemistry.tokenizers import (
    BOS_ID,
    EOS_ID,
    MASK_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    SelfiesTokenizer,
    SmilesTokenizer,
    Tokenizer,
    load_tokenizer,
)
from moldiff.core.errors import MoldiffError, TokenizerError
from moldiff.core.parallel import parallel_map


@pytest.fixture(scope="module")
def smiles_tok() -> Tokenizer:
    return dataset_tokenizer("smiles")


@pytest.fixture(scope="module")
def selfies_tok() -> Tokenizer:
    return dataset_tokenizer("selfies")


# --- SMILES regular expression -----------------------------------------------------------------
@pytest.mark.parametrize("smiles, tokens", [
    ("c1cc[nH]c1", ["c", "1", "c", "c", "[nH]", "c", "1"]),
    ("[NH3+]CC(=O)[O-]", ["[NH3+]", "C", "C", "(", "=", "O", ")", "[O-]"]),
    ("C[C@@H](Br)Cl", ["C", "[C@@H]", "(", "Br", ")", "Cl"]),
    ("[13CH3]O", ["[13CH3]", "O"]),
    ("C%12CCC%12", ["C", "%12", "C", "C", "C", "%12"]),
    ("C1CC2CC1C2", ["C", "1", "C", "C", "2", "C", "C", "1", "C", "2"]),
    ("C#N.C=C", ["C", "#", "N", ".", "C", "=", "C"]),
    ("F/C=C\\F", ["F", "/", "C", "=", "C", "\\", "F"]),
    ("C-C$C:c", ["C", "-", "C", "$", "C", ":", "c"]),
    ("BrCCl", ["Br", "C", "Cl"]),  # two-letter atoms win over B + r / C + l
    ("ClC(Br)(I)P(S)B", ["Cl", "C", "(", "Br", ")", "(", "I", ")", "P", "(", "S", ")", "B"]),
    ("*c1ccoc1", ["*", "c", "1", "c", "c", "o", "c", "1"]),
])
def test_smiles_regex(smiles: str, tokens: list[str]):
    assert SmilesTokenizer.tokenize(smiles) == tokens
    assert "".join(tokens) == smiles


@pytest.mark.parametrize("smiles, bad, position", [("CCX", "X", 3), ("C C", " ", 2), ("C[C", "[", 2), ("Ca", "a", 2)])
def test_smiles_unexpected_character(smiles: str, bad: str, position: int):
    with pytest.raises(TokenizerError) as info:
        SmilesTokenizer.tokenize(smiles)
    assert f"unexpected character '{bad}'" in str(info.value)
    assert f"position {position}" in str(info.value)


def test_empty_smiles_cannot_be_tokenized():
    with pytest.raises(TokenizerError):
        SmilesTokenizer.tokenize("")
    with pytest.raises(TokenizerError):
        SelfiesTokenizer.tokenize_smiles("")


def test_selfies_tokenize():
    text = sf.encoder("OCC#N")
    assert SelfiesTokenizer.from_smiles("OCC#N") == text
    tokens = SelfiesTokenizer.tokenize(text)
    assert tokens == list(sf.split_selfies(text))
    assert "".join(tokens) == text
    assert all(t.startswith("[") and t.endswith("]") for t in tokens)
    for bad in ("C", "[C][O", "[C]x"):
        with pytest.raises(TokenizerError):
            SelfiesTokenizer.tokenize(bad)
    with pytest.raises(TokenizerError, match="SELFIES"):
        SelfiesTokenizer.from_smiles("C1CC")


# --- vocabulary --------------------------------------------------------------------------------
@pytest.mark.parametrize("representation, cls", [("smiles", SmilesTokenizer), ("selfies", SelfiesTokenizer)])
def test_dataset_tokenizers_load(representation: str, cls: type):
    tok = dataset_tokenizer(representation)
    recorded = dataset_info("qm9")["tokenizers"][representation]
    assert type(tok) is cls
    assert tok.vocab_size == recorded["vocab_size"] == 34
    assert len(tok.data_tokens) == recorded["data_tokens"] == tok.vocab_size - len(SPECIAL_TOKENS)
    assert tok.max_length == recorded["max_length"] == 32
    assert tuple(tok.tokens[:4]) == SPECIAL_TOKENS == ("<pad>", "<bos>", "<eos>", "<mask>")
    assert (PAD_ID, BOS_ID, EOS_ID, MASK_ID) == (0, 1, 2, 3)
    assert tok.data_tokens == sorted(tok.data_tokens)


def test_unknown_representation():
    with pytest.raises(MoldiffError, match="unknown representation 'inchi'.*smiles, selfies"):
        dataset_tokenizer("inchi")


def test_build_vocabulary_is_sorted_union_of_tokens():
    smiles = ["CCO", "c1ccccc1Cl", "N#C[C@@H](Br)O", "CCX"]  # the last cannot be tokenized: ignored
    tok = SmilesTokenizer.build(smiles, max_length=16, progress=False)
    expected = sorted({t for s in smiles[:3] for t in SmilesTokenizer.tokenize(s)})
    assert tok.tokens == [*SPECIAL_TOKENS, *expected]
    assert tok.max_length == 16
    with pytest.raises(MoldiffError, match="no molecule could be tokenized"):
        SmilesTokenizer.build(["CCX", "C C"], progress=False)


def test_constructor_validation():
    with pytest.raises(MoldiffError, match="must start with"):
        SmilesTokenizer(["C", *SPECIAL_TOKENS])
    with pytest.raises(MoldiffError, match="repeat"):
        SmilesTokenizer([*SPECIAL_TOKENS, "C", "C"])
    with pytest.raises(MoldiffError, match="at least 3"):
        SmilesTokenizer([*SPECIAL_TOKENS, "C"], max_length=2)


# --- codec -------------------------------------------------------------------------------------
def test_encode_layout(smiles_tok: Tokenizer):
    ids = smiles_tok.encode("CC(=O)N")
    tokens = SmilesTokenizer.tokenize("CC(=O)N")
    assert ids.shape == (32,)
    assert ids.dtype == np.int64
    assert ids[0] == BOS_ID
    assert [smiles_tok.tokens[i] for i in ids[1 : len(tokens) + 1]] == tokens
    assert ids[len(tokens) + 1] == EOS_ID
    assert (ids[len(tokens) + 2 :] == PAD_ID).all()
    assert (ids[1 : len(tokens) + 1] >= len(SPECIAL_TOKENS)).all()


def test_encode_length_boundary(smiles_tok: Tokenizer):
    longest = "C" * 30  # 30 tokens + <bos> + <eos> = 32
    ids = smiles_tok.encode(longest)
    assert ids[-1] == EOS_ID and (ids[1:-1] == smiles_tok.tokens.index("C")).all()
    with pytest.raises(TokenizerError) as info:
        smiles_tok.encode("C" * 31)
    assert "31" in str(info.value) and "max_length 32" in str(info.value)
    assert info.value.reason == "longer than 30 tokens"


def test_encode_token_outside_vocabulary(smiles_tok: Tokenizer):
    assert "Cl" not in smiles_tok.tokens  # QM9 has only C, N, O, F
    with pytest.raises(TokenizerError) as info:
        smiles_tok.encode("CCCl")
    assert "token 'Cl'" in str(info.value)
    assert info.value.reason == "token outside the vocabulary"


def test_encode_text_keeps_the_string_as_written(selfies_tok: Tokenizer):
    canonical = selfies_tok.from_smiles("OCC1CC1")
    assert (selfies_tok.encode_text(canonical) == selfies_tok.encode("OCC1CC1")).all()
    # a sampler's raw output: an extra ring token that decoding ignores stays in the ids
    raw = canonical + "[Ring1]"
    ids = selfies_tok.encode_text(raw)
    n = len(SelfiesTokenizer.tokenize(raw))
    assert [selfies_tok.tokens[i] for i in ids[1 : n + 1]] == SelfiesTokenizer.tokenize(raw) and ids[n + 1] == EOS_ID
    assert not (ids == selfies_tok.encode(selfies_tok.to_smiles(raw))).all()
    with pytest.raises(TokenizerError, match="token '\\[Cl\\]' of '\\[C\\]\\[Cl\\]'"):
        selfies_tok.encode_text("[C][Cl]")


def test_encode_batch_skips_and_counts(smiles_tok: Tokenizer):
    batch = smiles_tok.encode_batch(["CCO", "CCCl", "C" * 31, "CCX", "OCC"], progress=False)
    assert batch.kept == [0, 4]
    assert batch.ids.shape == (2, 32)
    np.testing.assert_array_equal(batch.ids[0], smiles_tok.encode("CCO"))
    np.testing.assert_array_equal(batch.ids[1], smiles_tok.encode("OCC"))
    assert batch.skipped == {"token outside the vocabulary": 1, "longer than 30 tokens": 1, "not tokenizable": 1}
    assert batch.n_skipped == 3
    empty = smiles_tok.encode_batch(["CCX"], progress=False)
    assert empty.ids.shape == (0, 32) and empty.kept == []


def _ids(tok: Tokenizer, *tokens: str | int) -> list[int]:
    return [t if isinstance(t, int) else tok.tokens.index(t) for t in tokens]


@pytest.mark.parametrize("smiles", ["CCO", "c1cc[nH]c1", "[NH3+]CC(=O)[O-]", "C#N", "FC(F)(F)C1CC1"])
def test_decode_inverts_encode(smiles_tok: Tokenizer, selfies_tok: Tokenizer, smiles: str):
    decoded = smiles_tok.decode(smiles_tok.encode(smiles))
    assert decoded.smiles == smiles and decoded.error is None and decoded.text == smiles
    decoded = selfies_tok.decode(selfies_tok.encode(smiles))
    assert decoded.error is None
    assert decoded.text == sf.encoder(smiles)
    assert canonicalise_all([decoded.smiles], progress=False) == canonicalise_all([smiles], progress=False)


def test_decode_stops_at_first_eos_and_drops_pad(smiles_tok: Tokenizer):
    ids = _ids(smiles_tok, BOS_ID, "C", PAD_ID, "C", "O", EOS_ID, "N", "N", EOS_ID, PAD_ID)
    decoded = smiles_tok.decode(ids)
    assert decoded == type(decoded)("CCO", "CCO", None)
    # leading <bos> is optional; a numpy array works like a list
    assert smiles_tok.decode(np.array(ids[1:])).smiles == "CCO"


@pytest.mark.parametrize("middle, expected_error", [
    (MASK_ID, "<mask>"),
    (BOS_ID, "<bos>"),
    (34, "unknown token id 34"),
    (-1, "unknown token id -1"),
])
def test_decode_invalid_sequences(smiles_tok: Tokenizer, middle: int, expected_error: str):
    assert smiles_tok.vocab_size == 34
    decoded = smiles_tok.decode(_ids(smiles_tok, BOS_ID, "C", middle, "O", EOS_ID))
    assert decoded.smiles is None
    assert decoded.error is not None and expected_error in decoded.error


def test_decode_masks_after_eos_are_ignored(smiles_tok: Tokenizer):
    decoded = smiles_tok.decode(_ids(smiles_tok, BOS_ID, "C", "O", EOS_ID, MASK_ID, 99))
    assert decoded.smiles == "CO" and decoded.error is None


def test_decode_requires_eos(smiles_tok: Tokenizer):
    ids = _ids(smiles_tok, BOS_ID, "C", "C", "O", PAD_ID, PAD_ID)
    decoded = smiles_tok.decode(ids)
    assert decoded.smiles is None and "no <eos>" in decoded.error
    assert smiles_tok.decode(ids, require_eos=False).smiles == "CCO"


def test_decode_batch(smiles_tok: Tokenizer):
    rows = np.stack([smiles_tok.encode("CCO"), smiles_tok.encode("C#N")])
    rows = np.concatenate([rows, np.full((1, 32), MASK_ID)])
    decoded = smiles_tok.decode_batch(rows)
    assert [d.smiles for d in decoded] == ["CCO", "C#N", None]
    assert decoded == [smiles_tok.decode(r) for r in rows]


# --- persistence -------------------------------------------------------------------------------
@pytest.mark.parametrize("representation", ["smiles", "selfies"])
def test_save_load_round_trip(tmp_path: Path, representation: str):
    tok = dataset_tokenizer(representation)
    tok.save(tmp_path / "tok.json")
    loaded = load_tokenizer(tmp_path / "tok.json")
    assert loaded == tok
    assert type(loaded) is type(tok)
    assert loaded.tokens == tok.tokens and loaded.max_length == tok.max_length
    custom = SmilesTokenizer([*SPECIAL_TOKENS, "C", "O"], max_length=8)
    custom.save(tmp_path / "custom.json")
    assert load_tokenizer(tmp_path / "custom.json") == custom
    assert load_tokenizer(tmp_path / "custom.json") != tok


def _mutations():
    base = SmilesTokenizer([*SPECIAL_TOKENS, "C", "O"], max_length=8).to_dict()
    yield "wrong format", {**base, "format": "other"}, "not a moldiff tokenizer"
    yield "no format", {k: v for k, v in base.items() if k != "format"}, "not a moldiff tokenizer"
    yield "version", {**base, "version": 99}, "version 99"
    yield "representation", {**base, "representation": "inchi"}, "unknown representation"
    yield "tokens not list", {**base, "tokens": "CO"}, "malformed"
    yield "max_length str", {**base, "max_length": "8"}, "malformed"
    yield "no specials", {**base, "tokens": ["C", "O"]}, "must start with"
    yield "repeated", {**base, "tokens": [*SPECIAL_TOKENS, "C", "C"]}, "repeat"
    yield "not a dict", [1, 2], "not a moldiff tokenizer"


@pytest.mark.parametrize("case, data, message", list(_mutations()), ids=[m[0] for m in _mutations()])
def test_load_mismatched_json_names_file(tmp_path: Path, case: str, data: object, message: str):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(MoldiffError) as info:
        load_tokenizer(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_load_corrupted_json_names_file(tmp_path: Path):
    path = tmp_path / "corrupt.json"
    path.write_text('{"format": "moldiff-tokenizer", "tokens": [', encoding="utf-8")
    with pytest.raises(MoldiffError) as info:
        load_tokenizer(path)
    assert str(path) in str(info.value)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(MoldiffError, match=re.escape(str(path))):
        load_tokenizer(path)
    with pytest.raises(MoldiffError, match="no such tokenizer file"):
        load_tokenizer(tmp_path / "absent.json")


# --- whole QM9 ---------------------------------------------------------------------------------
def _decode_row(tokenizer: Tokenizer, ids: np.ndarray):
    return tokenizer.decode(ids)


@pytest.mark.slow
def test_smiles_round_trip_whole_qm9(smiles_tok: Tokenizer):
    everything = load_split("qm9")
    assert len(everything) == dataset_info("qm9")["molecules"] == 133_798
    batch = smiles_tok.encode_batch(everything, progress=False)
    assert batch.n_skipped == 0, batch.skipped
    assert batch.kept == list(range(len(everything)))
    decoded = smiles_tok.decode_batch(batch.ids)
    mismatches = [(s, d) for s, d in zip(everything, decoded) if d.smiles != s]
    assert mismatches == []
    lengths = (batch.ids == EOS_ID).argmax(axis=1) - 1  # tokens between <bos> and <eos>
    assert lengths.max() == dataset_info("qm9")["tokenizers"]["smiles"]["longest_molecule_tokens"]


@pytest.mark.slow
def test_selfies_round_trip_whole_qm9(selfies_tok: Tokenizer):
    everything = load_split("qm9")
    batch = selfies_tok.encode_batch(everything, progress=False)
    assert batch.n_skipped == 0, batch.skipped
    assert batch.kept == list(range(len(everything)))
    decoded = parallel_map(functools.partial(_decode_row, selfies_tok), list(batch.ids), progress=False)
    assert all(d.error is None for d in decoded)
    canonical = canonicalise_all([d.smiles for d in decoded], progress=False)
    mismatches = [(s, c) for s, c in zip(everything, canonical) if c != s]
    assert mismatches == []
    lengths = (batch.ids == EOS_ID).argmax(axis=1) - 1
    assert lengths.max() == dataset_info("qm9")["tokenizers"]["selfies"]["longest_molecule_tokens"]
