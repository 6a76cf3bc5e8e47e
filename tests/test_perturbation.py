"""Perturbed copies of training molecules: where tokens change, what they are drawn from, labels."""

import numpy as np
import pytest
import torch

from moldiff.chemistry.data import load_split
from moldiff.chemistry.molecules import canonical_smiles
from moldiff.chemistry.oracles import score
from moldiff.chemistry.tokenizers import BOS_ID, EOS_ID, PAD_ID, SelfiesTokenizer, SmilesTokenizer
from moldiff.core.errors import MoldiffError
from moldiff.training.config import TrainConfig
from moldiff.training.perturbation import MAX_CHANGES, perturb, perturbed_molecules, token_frequencies
from moldiff.training.train import prepare_training_data


def _ids(tokenizer_class, n: int = 200) -> tuple[np.ndarray, object]:
    smiles = load_split("qm9", "train")[:n]
    tokenizer = tokenizer_class.build(smiles, 32, progress=False)
    return tokenizer.encode_batch(smiles, progress=False).ids, tokenizer


def test_copies_change_one_to_four_tokens_inside_the_molecule_drawn_from_the_data_frequencies():
    ids, tokenizer = _ids(SelfiesTokenizer)
    frequencies = token_frequencies(ids, tokenizer.vocab_size)
    assert frequencies.sum() == pytest.approx(1.0) and frequencies[[PAD_ID, BOS_ID, EOS_ID]].sum() == 0
    absent = [t for t in range(tokenizer.vocab_size) if t not in ids]
    rows = perturb(ids, 3, seed=5, frequencies=frequencies)
    assert rows.shape == (3 * len(ids), ids.shape[1])
    original = np.tile(ids, (3, 1))
    changed = rows != original
    ends = np.argmax(original == EOS_ID, axis=1)
    inside = (np.arange(ids.shape[1]) >= 1) & (np.arange(ids.shape[1]) < ends[:, None])
    assert not (changed & ~inside).any()  # <bos>, <eos> and padding stay
    assert changed.sum(1).max() <= MAX_CHANGES and changed.any(1).mean() > 0.8  # a redraw may repeat the token
    assert not np.isin(rows[changed], [PAD_ID, BOS_ID, EOS_ID] + absent).any()
    assert (np.bincount(changed.sum(1), minlength=MAX_CHANGES + 1)[1:] > 0).all()  # 1, 2, 3 and 4 changes occur
    assert np.array_equal(rows, perturb(ids, 3, seed=5, frequencies=frequencies))
    assert not np.array_equal(rows, perturb(ids, 3, seed=6, frequencies=frequencies))


@pytest.mark.parametrize("tokenizer_class", [SelfiesTokenizer, SmilesTokenizer])
def test_kept_copies_are_the_valid_molecules_they_decode_to(tokenizer_class):
    ids, tokenizer = _ids(tokenizer_class, 100)
    perturbed = perturbed_molecules(ids, tokenizer, 2, seed=0, progress=False)
    assert len(perturbed) + perturbed.n_invalid == 200
    assert [tokenizer.decode(row).smiles is not None for row in perturbed.ids] == [True] * len(perturbed)
    assert perturbed.smiles == [canonical_smiles(tokenizer.decode(row).smiles) for row in perturbed.ids]
    if tokenizer_class is SelfiesTokenizer:  # every SELFIES string is a molecule (or empty)
        assert perturbed.n_invalid < 10
    else:  # most redrawn SMILES tokens break the syntax, and those copies are dropped
        assert perturbed.n_invalid > 50


def test_perturbed_copies_join_the_training_split_labelled_by_what_they_decode_to(molecules):
    settings = dict(kind="classifier", process="mask", out="run", preset="tiny", data=str(molecules), targets=["rings"],
                    representation="selfies")
    plain = prepare_training_data(TrainConfig(**settings), progress=False)
    config = TrainConfig(**settings, perturbed=2)
    data = prepare_training_data(config, progress=False)
    n = len(plain.train_ids)
    assert torch.equal(data.train_ids[:n], plain.train_ids) and torch.equal(data.valid_ids, plain.valid_ids)
    added, labels = data.train_ids[n:], data.train_labels[n:, 0]
    entry = data.record["perturbed"]
    assert entry["copies"] == 2 and entry["molecules"] == len(added) and entry["molecules"] + entry["invalid_skipped"] == 2 * n
    decoded = [data.tokenizer.decode(row).smiles for row in added]
    rings = score(decoded, ["rings"], progress=False)["rings"].to_numpy()
    assert labels.tolist() == (rings > 3).astype(int).tolist()
    assert entry["positive_fraction"] == {"rings": round(float(labels.float().mean()), 6)}
    assert data.record["positive_fraction"] == plain.record["positive_fraction"]  # of the data set alone
    assert "--perturbed 2" in config.command()
    with pytest.raises(MoldiffError, match="--perturbed applies to classifiers"):
        TrainConfig(**{**settings, "kind": "mdlm", "process": None}, perturbed=1)
    with pytest.raises(MoldiffError, match="perturbed must be at least 0"):
        TrainConfig(**settings, perturbed=-1)
