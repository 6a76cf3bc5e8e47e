"""Constrained generation: the scaffold check, token layouts in SMILES and SELFIES, templates, filters,
and the one-line errors of the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import selfies as sf
from rdkit import Chem

from moldiff.chemistry.scaffolds import (
    atom_order_matches,
    atom_token_positions,
    check_decorated,
    parse_scaffold,
    tanimoto,
)
from moldiff.chemistry.tokenizers import SelfiesTokenizer, SmilesTokenizer
from moldiff.core.errors import MoldiffError
from moldiff.pipeline.constraints import MAX_SPAN, make_constraint
from moldiff.pipeline.generate import parse_keep, parse_where, passing
from moldiff.pipeline.options import SampleOptions

QM9_SCAFFOLDS = ["*C1CC1", "*C1COC1", "*C1CCOC1", "*c1ccccc1", "*c1ccncc1", "*c1ccco1"]
TOKENIZERS = {"smiles": SmilesTokenizer(["<pad>", "<bos>", "<eos>", "<mask>", *"#()-123456=CFNOcno", "[nH]"]),
              "selfies": SelfiesTokenizer(["<pad>", "<bos>", "<eos>", "<mask>", "[#Branch1]", "[#C]", "[#N]", "[=Branch1]", "[=C]",
                                           "[=N]", "[=O]", "[=Ring1]", "[Branch1]", "[Branch2]", "[C]", "[F]", "[N]", "[NH1]",
                                           "[O]", "[Ring1]", "[Ring2]"])}


# --- the RDKit check -------------------------------------------------------------------------------
@pytest.mark.parametrize("smiles,ok,decoration", [
    ("Cc1ccccc1", True, "*C"),
    ("c1ccccc1", False, ""),  # no new atom: the bare scaffold is not decorated
    ("OC1=CC=CC=C1", True, "*O"),  # Kekule input, same molecule
    ("CC(C)c1ccccc1", True, "*C(C)C"),
    ("Cc1ccccc1C", False, ""),  # a substituent at an unmarked atom
    ("c1ccc2ccccc2c1", False, ""),  # a ring fused at unmarked atoms
    ("C1CCCCC1", False, ""),  # no aromatic ring
    ("CC.c1ccccc1", False, ""),  # not one molecule
])
def test_check_decorated_phenyl(smiles, ok, decoration):
    found = check_decorated(smiles, parse_scaffold("*c1ccccc1"))
    assert found.ok == ok
    if ok:
        assert found.decorations == (decoration,)


def test_check_decorated_takes_one_new_bond_per_attachment_point():
    cyclopropyl = parse_scaffold("*C1CC1")
    assert check_decorated("CC1CC1", cyclopropyl).ok
    assert not check_decorated("C1CC12CC2", cyclopropyl).ok  # spiro: two new bonds at the marked atom
    assert not check_decorated("CC1(C)CC1", cyclopropyl).ok  # two branches there
    assert not check_decorated("C1CC1", cyclopropyl).ok  # nothing attached
    assert not check_decorated("C1C2C1C2", cyclopropyl).ok  # a bond to an unmarked atom
    two = parse_scaffold("*C1CC(*)C1")
    assert check_decorated("CC1CC(O)C1", two).decorations == ("*C", "*O")
    assert not check_decorated("CC1(C)CC(O)C1C", two).ok


def test_fragments_check_names_the_linker_and_one_fragment_is_grown():
    assert not parse_scaffold("C1CC1*", fragments=True).fragments
    pair = parse_scaffold("c1ccccc1*.*C1CC1", fragments=True)
    assert check_decorated("c1ccccc1CCC1CC1", pair).decorations[0] == "*CC*"
    assert not check_decorated("c1ccccc1C", pair).ok


@pytest.mark.parametrize("text,message", [
    ("C1CC", "does not parse"),
    ("C1CC1", "no attachment point"),
    ("*C(F)(F)(F)F", "cannot take another bond"),
    ("*O(C)C", "cannot take another bond"),
    ("C*C", "exactly one atom"),
    ("*=C1CC1", "single bonds"),
    ("c1ccccc1*.*C1CC1", "--fragments"),
    ("*C(*)(*)C", "at most 2"),
    ("", "not a SMILES"),
])
def test_bad_scaffolds_are_one_line_errors(text, message):
    with pytest.raises(MoldiffError, match=message):
        parse_scaffold(text)


# --- layouts in both representations ------------------------------------------------------------------
@pytest.mark.parametrize("representation", ["smiles", "selfies"])
@pytest.mark.parametrize("scaffold", [*QM9_SCAFFOLDS, "*C1CC(*)C1", "*c1ccc(*)cc1"])
def test_any_decoration_is_attached_at_the_attachment_point(representation, scaffold):
    """Fill each free run of the template with a random decoration: every filling that is a molecule
    has its new atoms at the attachment points (the layout places them), in both representations."""
    tokenizer = TOKENIZERS[representation]
    constraint = make_constraint(SampleOptions(scaffold=scaffold))
    template = constraint.template(tokenizer, 0, np.arange(40))
    rng = np.random.default_rng(0)
    pieces = {"smiles": ["C", "O", "N", "C(C)", "C=O", "C#N", "CO"], "selfies": ["[C]", "[O]", "[N]", "[C][Branch1][C][C]", "[=O]", "[C][#N]"]}
    atoms = pieces[representation]
    parsed = 0
    for tokens, fixed in zip(template.tokens.numpy(), template.fixed.numpy()):
        assert tokens[0] == tokenizer.bos_id and fixed[0]
        free = np.flatnonzero(~fixed)
        text = []
        i = 1
        while i < len(tokens) and (fixed[i] or i in free):
            if fixed[i]:
                if tokens[i] == tokenizer.eos_id:
                    break
                text.append(tokenizer.tokens[tokens[i]])
                i += 1
            else:  # one free run: write one or two decoration pieces, skip the rest of the run
                run = i
                while run < len(tokens) and not fixed[run]:
                    run += 1
                text.extend(tokenizer.tokenize(str(rng.choice(atoms))) if representation == "smiles" else sf.split_selfies(str(rng.choice(atoms))))
                i = run
        smiles = tokenizer.to_smiles("".join(text))
        mol = Chem.MolFromSmiles(smiles) if smiles else None
        if mol is None or not mol.HasSubstructMatch(constraint.scaffold.core):
            continue  # C=O before the scaffold (SMILES), a SELFIES [#N] before it that ends the chain: invalid
        parsed += 1
        assert check_decorated(smiles, constraint.scaffold).ok, smiles
    assert parsed >= len(template.tokens) // 2


def test_span_lengths_are_seeded_per_molecule_and_bounded():
    constraint = make_constraint(SampleOptions(scaffold="*C1CC(*)C1"))
    tokenizer = TOKENIZERS["selfies"]
    first = constraint.template(tokenizer, 3, np.arange(0, 50))
    again = constraint.template(tokenizer, 3, np.arange(20, 30))
    assert np.array_equal(first.fixed[20:30].numpy(), again.fixed.numpy())  # molecule i depends on (seed, i) only
    _, head, tail = constraint.spelled(tokenizer)
    lengths = {int((~row[1:1 + MAX_SPAN + 1]).sum()) for row in first.fixed.numpy()}  # the free span before the scaffold
    assert lengths <= set(range(1, MAX_SPAN + 1)) and len(lengths) > 2


def test_fragments_template_ends_with_eos_and_padding_held():
    constraint = make_constraint(SampleOptions(fragments="C1CC1*.*C1COC1"))
    template = constraint.template(TOKENIZERS["smiles"], 0, np.arange(5))
    for tokens, fixed in zip(template.tokens.numpy(), template.fixed.numpy()):
        end = int(np.flatnonzero(tokens == 2)[0])
        assert fixed[end:].all() and 1 <= (~fixed).sum() <= MAX_SPAN


def test_a_too_long_scaffold_or_unknown_tokens_are_errors():
    with pytest.raises(MoldiffError, match="too long"):
        make_constraint(SampleOptions(scaffold="*" + "C" * 40)).template(TOKENIZERS["smiles"], 0, np.arange(1))
    with pytest.raises(MoldiffError, match="not in the vocabulary"):
        make_constraint(SampleOptions(scaffold="*C1CC1Cl")).template(TOKENIZERS["smiles"], 0, np.arange(1))


# --- analogs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("representation", ["smiles", "selfies"])
def test_remask_atoms_frees_exactly_the_matched_atoms_tokens(representation):
    tokenizer = TOKENIZERS[representation]
    constraint = make_constraint(SampleOptions(start="OCC1=CC=CN1", remask_atoms="[OX2H]"))
    template = constraint.template(tokenizer, 0, np.arange(3))
    free = np.flatnonzero(~template.fixed[0].numpy())
    tokens = tokenizer.tokenize_smiles(constraint.start)
    assert [tokens[i - 1] for i in free] == (["O"] if representation == "smiles" else ["[O]"])


def test_atom_token_positions_follow_the_written_atoms():
    smiles = "c1ccccc1CO"
    tokens = list(sf.split_selfies(sf.encoder(smiles)))
    positions = atom_token_positions(tokens, "selfies")
    assert len(positions) == Chem.MolFromSmiles(smiles).GetNumAtoms()
    assert [tokens[p] for p in positions[-2:]] == ["[C]", "[O]"]
    assert atom_token_positions(SmilesTokenizer.tokenize("C1CC1[nH]"), "smiles") == [0, 2, 3, 5]
    assert atom_order_matches("OCC1=CC=CN1", "[OX2H]") == [0]


def test_remask_fraction_is_seeded_and_sized():
    constraint = make_constraint(SampleOptions(start="CC1=CC(O)CC1N", remask=0.3))
    tokenizer = TOKENIZERS["smiles"]
    template = constraint.template(tokenizer, 1, np.arange(10))
    n = len(tokenizer.tokenize_smiles(constraint.start))
    assert ((~template.fixed.numpy()).sum(1) == round(0.3 * n)).all()
    assert len({tuple(row) for row in template.fixed.numpy()}) > 1


def test_tanimoto_is_one_for_the_same_molecule_and_nan_for_invalid():
    values = tanimoto(["OCC1=CC=CN1", "CCO", None], "OCc1ccc[nH]1")
    assert values[0] == 1.0 and 0 < values[1] < 1 and np.isnan(values[2])


@pytest.mark.parametrize("options,message", [
    (dict(start="CCO", remask=0.0), r"\(0, 1\]"),
    (dict(start="CCO", remask=1.5), r"\(0, 1\]"),
    (dict(start="CCO"), "--remask"),
    (dict(remask=0.3), "--from"),
    (dict(scaffold="*C1CC1", start="CCO", remask=0.3), "cannot be combined"),
    (dict(start="C1CC", remask=0.3), "not a valid SMILES"),
    (dict(start="CCO", remask_atoms="[C"), "does not parse as SMARTS"),
    (dict(fragments="C1CC1*.*C.*C"), "two fragments"),
    (dict(fragments="*C1CC1*.*C"), "two fragments"),
])
def test_bad_constraints_are_one_line_errors(options, message):
    with pytest.raises(MoldiffError, match=message):
        make_constraint(SampleOptions(**options))


# --- substructure filters -------------------------------------------------------------------------
def test_has_and_lacks_filters_split_on_top_level_commas_only():
    conditions = parse_where("has([N,O]),qed>0.1,lacks(c1ccccc1)")
    assert [str(c) for c in conditions] == ["has([N,O])", "qed>0.1", "lacks(c1ccccc1)"]
    table = pd.DataFrame({"smiles": ["CCO", "c1ccccc1O", "CC", ""], "valid": [True, True, True, False],
                          "qed": [0.4, 0.5, 0.3, np.nan]})
    assert passing(table, (), conditions, [], set()).tolist() == [True, False, False, False]
    assert parse_keep("valid,lacks([#7])") == ("valid",)
    with pytest.raises(MoldiffError, match="SMARTS"):
        parse_where("has(C1CC[)")


def test_keep_alert_free_drops_molecules_that_fail_the_moses_filters():
    table = pd.DataFrame({"smiles": ["CC(=O)Nc1ccc(O)cc1", "CCCCl", "CC[N+](C)(C)C", "C1CCCCCCC1", "Oc1ccccc1O", "", "CC(=O)Nc1ccc(O)cc1"],
                          "valid": [True, True, True, True, True, False, True]})
    keep = parse_keep("valid,alert-free")
    assert keep == ("valid", "alert-free")
    assert passing(table, keep, (), [], set()).tolist() == [True, False, False, False, False, False, True]
    assert passing(table, (*keep, "unique"), (), [], set()).tolist() == [True, False, False, False, False, False, False]
    with pytest.raises(MoldiffError, match="choose from valid, unique, novel, hits, alert-free"):
        parse_keep("valid,alertfree")


# --- end to end with the default model --------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    import moldiff

    return moldiff.load("qm9-selfies-mdlm")


def test_decorated_molecules_keep_the_scaffold(model):
    result = model.sample(24, scaffold="*C1COC1", steps=32, progress=False, batch_size=8)
    table = result.to_dataframe()
    scaffold = parse_scaffold("*C1COC1")
    assert table["valid"].mean() > 0.7
    for smiles, valid, decoration, reason in zip(table["smiles"], table["valid"], table["decoration_1"], table["invalid_reason"]):
        assert not valid or check_decorated(smiles, scaffold).ok  # never a broken scaffold passed as valid
        assert valid or reason
        assert not valid or decoration == check_decorated(smiles, scaffold).decorations[0]
    again = model.sample(8, scaffold="*C1COC1", steps=32, progress=False, batch_size=3).to_dataframe()
    assert again["raw"].tolist() == table["raw"][:8].tolist()  # batching changes nothing


def test_molecules_that_break_the_scaffold_or_do_not_fit_are_drawn_again(model):
    """A decoration still being written at max_length (no <eos>) is redrawn like a broken scaffold: what stays
    invalid for either reason has used every redraw."""
    from moldiff.chemistry.tokenizers import NO_EOS
    from moldiff.pipeline.constraints import REDRAWS

    table = model.sample(32, scaffold="*C1CCOCC1", steps=32, progress=False).to_dataframe()
    failed = table["invalid_reason"].str.startswith("breaks the") | (table["invalid_reason"] == NO_EOS)
    assert (table["redraws"] > 0).any() and (table.loc[failed, "redraws"] == REDRAWS).all()
    assert table["valid"].mean() > 0.9


def test_analogs_report_similarity_and_pass_filters(model):
    result = model.sample(6, start="CC1=CC(O)CC1N", remask=0.3, steps=32, progress=False, where="has([#6]),lacks([F])")
    table = result.to_dataframe()
    assert len(table) == 6 and table["valid"].all() and table["similarity"].between(0, 1).all()


def test_cli_scaffold_writes_decorations_and_bad_input_writes_nothing(run_cli, tmp_path: Path):
    out = tmp_path / "dec.csv"
    run_cli("sample", "--scaffold", "*C1CC1", "-n", "4", "--steps", "16", "--out", out)
    assert "decoration_1" in pd.read_csv(out).columns
    for args, message in [(["--scaffold", "C1CC1"], "no attachment point"), (["--scaffold", "*C(F)(F)(F)F"], "cannot take"),
                          (["--from", "CCO", "--remask", "0"], "(0, 1]"), (["--scaffold", "*C1CC1", "--from", "CCO", "--remask", "0.3"], "cannot be combined"),
                          (["--scaffold", "*C1CC1Cl"], "not in the vocabulary"), (["--scaffold", "*" + "C" * 40], "too long"),
                          (["--where", "has(C1CC[)"], "SMARTS")]:
        bad = tmp_path / "bad.csv"
        result = run_cli("sample", *args, "-n", "2", "--steps", "4", "--out", bad, expect=2)
        lines = result.stderr.strip("\n").splitlines()
        assert len(lines) == 1 and message in lines[0] and not bad.exists()
    result = run_cli("frontier", "--scaffold", "C1CC1", "-n", "2", "--out", tmp_path / "f.csv", expect=2)
    assert "no attachment point" in result.stderr and not (tmp_path / "f.csv").exists()


def test_a_constrained_frontier_decorates_at_every_point(tmp_path: Path):
    import moldiff

    front = moldiff.frontier("qm9-selfies-mdlm", guidance="none,cfg", gammas=[2.0], target="rings", steps=16, num_samples=8,
                             scaffold="*C1COC1", cache=tmp_path / "cache.json", progress=False)
    assert len(front.table) == 2 and (front.table["validity"] > 0).all()
    assert all("scaffold=*C1COC1" in options for options in front.table["options"])
