"""moldiff: guided discrete diffusion for molecule design.

The foundation API::

    import moldiff
    train = moldiff.load_split("qm9", "train")          # canonical SMILES
    values = moldiff.score(train[:100], "rings,qed")     # DataFrame, NaN for invalid molecules
    metrics = moldiff.evaluate(generated, reference="qm9", targets=moldiff.parse_targets("rings"))
    model = moldiff.load("path/to/model")               # a trained model directory or a shipped name
"""

__version__ = "0.1.0"

from .data import dataset_info, dataset_tokenizer, load_molecules, load_split
from .errors import MoldiffError
from .metrics import evaluate, metrics_table
from .oracles import ORACLES, get_oracle, register_oracle, score
from .targets import Target, load_target, parse_targets
from .tokenizers import SelfiesTokenizer, SmilesTokenizer, load_tokenizer


#: Imported lazily (they pull in torch): name -> module.
_LAZY = {"load": "modelfile", "frontier": "sweeps"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'moldiff' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ORACLES", "MoldiffError", "SelfiesTokenizer", "SmilesTokenizer", "Target", "__version__",
    "dataset_info", "dataset_tokenizer", "evaluate", "frontier", "get_oracle", "load", "load_molecules", "load_split",
    "load_target", "load_tokenizer", "metrics_table", "parse_targets", "register_oracle", "score",
]
