"""Chemistry: molecules, their files and data sets, tokenizers, oracles, targets and metrics.

Molecules in and out (:mod:`.molecules`, :mod:`.molfiles`), QM9 and user data sets (:mod:`.data`),
SMILES/SELFIES tokenizers (:mod:`.tokenizers`), RDKit property oracles (:mod:`.oracles`) and oracles
fitted to the user's data (:mod:`.fitted`), guidance targets (:mod:`.targets`), sample metrics and FCD
(:mod:`.metrics`, :mod:`.fcd`), the MOSES metric set (:mod:`.moses`), scaffold layouts and checks for
constrained generation (:mod:`.scaffolds`), molecule grids (:mod:`.drawing`). Tokens are numpy
arrays here: this layer does not import torch (FCD loads ``fcd_torch`` only when computed).

May import: :mod:`moldiff.core`.
"""
