"""Fitted oracles: a scikit-learn surrogate of a measured property, fitted on Morgan fingerprints.

``moldiff oracle fit NAME --data FILE --column COL`` writes ``oracles/NAME/`` (in the current
directory or ``--out``; found by name in every asset root, see :mod:`moldiff.core.assets`):

- ``oracle.json``: the record: data file and its sha256, column, model and its settings, held-out
  R² and Spearman on a seeded split, k-fold cross-validation, the applicability domain, and the
  sha256 of the weights;
- ``weights.safetensors``: the model's arrays and the fingerprints of (up to
  :data:`MAX_REFERENCE`) training molecules for the applicability domain;
- ``README.md``: the card.

Features are folded Morgan count fingerprints (radius 2, 2048 bits), ``log1p`` of the counts. Models:
``ridge`` (linear, its penalty chosen by efficient leave-one-out over a grid; any data size) and
``mlp`` (one hidden layer of 256 ReLU units, early stopping; better on non-additive properties, a
few minutes at 100,000 molecules). Loading reads only JSON and safetensors and checks the weights'
hash against the record: no code in the files is ever run, and a changed file is refused.
Prediction is plain numpy, so scikit-learn is needed to fit, not to score.

The applicability domain of a molecule is its nearest-neighbour Tanimoto similarity (Morgan bits)
to the training molecules: values far below the held-out ones (``domain`` in the record) mean the
prediction is an extrapolation.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rdkit
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from moldiff import __version__
from moldiff.chemistry.molecules import to_mol
from moldiff.core.assets import find_asset, list_assets
from moldiff.core.errors import MoldiffError
from moldiff.core.files import atomic_write, read_json, sha256_file, write_json

FORMAT = "moldiff-fitted-oracle"
VERSION = 1
ORACLE_DIR = "oracles"
RECORD_FILE = "oracle.json"
WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "README.md"
MODELS = ("ridge", "mlp")
RADIUS, BITS = 2, 2048
#: Fewest labelled molecules to fit on (a held-out part and k folds need some of each).
MIN_FIT_MOLECULES = 50
#: Most training molecules kept as the applicability-domain reference (a seeded sample beyond that).
MAX_REFERENCE = 20_000
#: Most held-out molecules whose domain is measured for the record.
MAX_DOMAIN_QUERIES = 2000
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 11))
MLP_HIDDEN = 256


@functools.cache
def _generator() -> rdFingerprintGenerator.FingerprintGenerator64:
    return rdFingerprintGenerator.GetMorganGenerator(radius=RADIUS, fpSize=BITS)


def morgan_counts(mols: Sequence[Chem.Mol]) -> np.ndarray:
    """``[n, 2048]`` float32 folded Morgan counts (radius 2) of RDKit molecules."""
    out = np.zeros((len(mols), BITS), dtype=np.float32)
    generator = _generator()
    for i, mol in enumerate(mols):
        out[i] = generator.GetCountFingerprintAsNumPy(mol)
    return out


def features(counts: np.ndarray) -> np.ndarray:
    """The model's input: ``log1p`` of Morgan counts."""
    return np.log1p(counts)


def tanimoto_nearest(query: np.ndarray, reference: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Largest Tanimoto similarity of each boolean fingerprint row of ``query`` to any row of ``reference``."""
    ref = reference.astype(np.float32)
    ref_bits = ref.sum(1)
    best = np.zeros(len(query))
    for start in range(0, len(query), chunk):
        q = query[start : start + chunk].astype(np.float32)
        common = q @ ref.T
        union = q.sum(1)[:, None] + ref_bits[None, :] - common
        with np.errstate(invalid="ignore", divide="ignore"):
            similarity = np.where(union > 0, common / union, 1.0)
        best[start : start + chunk] = similarity.max(1) if len(ref) else 0.0
    return best


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _quality(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score

    return {"r2": round(float(r2_score(y, predicted)), 4), "spearman": round(_spearman(y, predicted), 4),
            "mae": round(float(mean_absolute_error(y, predicted)), 6), "molecules": len(y)}


def _estimator(model: str, seed: int):
    if model == "ridge":
        from sklearn.linear_model import RidgeCV

        return RidgeCV(alphas=RIDGE_ALPHAS)
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    mlp = MLPRegressor(hidden_layer_sizes=(MLP_HIDDEN,), alpha=1e-3, early_stopping=True, max_iter=300, random_state=seed)
    return TransformedTargetRegressor(regressor=mlp, transformer=StandardScaler())


def _arrays(model: str, estimator: Any) -> dict[str, np.ndarray]:
    """The fitted estimator as the plain arrays :meth:`FittedOracle.predict_features` needs."""
    if model == "ridge":
        return {"coef": np.asarray(estimator.coef_, dtype=np.float64).reshape(-1),
                "intercept": np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))}
    mlp, scaler = estimator.regressor_, estimator.transformer_
    return {"W0": mlp.coefs_[0].astype(np.float64), "b0": mlp.intercepts_[0].astype(np.float64),
            "W1": mlp.coefs_[1].astype(np.float64).reshape(-1), "b1": mlp.intercepts_[1].astype(np.float64).reshape(-1),
            "y_mean": np.atleast_1d(scaler.mean_).astype(np.float64), "y_scale": np.atleast_1d(scaler.scale_).astype(np.float64)}


#: The arrays of each model and their shapes (``None``: any length).
SHAPES: dict[str, dict[str, tuple[int | None, ...]]] = {
    "ridge": {"coef": (BITS,), "intercept": (1,)},
    "mlp": {"W0": (BITS, None), "b0": (None,), "W1": (None,), "b1": (1,), "y_mean": (1,), "y_scale": (1,)},
}


@dataclass(frozen=True)
class FittedOracle:
    """A fitted surrogate: its record (``oracle.json``), model arrays and domain reference fingerprints."""

    record: dict[str, Any]
    arrays: dict[str, np.ndarray]
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def model(self) -> str:
        return self.record["model"]["kind"]

    @property
    def description(self) -> str:
        heldout = self.record["metrics"]["heldout"]
        return (f"fitted {self.model} surrogate of '{self.record['column']}' in {Path(self.record['data']).name} "
                f"(held-out R² {heldout['r2']:.2f}, Spearman {heldout['spearman']:.2f})")

    def predict_features(self, x: np.ndarray) -> np.ndarray:
        """Predictions for rows of :func:`features`."""
        a = self.arrays
        if self.model == "ridge":
            return x.astype(np.float64) @ a["coef"] + a["intercept"][0]
        hidden = np.maximum(x.astype(np.float64) @ a["W0"] + a["b0"], 0.0)
        return (hidden @ a["W1"] + a["b1"][0]) * a["y_scale"][0] + a["y_mean"][0]

    def predict(self, mols: Sequence[Chem.Mol]) -> np.ndarray:
        """Predicted values of RDKit molecules."""
        return self.predict_features(features(morgan_counts(mols)))

    def __call__(self, mol: Chem.Mol) -> float:
        """The predicted value of one RDKit molecule (the oracle function)."""
        return float(self.predict([mol])[0])

    def domain(self, smiles: Sequence[str | None]) -> np.ndarray:
        """Nearest-neighbour Tanimoto similarity of each SMILES to the training molecules (NaN if invalid)."""
        mols = [to_mol(s) if s else None for s in smiles]
        valid = [i for i, m in enumerate(mols) if m is not None]
        out = np.full(len(smiles), np.nan)
        if valid:
            bits = morgan_counts([mols[i] for i in valid]) > 0
            reference = np.unpackbits(self.arrays["reference_bits"], axis=1, count=BITS).astype(bool)
            out[valid] = tanimoto_nearest(bits, reference)
        return out


def fit_oracle(name: str, smiles: Sequence[str], values: np.ndarray, *, model: str = "ridge", seed: int = 0,
               folds: int = 5, test_fraction: float = 0.2, record: dict[str, Any] | None = None) -> FittedOracle:
    """Fit a surrogate of ``values`` (finite floats) on canonical ``smiles``: a held-out score on a seeded
    split, ``folds``-fold cross-validation, then the model refitted on all molecules."""
    from sklearn.model_selection import KFold

    if model not in MODELS:
        raise MoldiffError(f"unknown model '{model}': choose one of {', '.join(MODELS)}")
    y = np.asarray(values, dtype=np.float64)
    if len(y) < MIN_FIT_MOLECULES:
        raise MoldiffError(f"only {len(y)} molecules have a value: at least {MIN_FIT_MOLECULES} are needed to fit "
                           "and to measure the fit on held-out molecules")
    if np.ptp(y) == 0:
        raise MoldiffError(f"every molecule has the same value ({y[0]:g}): there is nothing to fit")
    counts = morgan_counts([Chem.MolFromSmiles(s) for s in smiles])
    x = features(counts)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(1, int(round(test_fraction * len(y))))
    test, train = order[:n_test], order[n_test:]
    heldout = _estimator(model, seed).fit(x[train], y[train])
    metrics: dict[str, Any] = {"heldout": {**_quality(y[test], heldout.predict(x[test])), "test_fraction": test_fraction,
                                           "seed": seed}}
    per_fold = []
    for fold_train, fold_test in KFold(folds, shuffle=True, random_state=seed).split(x):
        fold = _estimator(model, seed).fit(x[fold_train], y[fold_train])
        per_fold.append(_quality(y[fold_test], fold.predict(x[fold_test])))
    metrics["cross_validation"] = {
        "folds": folds,
        **{f"{key}_{stat}": round(float(fn([f[key] for f in per_fold])), 4)
           for key in ("r2", "spearman") for stat, fn in (("mean", np.mean), ("std", np.std))},
    }
    bits = counts > 0
    # the held-out molecules' domain, against the training part as the saved reference holds it (capped)
    heldout_similarity = tanimoto_nearest(bits[test[:MAX_DOMAIN_QUERIES]], bits[train[:MAX_REFERENCE]])
    final = _estimator(model, seed).fit(x, y)
    arrays = _arrays(model, final)
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:MAX_REFERENCE])
    arrays["reference_bits"] = np.packbits(bits[keep], axis=1)
    settings: dict[str, Any] = {"kind": model, "features": f"log1p Morgan counts, radius {RADIUS}, {BITS} bits"}
    if model == "ridge":
        settings |= {"alpha": float(final.alpha_), "alphas": list(RIDGE_ALPHAS)}
    else:
        settings |= {"hidden": MLP_HIDDEN, "alpha": 1e-3, "iterations": int(final.regressor_.n_iter_)}
    full = {
        "format": FORMAT, "version": VERSION, "name": name, **(record or {}),
        "molecules": len(y), "value_mean": float(y.mean()), "value_std": float(y.std()),
        "model": settings, "metrics": metrics,
        "domain": {"similarity": "nearest-neighbour Tanimoto, Morgan bits radius 2, 2048 bits",
                   "reference_molecules": len(keep),
                   "heldout_nearest_similarity": {q: round(float(np.quantile(heldout_similarity, p)), 4)
                                                  for q, p in (("p10", 0.1), ("median", 0.5), ("p90", 0.9))}},
        "versions": {"moldiff": __version__, "rdkit": rdkit.__version__, "scikit-learn": _sklearn_version()},
    }
    oracle = FittedOracle(full, arrays)
    if not np.allclose(oracle.predict_features(x[:64]), final.predict(x[:64]), rtol=1e-6, atol=1e-6):
        raise AssertionError("the saved arrays do not reproduce scikit-learn's predictions")
    return oracle


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def save_fitted(oracle: FittedOracle, directory: str | Path) -> Path:
    """Write weights, record (with the weights' sha256) and card into ``directory``, each atomically."""
    from safetensors.numpy import save

    directory = Path(directory)
    with atomic_write(directory / WEIGHTS_FILE, "wb") as handle:
        handle.write(save({k: np.ascontiguousarray(v) for k, v in oracle.arrays.items()}))
    record = {**oracle.record, "weights_sha256": sha256_file(directory / WEIGHTS_FILE)}
    write_json(record, directory / RECORD_FILE)
    with atomic_write(directory / CARD_FILE) as handle:
        handle.write(fitted_card(record))
    return directory


def fitted_card(record: dict[str, Any]) -> str:
    """The README of a fitted oracle."""
    m, cv, dom = record["metrics"]["heldout"], record["metrics"]["cross_validation"], record["domain"]
    near = dom["heldout_nearest_similarity"]
    return f"""# Fitted oracle `{record['name']}`

A {record['model']['kind']} surrogate of the column `{record['column']}` of `{record['data']}`
(sha256 `{record['data_sha256']}`), fitted on {record['molecules']:,} molecules ({record['model']['features']}).
Use it by name wherever moldiff takes an oracle: `moldiff score --oracles {record['name']}`,
`--where '{record['name']}>X'`, `moldiff target create T --oracle {record['name']}`.

| quality | R² | Spearman | MAE |
| --- | --- | --- | --- |
| held out ({m['molecules']:,} molecules, {m['test_fraction']:.0%}, seed {m['seed']}) | {m['r2']:.3f} | {m['spearman']:.3f} | {m['mae']:.4g} |
| {cv['folds']}-fold cross-validation | {cv['r2_mean']:.3f} ± {cv['r2_std']:.3f} | {cv['spearman_mean']:.3f} ± {cv['spearman_std']:.3f} | |

Applicability domain: nearest-neighbour Tanimoto similarity (Morgan bits) to {dom['reference_molecules']:,}
training molecules. Held-out molecules lie at p10 {near['p10']:.2f}, median {near['median']:.2f},
p90 {near['p90']:.2f}; a generated molecule far below these is an extrapolation
(`moldiff score --oracles {record['name']}` adds its `{record['name']}_domain` column).

Command: `{record.get('command', '')}`. Files: `{RECORD_FILE}` (this record), `{WEIGHTS_FILE}`
(arrays only; its sha256 is checked on loading, nothing in either file is executed).
"""


def _refuse(path: Path, why: str) -> MoldiffError:
    return MoldiffError(f"refusing the fitted oracle {path}: {why}; refit it with `moldiff oracle fit`")


def read_fitted(directory: str | Path) -> FittedOracle:
    """Load a fitted oracle directory: JSON and safetensors only, weights checked against the record's hash."""
    from safetensors.numpy import load

    directory = Path(directory)
    record = read_json(directory / RECORD_FILE, "fitted oracle record")
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise _refuse(directory, f"{RECORD_FILE} is not a {FORMAT} record")
    if record.get("version") != VERSION:
        raise _refuse(directory, f"format version {record.get('version')!r}, this moldiff reads {VERSION}")
    kind = record.get("model", {}).get("kind") if isinstance(record.get("model"), dict) else None
    if kind not in MODELS:
        raise _refuse(directory, f"unknown model {kind!r}")
    weights = directory / WEIGHTS_FILE
    try:
        blob = weights.read_bytes()
    except OSError as exc:
        raise _refuse(directory, f"cannot read {WEIGHTS_FILE} ({exc})") from None
    if hashlib.sha256(blob).hexdigest() != record.get("weights_sha256"):
        raise _refuse(directory, f"{WEIGHTS_FILE} does not match the sha256 in {RECORD_FILE} (changed or damaged)")
    try:
        arrays = load(blob)
    except Exception as exc:  # safetensors parses a JSON header and raw arrays only
        raise _refuse(directory, f"{WEIGHTS_FILE} is not a safetensors file ({exc})") from None
    expected = {**SHAPES[kind], "reference_bits": (None, BITS // 8)}
    if set(arrays) != set(expected):
        raise _refuse(directory, f"{WEIGHTS_FILE} holds {sorted(arrays)}, expected {sorted(expected)}")
    for key, shape in expected.items():
        array = arrays[key]
        if array.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, array.shape)):
            raise _refuse(directory, f"array {key} has shape {array.shape}, expected {shape}")
    if kind == "mlp" and not (arrays["W0"].shape[1] == len(arrays["b0"]) == len(arrays["W1"])):
        raise _refuse(directory, "the hidden layer's arrays disagree in size")
    if not all(np.isfinite(v).all() for k, v in arrays.items() if k != "reference_bits"):
        raise _refuse(directory, "the model holds non-finite numbers")
    for key in ("name", "column", "data", "metrics"):
        if key not in record:
            raise _refuse(directory, f"{RECORD_FILE} lacks '{key}'")
    return FittedOracle(record, arrays, directory)


def find_fitted(name: str) -> Path | None:
    """The directory ``oracles/NAME`` of a fitted oracle in the first asset root that has one."""
    folder = find_asset(ORACLE_DIR, name)
    return folder if folder is not None and (folder / RECORD_FILE).is_file() else None


def fitted_for(data_sha256: str, column: str) -> list[str]:
    """Names of the fitted oracles (in any asset root) fitted to ``column`` of the data with that sha256."""
    names = []
    for name, folder in list_assets(ORACLE_DIR).items():
        try:
            record = read_json(folder / RECORD_FILE, "fitted oracle record")
        except MoldiffError:
            continue
        if isinstance(record, dict) and (record.get("data_sha256"), record.get("column")) == (data_sha256, column):
            names.append(name)
    return names
