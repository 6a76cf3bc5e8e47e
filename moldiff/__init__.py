"""moldiff: guided discrete diffusion for molecule design.

The foundation API::

    import moldiff
    train = moldiff.load_split("qm9", "train")          # canonical SMILES
    values = moldiff.score(train[:100], "rings,qed")     # DataFrame, NaN for invalid molecules
    metrics = moldiff.evaluate(generated, reference="qm9", targets=moldiff.parse_targets("rings"))
    model = moldiff.load("qm9-selfies-mdlm")             # a shipped name or a model directory
    result = model.sample(256, guidance="cfg", gamma=2, target="rings")

Every name is imported on first use, so ``import moldiff`` is instant and importing one layer
(``import moldiff.diffusion.samplers``) loads neither RDKit nor pandas. The layers and the
direction of their imports are described in ``CONTRIBUTING.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "MoldiffError": "moldiff.core.errors",
    "dataset_info": "moldiff.chemistry.data",
    "dataset_tokenizer": "moldiff.chemistry.data",
    "load_molecules": "moldiff.chemistry.data",
    "load_split": "moldiff.chemistry.data",
    "evaluate": "moldiff.chemistry.metrics",
    "metrics_table": "moldiff.chemistry.metrics",
    "ORACLES": "moldiff.chemistry.oracles",
    "get_oracle": "moldiff.chemistry.oracles",
    "register_oracle": "moldiff.chemistry.oracles",
    "score": "moldiff.chemistry.oracles",
    "Target": "moldiff.chemistry.targets",
    "load_target": "moldiff.chemistry.targets",
    "parse_targets": "moldiff.chemistry.targets",
    "SelfiesTokenizer": "moldiff.chemistry.tokenizers",
    "SmilesTokenizer": "moldiff.chemistry.tokenizers",
    "load_tokenizer": "moldiff.chemistry.tokenizers",
    "LoadedModel": "moldiff.pipeline.model",
    "load": "moldiff.pipeline.model",
    "SampleOptions": "moldiff.pipeline.options",
    "frontier": "moldiff.pipeline.frontier",
}


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'moldiff' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


__all__ = ["__version__", *_API]
